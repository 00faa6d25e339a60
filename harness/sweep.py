"""`npgbench sweep`: a suite's grid of runs over joblib (loky on this machine, dask on a cluster).

One task = one run: `harness.runner.train` in a worker with one torch thread. The parent plans
the grid (every config resolved before anything starts), dispatches, draws one progress bar
and prints the summary. Resume is by identity: a run directory whose meta.json says complete
is skipped, anything else restarts from scratch. A run that raises is recorded (meta.json
holds the traceback) and the others go on.

Exit codes: 0 every run complete; 1 a run failed (a dead worker fails only its own run) or
is still running in another process; 2 bad input (nothing started); 130 interrupted by
SIGINT (Ctrl-C), 143 by SIGTERM (Slurm's scancel, a walltime limit): rerun the same command
to resume.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from npgbench.harness.core.command import (
    HelpFormatter,
    OneLineParser,
    one_thread_per_process,
    positive_int,
)

one_thread_per_process()  # before numpy or torch load (joblib#834)

from npgbench.harness.cli import (  # noqa: E402
    WANDB_HELP,
    rounding_note,
    show_progress,
)
from npgbench.harness.core.config import WANDB_MODES, ConfigError, parse_override  # noqa: E402
from npgbench.harness.dispatch import dask_client, make_jobs  # noqa: E402
from npgbench.harness.pool import execute  # noqa: E402


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _int_csv(text: str) -> list[int]:
    try:
        values = [int(t) for t in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0,1,2, got {text!r}") from None
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct integers >= 0, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="npgbench sweep",
        description="Run a suite's grid of runs, resumably.",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--suite", required=True, help="shipped suite name (npgbench list) or .toml path"
    )
    p.add_argument(
        "--algos",
        type=_csv,
        help="only these algorithms / variant labels, a,b (default: all of the suite's)",
    )
    p.add_argument(
        "--envs", type=_csv, help="only these envs of the suite, e1,e2 (default: all of them)"
    )
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=_int_csv, help="explicit seeds, e.g. 0,1,2 (default: the suite's)"
    )
    seeds.add_argument(
        "--num-seeds",
        type=positive_int,
        help="the suite's first N seeds, extended past its list (default: all of them)",
    )
    p.add_argument("--steps", type=positive_int, help="step budget per run (default: the suite's)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field for every run, highest precedence (default: none)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=len(os.sched_getaffinity(0)),
        help="parallel workers (default: the number of usable cores, %(default)s here)",
    )
    p.add_argument(
        "--backend",
        choices=["loky", "dask", "submitit"],
        default=None,
        help="loky (default), dask (implied by --scheduler) or submitit (Slurm jobs)",
    )
    p.add_argument(
        "--slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="submitit Slurm parameter, e.g. partition=cpu, time=480 (--backend submitit; "
        "default: none)",
    )
    p.add_argument(
        "--scheduler",
        help="dask scheduler address, e.g. tcp://host:8786 (default: none, run locally)",
    )
    p.add_argument("--wandb", choices=WANDB_MODES, default=None, help=WANDB_HELP)
    p.add_argument("--out", help="parent folder of the run directories (default results/SUITE)")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (0 <= I < N) of the grid, e.g. one Slurm array task "
        "(default: the whole grid)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the grid and the work left")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no line per finished run, only the start and the summary "
        "(default: a bar on a terminal, one line per finished run)",
    )
    return p


def pick_seeds(suite_seeds, seeds: list[int] | None, num: int | None) -> list[int]:
    """--seeds as given; --num-seeds N: the suite's first N, extended with the next integers."""
    if seeds:
        return seeds
    chosen = list(suite_seeds)
    if num is None:
        return chosen
    chosen = chosen[:num]
    nxt = max(suite_seeds) + 1
    while len(chosen) < num:
        chosen.append(nxt)
        nxt += 1
    return chosen


def check_sizes(tasks) -> None:
    """Checks that need the env's dimensions (fidelity's policy size), before anything runs."""
    from npgbench.harness.core.config_checks import check_policy_size
    from npgbench.harness.core.envs import check_env_spaces

    for task in tasks:
        try:
            check_policy_size(task.cfg, *check_env_spaces(task.env))
        except ConfigError as exc:
            raise ConfigError(f"{task.label} on {task.env}: {exc}") from None


def plan(tasks, out: Path) -> list[str]:
    """Status of every task's run directory; refuses a directory holding another config.

    Compares the experiment's fields (config.experiment_fields: not W&B or checkpoint
    settings, not options at their neutral value) with the folder's config.json, so data
    computed under another config is never overwritten, and runs recorded before an option
    existed are still recognised as the same run.
    """
    from npgbench.harness.core.config import experiment_fields, to_dict
    from npgbench.harness.tracking import read_json, run_status

    statuses = []
    for task in tasks:
        run_dir = out / task.run_id
        found = read_json(run_dir / "config.json")
        expected = experiment_fields(to_dict(task.cfg))
        if found is not None:
            found = experiment_fields(found)
        if found is not None and any(found.get(k) != v for k, v in expected.items()):
            raise ConfigError(
                f"{run_dir} holds a different config under the same run id; "
                "refusing to overwrite it (move it away or use another --out)"
            )
        statuses.append(run_status(run_dir) or "new")
    return statuses


def print_rounding(tasks) -> None:
    """One stderr line per distinct budget that the runs round up to whole updates."""
    budgets = Counter((t.cfg.total_steps, t.cfg.sampler.steps_per_update) for t in tasks)
    for (requested, per_update), runs in sorted(budgets.items()):
        note = rounding_note(requested, per_update)
        if note:
            print(f"{note}, {runs} run{'s' * (runs != 1)}", file=sys.stderr)


def print_plan(suite, tasks, statuses, out: Path) -> None:
    width = max(len(t.label) for t in tasks)
    env_w = max(len(t.env) for t in tasks)
    print(f"suite {suite.name} ({suite.path}) -> {out}")
    for task, status in zip(tasks, statuses, strict=True):
        print(
            f"  {status:<8}  {task.label:<{width}}  {task.env:<{env_w}}  s{task.seed:<3} "
            f"{task.env_steps:>9,d} steps  {task.run_id}"
        )
    counts = Counter(statuses)
    todo = [t for t, s in zip(tasks, statuses, strict=True) if s != "complete"]
    print(
        f"{len(tasks)} runs: complete {counts['complete']}, failed {counts['failed']}, "
        f"incomplete {counts['running']}, new {counts['new']}; work left: {len(todo)} runs, "
        f"{sum(t.env_steps for t in todo):,d} env steps"
    )


def _wandb_args(suite, overrides: dict, flag: str | None) -> dict:
    from npgbench.harness.grid import wandb_settings
    from npgbench.harness.wandb_mirror import prepare_parent, project_name, resolve_mode

    settings = wandb_settings(suite, overrides)
    mode = resolve_mode(flag or settings.mode)
    project = project_name(settings.project, "wandb.project" in {**suite.overrides, **overrides})
    prepare_parent(mode)
    return {"mode": mode, "project": project, "group": settings.group}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `npgbench sweep` (harness.cli delegates the raw argv here)."""
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    from npgbench.harness.grid import expand
    from npgbench.harness.shard import parse_shard, shard_tasks
    from npgbench.harness.suite_checks import load_checked_suite
    from npgbench.harness.tracking import check_output_dir

    args = build_parser().parse_args(argv)
    shard = parse_shard(args.shard) if args.shard else None
    backend = args.backend or ("dask" if args.scheduler else "loky")
    if args.scheduler and backend != "dask":
        raise ConfigError("--scheduler needs --backend dask")
    overrides = dict(parse_override(p) for p in args.set)
    suite = load_checked_suite(args.suite)
    seeds = pick_seeds(suite.seeds, args.seeds, args.num_seeds)
    tasks = expand(suite, args.algos, args.envs, seeds, args.steps, overrides)
    if shard:
        tasks = shard_tasks(tasks, *shard)
        if not tasks:
            print(f"shard {args.shard} of suite {suite.name} holds no runs")
            return 0
    check_sizes(tasks)
    out = Path(args.out) if args.out else Path("results") / suite.name
    statuses = plan(tasks, out)
    if args.dry_run:
        print_plan(suite, tasks, statuses, out)
        return 0
    todo = [t for t, s in zip(tasks, statuses, strict=True) if s != "complete"]
    if todo:
        check_output_dir(out)
    print_rounding(tasks)  # after every check: an error is the only line of a refused command
    skipped = len(tasks) - len(todo)
    wandb = _wandb_args(suite, overrides, args.wandb)
    client, cluster = (
        dask_client(args.scheduler, args.jobs) if backend == "dask" and todo else (None, None)
    )
    where = f"{args.jobs} workers" if client is None or cluster else f"cluster {args.scheduler}"
    print(
        f"sweep {suite.name}: {len(tasks)} runs, {skipped} already complete, {len(todo)} to run "
        f"on {backend} ({where}) -> {out}  [W&B {wandb['mode']}]",
        flush=True,
    )
    jobs = make_jobs(suite, todo, out, wandb)
    suite_sha = record_suite(suite, out)
    for job in jobs:
        job["meta"]["suite_sha256"] = suite_sha
    start = time.time()
    try:
        with _sigterm_as_interrupt():
            slurm = dict(parse_override(p) for p in args.slurm)
            results = _drive(jobs, todo, backend, args.jobs, slurm, args.quiet)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if isinstance(results, int):
        return results
    return _summary(suite, results, skipped, len(todo), time.time() - start)


def record_suite(suite, out: Path) -> str:
    """Copy the suite file beside its runs so a report of `out` keeps its score ranges,
    thresholds and references (issue 11): out/suite.toml, or suite-<sha>.toml when another
    suite's copy is already there. Returns the file's sha256 (each run's meta.json has it)."""
    import hashlib

    from npgbench.harness.tracking import atomic_write_bytes

    data = Path(suite.path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    copy = out / "suite.toml"
    if copy.is_file() and copy.read_bytes() != data:
        copy = out / f"suite-{sha[:12]}.toml"
    if not copy.is_file():
        atomic_write_bytes(copy, data)
    return sha


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds exactly like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Handle SIGTERM like SIGINT while the runs execute (main thread only)."""

    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drive(
    jobs, todo, backend: str, n_jobs: int, slurm: dict, quiet: bool = False
) -> list[dict] | int:
    """Run the jobs under one progress bar (a terminal only) and a line per finished run
    (unless quiet); the exit code (130, 143) when interrupted."""
    from tqdm import tqdm

    steps = {t.run_id: t.env_steps for t in todo}
    results: list[dict] = []
    if not jobs:
        return results
    bar = tqdm(
        total=sum(steps.values()),
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        mininterval=1.0,
        desc=f"runs 0/{len(jobs)}",
        file=sys.stderr,
        disable=not show_progress(quiet),
    )
    running = execute(jobs, backend, n_jobs, slurm=slurm)
    try:
        for res in running:
            results.append(res)
            bar.update(steps[res["run_id"]])
            failed = sum(r["status"] != "complete" for r in results)
            bar.set_description(f"runs {len(results)}/{len(jobs)}", refresh=False)
            bar.set_postfix(failed=failed, refresh=True)
            tail = (
                f"return {res['final_return']:.1f}"
                if res["status"] == "complete"
                else res["error"] or res["status"]
            )
            if not quiet:
                tqdm.write(
                    f"{res['status']:<8} {res['label']} {res['env']} s{res['seed']} "
                    f"{res.get('wall_s', 0):.0f}s  {tail}",
                    file=sys.stderr,
                )
    except KeyboardInterrupt as exc:
        running.close()  # kills the workers of runs in flight (they stay resumable)
        bar.close()
        done = sum(r["status"] == "complete" for r in results)
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(
            f"{what}: {done} runs completed this time; rerun the same command to resume",
            file=sys.stderr,
        )
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    except Exception as exc:  # the executor itself failed (dask scheduler lost, say)
        running.close()
        bar.close()
        done = sum(r["status"] == "complete" for r in results)
        first = (str(exc).splitlines() or [""])[0][:200]
        print(
            f"a worker died ({type(exc).__name__}: {first}); {done} runs completed this time, "
            "runs in flight are incomplete: rerun the same command to resume",
            file=sys.stderr,
        )
        return results  # fewer complete than planned: the summary exits 1
    bar.close()
    return results


def _summary(suite, results: list[dict], skipped: int, todo: int, wall: float) -> int:
    counts = Counter(r["status"] for r in results)
    print(
        f"sweep {suite.name} done in {wall / 60:.1f} min: complete {counts['complete']}, "
        f"failed {counts['failed']}, skipped {skipped} (already complete)"
        + (f", busy {counts['busy']} (running in another process)" if counts["busy"] else "")
    )
    for r in sorted(results, key=lambda r: r["run_id"]):
        if r["status"] != "complete":
            print(
                f"  {r['status']}: {r['label']} {r['env']} s{r['seed']}: {r['error']}  "
                f"(see {r['run_dir']}/meta.json)"
            )
    return 0 if counts["complete"] == todo else 1


if __name__ == "__main__":
    sys.exit(main())
