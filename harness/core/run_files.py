"""The run directory's files, for every layer that reads or writes them: atomic writes that
never follow a planted symlink, tolerant reads, and the check of a run that says "complete".

A run directory (harness/tracking/run_dir.py writes it) holds config.json, meta.json (written last,
`status: complete` once metrics.parquet and policy.pt are in), metrics.parquet and policy.pt,
and, while it trains, progress.json (PROGRESS).
meta.json's status can still be wrong: a file damaged or replaced afterwards, or a run completed
by one writer while another (before the run lock existed) kept rewriting metrics.parquet with a
shorter prefix. So every reader of "complete" (the runner, the sweep's plan, `dataset add`, the
report) asks `complete_problem`, which checks that

- meta.json and config.json are JSON objects that name the same run,
- metrics.parquet is a readable parquet file with one row per iteration, iterations
  0 .. n-1 where n = ceil(total_steps / sampler.steps_per_update) of config.json,
- policy.pt is a regular file that is a zip archive (torch.save's format); the report, which
  never reads it, skips this one.

Standard library, numpy and pandas only: analysis reads run directories through this module
without importing the orchestration layer.
"""

from __future__ import annotations

import enum
import errno
import io
import json
import math
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    """Write data to path so that a reader never sees a partial file.

    sync: fsync before the rename, so the file survives a crash of the machine (not needed
    for a file that is rewritten every second and only read while the run lives). The temporary file is created with mode 0o666 minus the umask, as open() would (mkstemp's
    0o600 would keep collaborators on a shared cluster filesystem from reading results), and
    with O_EXCL | O_NOFOLLOW, so a planted file or symlink is never written through.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusively created `.<name>.<random>.tmp` beside path: (fd, its path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:  # 48 random bits collided: draw again
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def safe_subdir(path: Path) -> Path:
    """mkdir path (and parents) and return it; OSError (ELOOP) when path is a symlink, which
    a writer below --out / --into / a report folder must not follow."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise OSError(errno.ELOOP, "a symlink, not followed", str(path))
    return path


def current_umask() -> int:
    """The process umask, read without changing it where the kernel reports it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(
        path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
    )


def read_json(path: Path) -> dict | None:
    """The parsed JSON object, or None when it is missing, corrupt or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):  # ValueError: bad JSON, and bytes that are not UTF-8
        return None
    return value if isinstance(value, dict) else None


class RunStatus(enum.StrEnum):
    """Where one run stands, from the sweep's plan to its summary and the report.

    A StrEnum: a member is its value (`RunStatus.COMPLETE == "complete"`, the same hash), so
    meta.json holds the same strings as before and compares, counts and formats as plain text.
    The first three are what meta.json records; the others are what a reader concludes.
    """

    RUNNING = "running"
    """meta.json: a writer started the run and has not finished it (or was killed)."""
    COMPLETE = "complete"
    """meta.json: metrics.parquet and policy.pt are in (whether they check out: CORRUPT)."""
    FAILED = "failed"
    """meta.json: the run raised or its worker died; meta.json holds the error."""
    NEW = "new"
    """Sweep plan: no run directory (or no meta.json) yet."""
    CORRUPT = "corrupt"
    """Says complete but fails `complete_problem`: moved aside and redone."""
    STALE = "stale"
    """Complete, but made by other code than the installed one (harness/sweep/staleness.py)."""
    BUSY = "busy"
    """Sweep result: another live process holds the run's lock; not touched."""
    INCOMPLETE = "incomplete"
    """Report: running with no writer left, or still running (analysis/data/load.py)."""


RECORDED = (RunStatus.RUNNING, RunStatus.COMPLETE, RunStatus.FAILED)
"""The statuses meta.json holds."""


def run_status(run_dir: Path) -> RunStatus | None:
    """meta.json's status (RUNNING also when interrupted), or None when there is no run here
    or its meta.json names no status this code knows."""
    status = (read_json(Path(run_dir) / "meta.json") or {}).get("status")
    try:
        return RunStatus(status) if isinstance(status, str) else None
    except ValueError:
        return None


PROGRESS = "progress.json"
"""File of a run directory while it trains: `{"step": env steps done, "total_steps": budget}`,
rewritten after every update and removed when the run finishes. The sweep's progress bar
reads it (from its parent process: no other channel reaches a loky, dask or submitit worker);
nothing else does, and `complete_problem` and `npgbench dataset add` ignore it."""


def write_progress(run_dir: Path, step: int, total_steps: int) -> None:
    """Rewrite run_dir/progress.json atomically (no fsync: it only matters while the run
    lives). A failed write is ignored: progress is for watching, the run is the record."""
    data = json.dumps({"step": int(step), "total_steps": int(total_steps)}).encode()
    try:
        atomic_write_bytes(Path(run_dir) / PROGRESS, data, sync=False)
    except OSError:
        pass


def read_progress(run_dir: Path) -> int | None:
    """The env steps done that run_dir/progress.json says, or None when it is missing,
    unreadable or not a count (a reader never fails on it)."""
    step = (read_json(Path(run_dir) / PROGRESS) or {}).get("step")
    if isinstance(step, int) and not isinstance(step, bool) and step >= 0:
        return step
    return None


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
    if meta is None or meta.get("status") != RunStatus.COMPLETE:
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

    Read through pandas, as analysis/data/load.py does: pyarrow.parquet.read_table in a process
    that imported torch first aborted at interpreter exit now and then ("terminate called
    without an active exception", pyarrow 26, torch 2.13).
    """
    import pandas as pd

    if path.is_symlink() or not path.is_file():
        raise FileNotFoundError(path)
    frame = pd.read_parquet(io.BytesIO(path.read_bytes()), columns=["iteration"])
    return frame["iteration"].to_numpy()
