"""Whether a run directory that says "complete" is complete, and what happens when it is not.

meta.json's `status: complete` is written last, after metrics.parquet and policy.pt, by the
process that holds the run's lock; yet a file can still be damaged or replaced afterwards, and
runs written before the run lock existed could be completed by one writer while another kept
rewriting metrics.parquet with a shorter prefix. So every reader of "complete" (the runner, the
sweep's plan, `dataset add`, the report) asks `complete_problem`, which checks that

- meta.json and config.json are JSON objects that name the same run,
- metrics.parquet is a readable parquet file with one row per iteration, iterations
  0 .. n-1 where n = ceil(total_steps / sampler.steps_per_update) of config.json,
- policy.pt is a regular file that is a zip archive (torch.save's format); the report, which
  never reads it, skips this one.

A complete run that fails a check is "corrupt": the sweep and `npgbench run` move its directory
aside, whole, to <out>/.corrupt/<run_id>.<time>/ (never deleted) and train the run afresh.
Folders whose name starts with "." hold no runs of their parent (analysis and dataset skip them).
"""

from __future__ import annotations

import io
import math
import os
import time
import zipfile
from pathlib import Path

import numpy as np
from npgbench.harness.tracking import lock_run, read_json, relock, run_status

ASIDE = ".corrupt"
"""Folder of --out that holds run directories set aside as corrupt."""
SUPERSEDED = "superseded"
"""Folder of --out that holds the run directories `--rerun-stale` replaced (never deleted)."""


def set_aside(parts: tuple[str, ...]) -> bool:
    """Whether a path below --out (its parts) passes through a folder that holds no results
    to analyse or copy: ".*" (.corrupt, submitit's .submitit) or superseded/."""
    return any(n.startswith(".") or n == SUPERSEDED for n in parts)


def expected_iterations(config: dict) -> int | None:
    """ceil(total_steps / sampler.steps_per_update), or None when config.json lacks either
    (hand-made directories); ValueError when they are there but not positive integers."""
    sampler = config.get("sampler")
    total = config.get("total_steps")
    per = sampler.get("steps_per_update") if isinstance(sampler, dict) else None
    if total is None or per is None:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (total, per)):
        raise ValueError(f"total_steps {total!r} / steps_per_update {per!r} are not positive ints")
    return math.ceil(total / per)


def metrics_problem(iterations: np.ndarray, expected: int | None) -> str | None:
    """Why a complete run's `iteration` column (shape (rows,)) is not 0 .. expected-1."""
    rows = len(iterations)
    if expected is not None and rows != expected:
        return f"metrics.parquet has {rows} rows, its config has {expected} iterations"
    if not np.array_equal(np.sort(np.asarray(iterations, dtype=float)), np.arange(rows)):
        return "metrics.parquet's iteration column is not 0 .. rows-1"
    return None


def complete_problem(
    run_dir: Path, iterations: np.ndarray | None = None, policy: bool = True
) -> str | None:
    """None when run_dir is a complete run that checks out; else why it does not (one line).

    iterations: the metrics' `iteration` column when the caller has read it already (the
    report); otherwise metrics.parquet is read here. policy: check policy.pt too (the report,
    which never reads it, does not).
    """
    run_dir = Path(run_dir)
    meta, config = read_json(run_dir / "meta.json"), read_json(run_dir / "config.json")
    if meta is None or meta.get("status") != "complete":
        return "meta.json does not say complete"
    if config is None:
        return "config.json is missing or not a JSON object"
    if meta.get("run_id", config.get("run_id")) != config.get("run_id", meta.get("run_id")):
        return "meta.json and config.json name different runs"
    try:
        expected = expected_iterations(config)
    except ValueError as exc:
        return f"config.json: {exc}"
    if iterations is None:
        try:
            iterations = _read_iterations(run_dir / "metrics.parquet")
        except Exception as exc:  # pyarrow raises several types for damaged files
            return f"metrics.parquet unreadable ({type(exc).__name__})"
    problem = metrics_problem(iterations, expected)
    if problem:
        return problem
    weights = run_dir / "policy.pt"
    if policy and (
        weights.is_symlink() or not weights.is_file() or not zipfile.is_zipfile(weights)
    ):
        return "policy.pt is missing or not a torch.save file"
    return None


def _read_iterations(path: Path) -> np.ndarray:
    """The `iteration` column of a metrics.parquet (shape (rows,)); raises when unreadable.

    Read through pandas, as analysis/load.py does: pyarrow.parquet.read_table in a process
    that imported torch first aborted at interpreter exit now and then ("terminate called
    without an active exception", pyarrow 26, torch 2.13).
    """
    import pandas as pd

    if path.is_symlink() or not path.is_file():
        raise FileNotFoundError(path)
    frame = pd.read_parquet(io.BytesIO(path.read_bytes()), columns=["iteration"])
    return frame["iteration"].to_numpy()


def verified_status(run_dir: Path) -> str | None:
    """run_status, with "corrupt" for a complete run that fails complete_problem."""
    status = run_status(run_dir)
    if status == "complete" and complete_problem(run_dir):
        return "corrupt"
    return status


def move_aside(run_dir: Path) -> Path:
    """Rename run_dir to <parent>/.corrupt/<name>.<time>[.<n>]/ and return that path.

    The caller holds run_dir's lock (its .lock moves along, so the caller then locks the
    fresh directory: tracking.relock).
    """
    run_dir = Path(run_dir)
    folder = run_dir.parent / ASIDE
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        target = folder / (f"{run_dir.name}.{stamp}" + (f".{n}" if n else ""))
        if not os.path.lexists(target):
            os.rename(run_dir, target)
            return target
    raise FileExistsError(f"no free name for {run_dir.name} in {folder}")


def drop_stale_checkpoint(run_dir: Path) -> None:
    """Delete a checkpoint.pt left beside a verified complete run (versions before the run
    lock deleted it after writing complete), under the run's lock; a run another process
    holds, or one that cannot be locked, is left alone."""
    from npgbench.harness.checkpoint import FILENAME, discard

    stale = Path(run_dir) / FILENAME
    if not os.path.lexists(stale):
        return
    try:
        lock = lock_run(Path(run_dir))
    except OSError:
        return
    if lock is not None:
        with lock:
            if verified_status(run_dir) == "complete":
                discard(stale)


def settle(run_dir: Path) -> dict | None:
    """What `train` does first, holding the run's lock: None for a verified complete run (a
    checkpoint left beside it is deleted); else the meta.json extras of a new attempt, after
    moving a corrupt "complete" directory aside and locking its fresh replacement."""
    from npgbench.harness import checkpoint

    if run_status(run_dir) != "complete":
        return {}
    problem = complete_problem(run_dir)
    if problem is None:
        checkpoint.discard(Path(run_dir) / checkpoint.FILENAME)
        return None
    aside = move_aside(run_dir)
    relock(run_dir)
    return {"replaced_corrupt_run": f"{aside} ({problem})"}
