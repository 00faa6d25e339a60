"""Executing a planned sweep and reporting it: the W&B settings and the suite copy its jobs
carry, SIGTERM handled like Ctrl-C, one progress bar in env steps (harness/sweep/progress.py)
with a line per finished run, and the closing summary with the exit code
(harness/sweep/command.py's docstring lists the codes).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections import Counter
from pathlib import Path

from npgbench.harness.core.command import one_thread_per_process

one_thread_per_process()  # before numpy or torch load (joblib#834)

from npgbench.harness.core.command import show_progress  # noqa: E402
from npgbench.harness.core.run_files import RunStatus  # noqa: E402
from npgbench.harness.sweep.jobs import Job, RunResult  # noqa: E402
from npgbench.harness.sweep.pool import execute  # noqa: E402
from npgbench.harness.sweep.progress import TICK_S, StepProgress  # noqa: E402


def wandb_args(suite, overrides: dict, flag: str | None) -> dict:
    """The W&B mode, project and group of every job (--wandb flag > suite > default)."""
    from npgbench.harness.sweep.grid import wandb_settings
    from npgbench.harness.tracking.wandb_mirror import prepare_parent, project_name, resolve_mode

    settings = wandb_settings(suite, overrides)
    mode = resolve_mode(flag or settings.mode)
    project = project_name(settings.project, "wandb.project" in {**suite.overrides, **overrides})
    prepare_parent(mode)
    return {"mode": mode, "project": project, "group": settings.group}


def record_suite(suite, out: Path) -> str:
    """Copy the suite file beside its runs so a report of `out` keeps its score ranges,
    thresholds and references: out/suite.toml, or suite-<sha>.toml when another
    suite's copy is already there. Returns the file's sha256 (each run's meta.json has it)."""
    from npgbench.harness.tracking.run_dir import atomic_write_bytes
    from npgbench.suites import content_sha256

    data = Path(suite.path).read_bytes()
    sha = content_sha256(data)
    copy = out / "suite.toml"
    if copy.is_file() and copy.read_bytes() != data:
        copy = out / f"suite-{sha[:12]}.toml"
    if not copy.is_file():
        atomic_write_bytes(copy, data)
    return sha


class SweepTerminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds exactly like Ctrl-C."""


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Handle SIGTERM like SIGINT while the runs execute (main thread only)."""

    def handler(signum, frame):
        raise SweepTerminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def drive(
    jobs: list[Job], backend: str, n_jobs: int, slurm: dict, quiet: bool = False, bar=None
) -> list[RunResult] | int:
    """Run the jobs under one progress bar in env steps (a terminal only, or the given `bar`:
    tqdm's update, set_description, set_postfix and close) and a line per finished run
    (unless quiet); the exit code (130, 143) when interrupted."""
    from tqdm import tqdm

    results: list[RunResult] = []
    if not jobs:
        return results
    bar = step_bar(jobs, quiet) if bar is None else bar
    steps = StepProgress(jobs, bar, n_jobs)
    # no bar drawn: no ticks, so no progress file is ever read
    tick = None if getattr(bar, "disable", False) else TICK_S
    running = execute(jobs, backend, n_jobs, slurm=slurm, tick_s=tick)
    try:
        for res in running:
            if res is None:  # a tick without a finished run: look at the running ones
                steps.poll()
                continue
            results.append(res)
            steps.finished(res.run_id)
            failed = sum(r.status != RunStatus.COMPLETE for r in results)
            bar.set_description(f"runs {len(results)}/{len(jobs)}", refresh=False)
            bar.set_postfix(failed=failed, refresh=True)
            if not quiet:
                tqdm.write(finished_line(res), file=sys.stderr)
    except KeyboardInterrupt as exc:
        running.close()  # kills the workers of runs in flight (they stay resumable)
        bar.close()
        return interrupted(exc, results)
    except Exception as exc:  # the executor itself failed (dask scheduler lost, say)
        running.close()
        bar.close()
        print(worker_died(exc, results), file=sys.stderr)
        return results  # fewer complete than planned: the summary exits 1
    bar.close()
    return results


def step_bar(jobs: list[Job], quiet: bool):
    """The sweep's tqdm bar: env steps of every job's budget (drawn on a terminal only)."""
    from tqdm import tqdm

    return tqdm(
        total=sum(j.env_steps for j in jobs),
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        mininterval=1.0,
        desc=f"runs 0/{len(jobs)}",
        file=sys.stderr,
        disable=not show_progress(quiet),
    )


def finished_line(res: RunResult) -> str:
    """The line printed when a run ends: status, label, env, seed, wall time, then the final
    return of a complete run or the error of any other."""
    tail = (
        f"return {res.final_return:.1f}"
        if res.status == RunStatus.COMPLETE
        else res.error or res.status
    )
    return f"{res.status:<8} {res.label} {res.env} s{res.seed} {res.wall_s:.0f}s  {tail}"


def interrupted(exc: KeyboardInterrupt, results: list[RunResult]) -> int:
    """Say how many runs completed before Ctrl-C or SIGTERM; 128 + the signal's number."""
    done = sum(r.status == RunStatus.COMPLETE for r in results)
    what = "terminated (SIGTERM)" if isinstance(exc, SweepTerminated) else "interrupted"
    print(
        f"{what}: {done} runs completed this time; rerun the same command to resume",
        file=sys.stderr,
    )
    return 128 + (signal.SIGTERM if isinstance(exc, SweepTerminated) else signal.SIGINT)


def worker_died(exc: Exception, results: list[RunResult]) -> str:
    """One line for an executor that failed: the first line of its error, no traceback."""
    done = sum(r.status == RunStatus.COMPLETE for r in results)
    first = (str(exc).splitlines() or [""])[0][:200]
    return (
        f"a worker died ({type(exc).__name__}: {first}); {done} runs completed this time, "
        "runs in flight are incomplete: rerun the same command to resume"
    )


def summary(suite, results: list[RunResult], skipped: int, todo: int, wall: float) -> int:
    """Counts by status, one line per run that did not complete; 0 when all `todo` did."""
    counts = Counter(r.status for r in results)
    busy = counts[RunStatus.BUSY]
    print(
        f"sweep {suite.name} done in {wall / 60:.1f} min: complete {counts[RunStatus.COMPLETE]}, "
        f"failed {counts[RunStatus.FAILED]}, skipped {skipped} (already complete)"
        + (f", busy {busy} (running in another process)" if busy else "")
    )
    for r in sorted(results, key=lambda r: r.run_id):
        if r.status != RunStatus.COMPLETE:
            print(
                f"  {r.status}: {r.label} {r.env} s{r.seed}: {r.error}  (see {r.run_dir}/meta.json)"
            )
    return 0 if counts[RunStatus.COMPLETE] == todo else 1
