"""Execute a sweep's jobs as one future per run, so that a dead worker costs only its own run.

loky (one machine): a process pool with at most `n_jobs` runs in flight. A worker killed by
the OS (OOM killer, segfault, SIGKILL) breaks the whole pool, and loky fails every in-flight
future with the same TerminatedWorkerError without saying whose worker died, then kills the
other workers (joblib/externals/loky/process_executor.py, `terminate_broken`). So:

- one run in flight when the pool broke: that run killed its worker. It is recorded as
  failed, "worker died (signal N)", in its meta.json, and a fresh pool runs the rest;
- several in flight: each becomes a suspect and is run again alone (nothing else in flight),
  which either completes it or convicts it. A run is retried at most once this way, since a
  suspect running alone is either convicted or done.

Workers get a private TMPDIR (removed at the end), so whatever a killed worker leaves in its
temporary folder (W&B staging files, say) is cleaned up; the pool is loky's own executor, not
joblib.Parallel, so no joblib memmapping folder is created in /dev/shm.

submitit (harness/sweep/submit.py): one job per run, a Slurm job or, without Slurm, a local process.

dask: one `client.submit` per run on the client `sweep.jobs.dask_client` made. dask
reschedules a task whose worker died and gives up with KilledWorker (after the scheduler's
`allowed-failures`); that run is recorded as failed and the others are unaffected.

With `tick_s`, every executor also yields None whenever no run finished for that long, so
that the sweep's parent can look at the runs' progress (execute.py) between results.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from npgbench.harness.core.command import THREAD_VARIABLES
from npgbench.harness.sweep.jobs import Job, RunResult, record_worker_death, run_task

BROKEN_POOL_WAIT_S = 30
"""Seconds to wait for loky to fail the other in-flight futures of a broken pool."""


def execute(
    jobs: list[Job],
    backend: str,
    n_jobs: int,
    slurm: dict | None = None,
    tick_s: float | None = None,
) -> Iterator[RunResult | None]:
    """Yield each run's result as it finishes (unordered), on loky, the connected dask, or
    submitit (harness/sweep/submit.py; `slurm`: its executor parameters); with tick_s, also
    None after each tick_s seconds in which no run finished."""
    if backend == "dask":
        yield from _dask(jobs, tick_s)
    elif backend == "submitit":
        from npgbench.harness.sweep.submit import run_submitit

        yield from run_submitit(jobs, min(n_jobs, len(jobs)), slurm or {}, tick_s)
    else:
        yield from _loky(jobs, min(n_jobs, len(jobs)), tick_s)


def _loky(jobs: list[Job], n_jobs: int, tick_s: float | None) -> Iterator[RunResult | None]:
    from joblib.externals.loky.process_executor import BrokenProcessPool

    pending = collections.deque(jobs)
    suspects: collections.deque[Job] = collections.deque()
    with _scratch_dir() as scratch:
        pool, running = _new_pool(n_jobs, scratch), {}
        try:
            while pending or suspects or running:
                if suspects and not running:  # alone, so a death convicts exactly this run
                    job = suspects.popleft()
                    running[pool.submit(run_task, job)] = job
                while not suspects and pending and len(running) < n_jobs:
                    job = pending.popleft()
                    running[pool.submit(run_task, job)] = job
                done, _ = wait(running, timeout=tick_s, return_when=FIRST_COMPLETED)
                if not done:  # tick_s passed with every run still going
                    yield None
                    continue
                lost, error = [], None
                for future in done:
                    job = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool as exc:
                        lost.append(job)
                        error = exc
                if error is None:
                    continue
                # loky fails every in-flight future of the broken pool; collect the rest.
                rest, _ = wait(running, timeout=BROKEN_POOL_WAIT_S)
                for future in rest:
                    job = running.pop(future)
                    if future.exception() is None:
                        yield future.result()
                    else:
                        lost.append(job)
                lost += running.values()  # never answered: treat as in flight
                running.clear()
                _shutdown(pool)
                if len(lost) == 1:  # alone in flight (a suspect always is): convicted
                    yield record_worker_death(lost[0], _death_reason(error))
                else:
                    suspects.extend(lost)
                pool = _new_pool(n_jobs, scratch)
        finally:
            _shutdown(pool)


def _shutdown(pool) -> None:
    """Stop the pool's workers and free its semaphores in /dev/shm now, not at exit.

    A worker killed by a signal leaves its exit-lock semaphore referenced from the dead
    process object in multiprocessing's child list; active_children() reaps it and the
    garbage collector's finalizer then unlinks the semaphore.
    """
    import gc
    import multiprocessing

    pool.shutdown(wait=True, kill_workers=True)
    multiprocessing.active_children()
    gc.collect()


def _new_pool(n_jobs: int, scratch: Path):
    from joblib.externals.loky import ProcessPoolExecutor

    env = {"TMPDIR": str(scratch), "JOBLIB_TEMP_FOLDER": str(scratch)}
    env.update({k: "1" for k in THREAD_VARIABLES})
    return ProcessPoolExecutor(
        max_workers=n_jobs, env=env, initializer=watch_parent, initargs=(os.getpid(),)
    )


ORPHAN_GRACE_S = 2.0
"""Seconds between a worker's looks at its parent: a worker whose sweep was SIGKILLed exits
within this (its run stays resumable from its last checkpoint; the kernel frees its lock)."""


def watch_parent(parent: int) -> None:
    """In a loky worker: exit as soon as the sweep process `parent` is gone (re-parented),
    instead of training on, unseen, and keeping the resource trackers alive."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_GRACE_S)
        os._exit(1)  # no cleanup to wait for: the run is left as a kill would leave it

    threading.Thread(target=watch, name="npgbench-watch-parent", daemon=True).start()


SCRATCH_PREFIX = "npgbench-sweep-"
ALIVE = ".alive"
"""File in a sweep's scratch folder on which the sweep holds a flock while it lives."""


@contextlib.contextmanager
def _scratch_dir() -> Iterator[Path]:
    """A private temporary folder for the workers, removed with everything in it; first the
    folders of sweeps that died without removing theirs (clean_dead_scratch)."""
    clean_dead_scratch(Path(tempfile.gettempdir()))
    path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    alive = _hold(path / f"{ALIVE}.new")  # locked before a cleaner can see it as .alive
    if alive is not None:
        os.rename(path / f"{ALIVE}.new", path / ALIVE)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if alive is not None:
            alive.close()


def _hold(path: Path):
    """An open file with an exclusive flock (O_CLOEXEC: workers do not inherit it), or None."""
    try:
        import fcntl
    except ImportError:
        return None
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
    try:
        handle = os.fdopen(os.open(path, flags, 0o600), "r+b")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None
    return handle


def clean_dead_scratch(tmp: Path) -> list[Path]:
    """Remove the scratch folders of sweeps proven dead: ours (same owner), holding an
    .alive file whose flock can be taken (the kernel dropped it when the sweep died, however
    it died). A folder without .alive, another user's, or a live sweep's is left alone."""
    removed = []
    for folder in tmp.glob(f"{SCRATCH_PREFIX}*"):
        try:
            if folder.is_symlink() or folder.lstat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        if not (folder / ALIVE).is_file():
            continue
        probe = _hold(folder / ALIVE)
        if probe is None:  # held: that sweep is alive
            continue
        with probe:
            shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _death_reason(error: BaseException) -> str:
    """'worker died (signal 9, SIGKILL)' from loky's "exit codes of the workers are
    {SIGKILL(-9)}" (a negative exit code is the signal that ended the process)."""
    codes = [int(c) for c in re.findall(r"\((-?\d+)\)", str(error))]
    if not codes:
        return "worker died"
    code = codes[0]
    if code < 0:
        try:
            return f"worker died (signal {-code}, {signal.Signals(-code).name})"
        except ValueError:
            return f"worker died (signal {-code})"
    return f"worker died (exit code {code})"


def _dask(jobs: list[Job], tick_s: float | None) -> Iterator[RunResult | None]:
    from distributed import default_client
    from distributed.scheduler import KilledWorker

    client = default_client()
    futures = {client.submit(run_task, job, pure=False): job for job in jobs}
    try:
        for future in _dask_finished(list(futures), tick_s):
            if future is None:
                yield None
                continue
            job = futures.pop(future)
            try:
                result = future.result()
            except KilledWorker as exc:  # the task's worker died allowed-failures + 1 times
                first = (str(exc).splitlines() or [""])[0][:200]
                result = record_worker_death(job, f"worker died (KilledWorker: {first})")
            future.release()  # a result kept on a worker would be recomputed if it died
            yield result
    finally:
        client.cancel([f for f in futures if not f.done()])


def _dask_finished(futures: list, tick_s: float | None) -> Iterator:
    """Each future as it finishes; with tick_s, None after tick_s seconds without one."""
    from distributed import as_completed

    finished = as_completed(futures)
    if tick_s is None:
        yield from finished
        return
    while not finished.is_empty():
        deadline = time.monotonic() + tick_s
        while not finished.has_ready() and time.monotonic() < deadline:
            time.sleep(min(0.1, tick_s))
        yield from finished.next_batch(block=False) or [None]
