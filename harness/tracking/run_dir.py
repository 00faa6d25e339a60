"""The local run directory: the source of truth every other layer (W&B, analysis) reads.

    <out>/<run_id>/config.json      resolved config (+ run_id, config_hash)
    <out>/<run_id>/meta.json        status running|complete|failed, versions, host, git sha,
                                    wall time, error + traceback when failed
    <out>/<run_id>/metrics.parquet  one row per iteration
    <out>/<run_id>/policy.pt        final policy weights + observation-normaliser statistics
    <out>/<run_id>/progress.json    while it trains only: env steps done (the sweep's bar)
Every file is written atomically (temp file in the same folder, then os.replace).
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from npgbench.harness.core.metric_rows import unheld_columns
from npgbench.harness.core.run_files import (  # noqa: F401 (their home before core)
    PROGRESS,
    RECORDED,
    RunStatus,
    atomic_write_bytes,
    atomic_write_json,
    current_umask,
    read_json,
    run_status,
    safe_subdir,
    write_progress,
)

STATUSES = RECORDED
"""The statuses meta.json holds (harness/core/run_files.py: RunStatus)."""


def versions() -> dict[str, str]:
    import gymnasium
    import mujoco
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco.__version__,
        "numpy": numpy.__version__,
    }


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunDirectory:
    """Writer of one run directory. Rows accumulate in memory and the parquet is rewritten
    atomically every `flush_every` rows, so a killed run leaves a readable prefix."""

    def __init__(
        self, path: Path, config: dict, extra_meta: dict | None = None, flush_every: int = 1
    ):
        self.path = Path(path)
        self.rows: list[dict] = []
        self.flush_every = flush_every
        self.started = time.time()
        self.meta = {
            "status": RunStatus.RUNNING,
            "run_id": config["run_id"],
            "config_hash": config["config_hash"],
            "algo": config["algo"],
            "env": config["env"],
            "seed": config["seed"],
            "versions": versions(),
            "host": socket.gethostname(),
            "git_sha": git_sha(),
            "argv": sys.argv,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(extra_meta or {}),
        }
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "metrics.parquet").unlink(missing_ok=True)  # resume: rows from checkpoint.pt
        for tmp in self.path.glob(".*.tmp"):  # a killed writer's half-written file: the run's
            tmp.unlink(missing_ok=True)  # lock is ours now, so no live writer owns one
        (self.path / PROGRESS).unlink(missing_ok=True)  # a killed attempt's: not this one's
        atomic_write_json(self.path / "config.json", config)
        atomic_write_json(self.path / "meta.json", self.meta)

    def record_meta(self, **fields) -> None:
        """Add fields to meta.json now, so a run still in progress (or killed) says them."""
        self.meta.update(fields)
        atomic_write_json(self.path / "meta.json", self.meta)

    def log(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        """Rewrite metrics.parquet from the rows so far, without the columns of a condition
        no row met (metric_rows.unheld_columns: a run that never undid a value fit has no
        value_skipped column)."""
        if self.rows:
            frame = pd.DataFrame(self.rows)
            frame = frame.drop(columns=[c for c in unheld_columns(self.rows) if c in frame])
            atomic_write_bytes(self.path / "metrics.parquet", frame.to_parquet(index=False))

    def progress(self, step: int, total_steps: int) -> None:
        """progress.json: env steps done of total_steps (harness/core/run_files.py PROGRESS)."""
        write_progress(self.path, step, total_steps)

    def finish(self, status: RunStatus, **fields) -> None:
        """Flush metrics, drop progress.json, then mark the run complete or failed (meta.json
        is written last)."""
        self.flush()
        (self.path / PROGRESS).unlink(missing_ok=True)
        self.meta.update(
            status=status,
            wall_time_s=time.time() - self.started,
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **fields,
        )
        atomic_write_json(self.path / "meta.json", self.meta)


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """Raise ConfigError (one line) unless `path` is a writable directory or can be created
    as one. Writes nothing: it looks at the nearest ancestor that exists."""
    from npgbench.harness.core.config import ConfigError

    path = Path(path)
    found = path
    while not (found.exists() or found.is_symlink()) and found != found.parent:
        found = found.parent
    if not found.is_dir():
        where = "" if found == path else f"{found}, a folder above it, "
        raise ConfigError(f"{flag} {path}: {where}is a file, not a directory")
    if not os.access(found, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {found} is not writable (permission denied)")


def lock_run(run_dir: Path):
    """An exclusive, non-blocking flock on <run_dir>/.lock, or None when another live process
    holds it (the kernel releases a flock when its process dies, however it dies).

    Opened with O_NOFOLLOW and without O_TRUNC: a symlink planted at .lock raises OSError
    (ELOOP) instead of being followed, and no existing file is ever truncated. A run_dir that
    is a symlink or a file raises OSError too: nothing is written through it.
    """
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        what = "a symlink, not followed" if run_dir.is_symlink() else "not a directory"
        raise OSError(errno.ENOTDIR, f"run directory is {what}", str(run_dir))
    try:
        import fcntl
    except ImportError:  # no flock on this platform: rely on identity alone
        return open(os.devnull)
    run_dir.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    handle = os.fdopen(os.open(run_dir / ".lock", flags, 0o666), "r+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class RunBusy(Exception):
    """Another live process holds the run's lock (a second `npgbench run`, a sweep)."""


class LostRun(Exception):
    """The run's lock file is no longer the one this process locked (the directory was moved
    or its .lock replaced): the run belongs to someone else now, so nothing more is written."""


_held = threading.local()
"""run directory (absolute) -> the locked handle, per thread: holding_run is reentrant."""


@contextlib.contextmanager
def holding_run(run_dir: Path) -> Iterator[None]:
    """Hold run_dir's lock (lock_run) for the block; RunBusy when another process holds it.

    Reentrant within one thread: `npgbench run` and a sweep worker take the lock before they
    open the W&B mirror, and `train` takes it again (a second flock of the same file from
    one process would conflict with the first). OSError when the lock cannot be created.
    """
    key = os.path.abspath(run_dir)
    held = _held.__dict__.setdefault("locks", {})
    if key in held:
        yield
        return
    handle = lock_run(Path(run_dir))
    if handle is None:
        raise RunBusy(f"busy: {run_dir} is being trained by another process; not touched")
    held[key] = handle
    try:
        yield
    finally:
        held.pop(key).close()  # relock may have swapped the handle


def relock(run_dir: Path) -> None:
    """Inside holding_run(run_dir), after its directory was moved away: lock the new,
    empty run_dir in its place (RunBusy when another process was quicker)."""
    held = _held.__dict__["locks"]
    handle = lock_run(Path(run_dir))
    if handle is None:
        raise RunBusy(f"busy: {run_dir} is being trained by another process; not touched")
    held.pop(os.path.abspath(run_dir)).close()
    held[os.path.abspath(run_dir)] = handle


def owns_run(run_dir: Path) -> bool:
    """Whether this thread holds run_dir's lock and run_dir/.lock is still the locked file."""
    handle = _held.__dict__.get("locks", {}).get(os.path.abspath(run_dir))
    if handle is None:
        return False
    if handle.name == os.devnull:  # no flock on this platform (lock_run)
        return True
    try:
        now, mine = os.lstat(Path(run_dir) / ".lock"), os.fstat(handle.fileno())
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
