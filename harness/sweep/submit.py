"""`npgbench sweep --backend submitit`: one submitit job per run, on Slurm or locally.

submitit's AutoExecutor submits to Slurm when `sbatch` is on the PATH and otherwise runs each
job as a local process (its LocalExecutor). At most `--jobs` jobs are queued or running at
once. Every job is one `sweep.jobs.run_task`, wrapped as a submitit Checkpointable: when
Slurm preempts the job or its walltime ends, submitit requeues the same call, which is safe
because a run directory is idempotent (a complete run is skipped, an incomplete one continues
from its checkpoint or, without one, starts again).
A job that dies (killed, out of memory) fails only its own run, recorded like a dead loky
worker. Job logs and pickles live in <out>/.submitit/, a folder only its owner can enter.

Slurm settings come from `--slurm KEY=VALUE` (submitit's `slurm_KEY` parameters), e.g.
`--slurm partition=cpu --slurm account=proj --slurm time=480 --slurm mem_gb=4`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

from npgbench.harness.core.config import ConfigError, closest
from npgbench.harness.sweep.jobs import Job, RunResult, record_worker_death, run_task

POLL_S = 0.5
"""Seconds between looks at the job states (submitit reads them from files and sacct)."""


def _checkpointable():
    import submitit

    class RunTask(submitit.helpers.Checkpointable):
        """run_task, resubmitted unchanged on preemption or timeout (the run is idempotent)."""

        def __call__(self, job: Job) -> RunResult:
            return run_task(job)

    return RunTask()


def require_submitit():
    """The submitit module, or ConfigError (one line, exit 2) when it is not installed."""
    try:
        import submitit
    except ImportError:
        raise ConfigError("--backend submitit needs submitit: pip install -e .[slurm]") from None
    return submitit


def check_slurm_keys(slurm: dict) -> None:
    """Refuse a --slurm key that submitit does not know (a typo such as partiton), on any
    machine, not only on Slurm: its sbatch options and its generic names (mem_gb, ...)."""
    executor = require_submitit().SlurmExecutor
    valid = set(executor._valid_parameters()) | set(executor._equivalence_dict())
    for key in slurm:
        if key not in valid:
            raise ConfigError(f"--slurm {key}: unknown Slurm parameter: {closest(key, valid)}")


def private_folder(path: Path) -> Path:
    """path as a folder only its owner can enter (mode 0700, not a symlink): the job pickles
    submitit writes there with the umask's mode are read back by the sweep, which must not
    unpickle anything another user could have put or replaced there."""
    import os

    from npgbench.harness.tracking.run_dir import safe_subdir

    safe_subdir(path)
    if path.stat().st_uid != os.getuid():
        raise ConfigError(f"{path} belongs to another user: remove it or use another --out")
    path.chmod(0o700)
    return path


def make_executor(folder: Path, slurm: dict):
    """A submitit AutoExecutor: 1 CPU and 1 task per job, plus the given slurm_* parameters."""
    submitit = require_submitit()
    executor = submitit.AutoExecutor(folder=folder)
    params = {"cpus_per_task": 1, "tasks_per_node": 1, "name": "npgbench"}
    if executor.cluster == "slurm":
        params.update({f"slurm_{k}": v for k, v in slurm.items()})
    elif slurm:
        print(
            f"note: no Slurm here (submitit runs the jobs on its {executor.cluster} executor): "
            f"--slurm {', '.join(slurm)} not applied",
            file=sys.stderr,
        )
    try:
        executor.update_parameters(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--slurm: {(str(exc).splitlines() or [''])[0]}") from None
    return executor


def run_submitit(
    jobs: list[Job], n_jobs: int, slurm: dict, tick_s: float | None = None
) -> Iterator[RunResult | None]:
    """Yield each run's result as its job ends, with at most n_jobs jobs submitted at once;
    with tick_s, also None after each tick_s seconds in which no job ended."""
    if not jobs:
        return
    executor = make_executor(private_folder(Path(jobs[0].out) / ".submitit"), slurm)
    task = _checkpointable()
    pending, running = list(jobs), {}
    last = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.pop(0)
                running[executor.submit(task, job)] = job
            finished = [j for j in running if j.done()]
            if not finished:
                time.sleep(POLL_S)
                if tick_s is not None and time.monotonic() - last >= tick_s:
                    last = time.monotonic()
                    yield None
                continue
            last = time.monotonic()
            for submitted in finished:
                job = running.pop(submitted)
                try:
                    yield submitted.result()
                except Exception as exc:  # UncompletedJobError: the job's process died
                    # submitit's state of a killed local job reads FINISHED: say its error
                    why = (str(exc).strip().splitlines() or [submitted.state])[0][:200]
                    reason = f"worker died (submitit job {submitted.job_id}: {why})"
                    yield record_worker_death(job, reason)
    finally:
        for submitted in running:
            submitted.cancel(check=False)
