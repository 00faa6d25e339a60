"""What a sweep's workers run: the worker task, its `Job` and `RunResult` and the dask client
(harness/sweep/pool.py submits the tasks and survives dead workers).

`run_task` is what a worker runs: one `harness.runner.train` call with its W&B mirror, under
a per-run flock so that two processes (an orphaned worker of a killed sweep, a dask retry of
a task whose worker died, a second sweep on the same --out) never train the same run at once.
It returns a `RunResult` and never raises for a failed run: meta.json already records the
traceback, and one bad run must not cancel the others.

`Job` and `RunResult` are frozen and picklable: they cross loky, dask and submitit process
boundaries. A changed copy is `dataclasses.replace(result, status=...)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

from npgbench.harness.core.config import ConfigError, RunConfig
from npgbench.harness.core.identity import run_id
from npgbench.harness.core.returns import run_final_return
from npgbench.harness.core.run_files import PROGRESS, RunStatus

DASK_TIMEOUT_S = 10
"""Seconds to wait for a --scheduler to answer before a one-line error (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One planned run, as the sweep hands it to a worker."""

    cfg: RunConfig
    """The run's resolved config."""
    out: str
    """--out: the folder that holds the run directories (a str: it pickles to any worker)."""
    run_id: str
    """The run id the sweep computed; a worker whose code computes another refuses the job."""
    label: str
    """The variant label, e.g. `trpo_lowdamp` or `npg_cg[update.kl_delta=0.02]`."""
    meta: dict[str, Any]
    """meta.json extras: suite, label, grid, aliases (when any), suite_sha256. Not to be
    changed: a frozen dataclass cannot freeze a dict."""
    wandb: dict[str, str]
    """The W&B mirror's mode, project and group (WandbMirror's keyword arguments)."""
    wandb_config: dict[str, Any]
    """The W&B run's config: the resolved config (its W&B settings as the sweep resolved them)
    plus suite, label, grid and aliases."""
    tensorboard: bool = False
    """Also write TensorBoard event files into the run directory's tensorboard/."""

    @property
    def run_dir(self) -> Path:
        """out/<run_id>/: where the worker writes the run."""
        return Path(self.out) / self.run_id

    @property
    def env_steps(self) -> int:
        """The run's step budget in whole updates, as the runner rounds it up."""
        per = self.cfg.sampler.steps_per_update
        return math.ceil(self.cfg.total_steps / per) * per


@dataclasses.dataclass(frozen=True)
class RunResult:
    """How one run of a sweep ended, as its worker (or the parent, for a dead worker) says."""

    run_id: str
    """The run's id (its directory's name)."""
    label: str
    """The variant label (Job.label)."""
    env: str
    """The environment id, e.g. Hopper-v5."""
    seed: int
    """The run's seed."""
    run_dir: str
    """The run directory, whose meta.json holds the record (and the traceback of a failure)."""
    status: RunStatus = RunStatus.FAILED
    """COMPLETE, FAILED, or BUSY (another live process holds the run's lock)."""
    error: str = ""
    """First line of the error of a failed run (at most 300 characters); "" otherwise."""
    final_return: float = math.nan
    """The run's final return (harness/core/returns.py) when it completed here; else NaN."""
    wall_s: float = 0.0
    """Seconds the worker held the run (lock, W&B, training); 0 when it did not train it."""

    @classmethod
    def of(cls, job: Job, **fields) -> RunResult:
        """The result of `job` with the given fields (the rest: a failure with no error)."""
        cfg = job.cfg
        return cls(job.run_id, job.label, cfg.env, cfg.seed, str(job.run_dir), **fields)


def run_task(job: Job) -> RunResult:
    """One run, executed in a worker. Never raises for a failed run: that is a result."""
    _thread_lock_for_tqdm()
    # Imported before the run's lock is taken: loading torch takes seconds, during which a
    # locked run directory would sit without its meta.json.
    from npgbench.harness.tracking.integrity import verified_status
    from npgbench.harness.tracking.run_dir import RunBusy, holding_run

    here = run_id(job.cfg)
    if here != job.run_id:  # e.g. a cluster worker with another version of the code
        return RunResult.of(
            job,
            error=f"this worker computes run id {here}, the sweep {job.run_id}: install the "
            "same npg-bench version on every worker",
        )
    start = time.time()
    held = contextlib.ExitStack()
    try:
        held.enter_context(holding_run(job.run_dir))
    except RunBusy:  # a live process (orphaned worker, second sweep, `npgbench run`)
        return RunResult.of(job, status=RunStatus.BUSY)
    except OSError as exc:  # a read-only or full --out: this run fails, the sweep goes on
        return RunResult.of(job, error=f"cannot lock {job.run_dir}: {exc.strerror or exc}")
    with held:  # releases the flock
        if verified_status(job.run_dir) == RunStatus.COMPLETE:  # finished elsewhere (dask retry)
            final = run_final_return(job.run_dir)
            return RunResult.of(job, status=RunStatus.COMPLETE, final_return=final)
        result = _train_mirrored(job, start)
    return dataclasses.replace(result, wall_s=time.time() - start)


def _train_mirrored(job: Job, start: float) -> RunResult:
    """train() with the run's W&B mirror (and TensorBoard files), holding the run's lock."""
    from npgbench.harness.runner import train
    from npgbench.harness.tracking.live import TensorBoardMirror, compose
    from npgbench.harness.tracking.wandb_mirror import WandbMirror

    result = RunResult.of(job)
    mirror = board = None
    try:
        mirror = WandbMirror(job.run_id, job.run_dir, job.wandb_config, **job.wandb)
        board = TensorBoardMirror(job.run_dir, job.cfg.algo) if job.tensorboard else None
        on_row = compose(mirror.on_row, board and board.on_row)
        try:
            done = train(job.cfg, Path(job.out), progress=False, on_row=on_row, extra_meta=job.meta)
            result = dataclasses.replace(
                result, status=RunStatus.COMPLETE, final_return=done.final_return
            )
        except Exception as exc:  # recorded in meta.json by train; the sweep goes on
            first = (f"{type(exc).__name__}: {exc}".splitlines() or [""])[0][:300]
            result = dataclasses.replace(result, error=first)
    finally:
        if board is not None:
            board.close()
        if mirror is not None:
            _finish_mirror(mirror, result, start)
    return result


def _finish_mirror(mirror, result: RunResult, start: float) -> None:
    """Close the run's W&B mirror with its outcome (exit code 1 unless complete) and the run's
    final return as train() computed it from the run directory's rows: a mirror that saw no
    rows (the run was completed by another process just before this one took its lock)
    would otherwise report NaN."""
    summary = {"status": result.status.value, "wall_time_s": time.time() - start}
    if math.isfinite(result.final_return):
        summary["final_return"] = result.final_return
    mirror.finish(summary, exit_code=0 if result.status == RunStatus.COMPLETE else 1)


def _thread_lock_for_tqdm() -> None:
    """Give tqdm a thread lock in this worker (its bars are off here anyway). tqdm's default
    write lock holds a multiprocessing semaphore, which a worker killed by a signal leaves
    behind for the resource tracker to report as leaked (tqdm.set_lock, tqdm/std.py)."""
    import threading

    from tqdm import tqdm

    if not isinstance(getattr(tqdm, "_lock", None), type(threading.RLock())):
        tqdm.set_lock(threading.RLock())


def dask_client(scheduler: str | None, jobs: int):
    """A client of the given scheduler (one-line error within the timeout) or a LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=f"{DASK_TIMEOUT_S}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"--scheduler {scheduler}: no dask scheduler answered within "
                f"{DASK_TIMEOUT_S} s ({type(exc).__name__})"
            ) from None
    cluster = LocalCluster(
        n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


def make_jobs(
    suite, tasks, out: Path, wandb: dict, suite_sha256: str = "", tensorboard: bool = False
) -> list[Job]:
    """One Job per task: config, identity, meta.json extras (suite_sha256: the sha256 of the
    suite copy beside the runs, execute.record_suite) and W&B settings."""
    from npgbench.harness.core.identity import config_record

    jobs = []
    for task in tasks:
        meta = {"suite": suite.name, "label": task.label, "grid": task.grid}
        if task.aliases:
            meta["aliases"] = task.aliases
        shown = dataclasses.replace(
            task.cfg.wandb, mode=wandb["mode"], project=wandb["project"], group=wandb["group"]
        )
        # the W&B config as before suite_sha256 joined meta.json
        config = {**config_record(dataclasses.replace(task.cfg, wandb=shown)), **meta}
        if suite_sha256:
            meta["suite_sha256"] = suite_sha256
        jobs.append(
            Job(
                cfg=task.cfg,
                out=str(out),
                run_id=task.run_id,
                label=task.label,
                meta=meta,
                wandb=wandb,  # name, group, job_type, tags: from the config's label
                wandb_config=config,
                tensorboard=tensorboard,
            )
        )
    return jobs


def record_worker_death(job: Job, reason: str) -> RunResult:
    """Mark the job's run failed with `reason` in its meta.json; the sweep's RunResult.

    Done under the run's flock (free once its worker is dead); a run whose lock is held by a
    live process is left alone and reported busy, and a run the worker finished before it
    died (it can die after writing COMPLETE, e.g. while W&B uploads) stays complete: marking
    it failed would make the next sweep discard its metrics and train it again.
    """
    from npgbench.harness.core.returns import run_final_return
    from npgbench.harness.tracking.integrity import verified_status
    from npgbench.harness.tracking.run_dir import atomic_write_json, lock_run, read_json

    cfg, run_dir = job.cfg, job.run_dir
    try:
        lock = lock_run(run_dir)
    except OSError as exc:
        return RunResult.of(job, error=f"{reason}; cannot lock {run_dir}: {exc.strerror or exc}")
    if lock is None:
        return RunResult.of(job, status=RunStatus.BUSY, error=reason)
    try:
        if verified_status(run_dir) == RunStatus.COMPLETE:
            final = run_final_return(run_dir)
            return RunResult.of(job, status=RunStatus.COMPLETE, final_return=final)
        identity = {"run_id": job.run_id, "algo": cfg.algo, "env": cfg.env, "seed": cfg.seed}
        meta = read_json(run_dir / "meta.json") or {**identity, **job.meta}
        meta.update(
            status=RunStatus.FAILED, error=reason, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        meta.setdefault("traceback", "")
        atomic_write_json(run_dir / "meta.json", meta)
        (run_dir / PROGRESS).unlink(missing_ok=True)  # the dead attempt's, no longer true
    finally:
        lock.close()
    return RunResult.of(job, error=reason)
