"""Whether a run directory that says "complete" is complete, and what happens when it is not.

Every reader of "complete" asks `complete_problem` (harness/core/run_files.py: the checks).
A complete run that fails a check is "corrupt": the sweep and `npgbench run` move its directory
aside, whole, to <out>/.corrupt/<run_id>.<time>/ (never deleted) and train the run afresh.
Folders whose name starts with "." hold no runs of their parent (analysis and dataset skip them).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from npgbench.harness.core.run_files import (  # noqa: F401 (read through this module too)
    ASIDE,
    SUPERSEDED,
    RunStatus,
    complete_problem,
    expected_iterations,
    metrics_problem,
    set_aside,
)
from npgbench.harness.tracking.run_dir import lock_run, relock, run_status


def verified_status(run_dir: Path) -> RunStatus | None:
    """run_status, with CORRUPT for a complete run that fails complete_problem."""
    status = run_status(run_dir)
    if status == RunStatus.COMPLETE and complete_problem(run_dir):
        return RunStatus.CORRUPT
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
    from npgbench.harness.tracking.checkpoint import FILENAME, discard

    stale = Path(run_dir) / FILENAME
    if not os.path.lexists(stale):
        return
    try:
        lock = lock_run(Path(run_dir))
    except OSError:
        return
    if lock is not None:
        with lock:
            if verified_status(run_dir) == RunStatus.COMPLETE:
                discard(stale)


def settle(run_dir: Path) -> dict | None:
    """What `train` does first, holding the run's lock: None for a verified complete run (a
    checkpoint left beside it is deleted); else the meta.json extras of a new attempt, after
    moving a corrupt "complete" directory aside and locking its fresh replacement."""
    from npgbench.harness.tracking import checkpoint

    if run_status(run_dir) != RunStatus.COMPLETE:
        return {}
    problem = complete_problem(run_dir)
    if problem is None:
        checkpoint.discard(Path(run_dir) / checkpoint.FILENAME)
        return None
    aside = move_aside(run_dir)
    relock(run_dir)
    return {"replaced_corrupt_run": f"{aside} ({problem})"}
