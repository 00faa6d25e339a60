"""`npgbench sweep`: a suite's grid of runs over joblib (loky on this machine, dask on a cluster).

One task = one run: `harness.runner.train` in a worker with one torch thread. The parent plans
the grid (every config resolved before anything starts), dispatches, draws one progress bar
and prints the summary. Resume is by identity: a run directory whose meta.json says complete
and whose files check out (harness/tracking/integrity.py) is skipped; a "complete" one that does not is
corrupt, moved aside to --out/.corrupt/ and redone; anything else continues from its
checkpoint or restarts. A run that raises is recorded (meta.json
holds the traceback) and the others go on.

Exit codes: 0 every run complete; 1 a run failed (a dead worker fails only its own run) or
is still running in another process; 2 bad input (nothing started); 130 interrupted by
SIGINT (Ctrl-C), 143 by SIGTERM (Slurm's scancel, a walltime limit): rerun the same command
to resume.

Planning and classifying the run directories are in harness/sweep/plan.py; running the jobs,
the progress lines and the summary in harness/sweep/execute.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from npgbench.harness.core.command import (
    HelpFormatter,
    OneLineParser,
    one_thread_per_process,
    plural,
    positive_int,
)

one_thread_per_process()  # before numpy or torch load (joblib#834)

from npgbench.harness.core.command import ENV_MODULE_HELP, WANDB_HELP  # noqa: E402
from npgbench.harness.core.config import WANDB_MODES, ConfigError, parse_override  # noqa: E402
from npgbench.harness.core.run_files import RunStatus  # noqa: E402
from npgbench.harness.sweep import staleness  # noqa: E402
from npgbench.harness.sweep.execute import (  # noqa: E402
    drive,
    record_suite,
    sigterm_as_interrupt,
    summary,
    wandb_args,
)
from npgbench.harness.sweep.jobs import dask_client, make_jobs  # noqa: E402
from npgbench.harness.sweep.plan import (  # noqa: E402
    check_sizes,
    drop_stale_checkpoints,
    pick_seeds,
    plan,
    print_plan,
    print_rounding,
)
from npgbench.harness.tracking.live import check_tensorboard  # noqa: E402


def _csv(text: str) -> list[str]:
    """'a,b' -> ['a', 'b']; an empty list ('', ',': an unset shell variable) is refused,
    never read as "all"."""
    values = [t.strip() for t in text.split(",") if t.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected one or more names like a,b, got {text!r}")
    return values


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
    _add_grid_arguments(p)
    _add_execution_arguments(p)
    return p


def _add_grid_arguments(p: argparse.ArgumentParser) -> None:
    """Which runs: the suite and the flags that narrow or extend its grid."""
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
    p.add_argument("--allow-env-module", action="store_true", help=ENV_MODULE_HELP)
    p.add_argument(
        "--rerun-stale",
        action="store_true",
        help="rerun complete runs made by other code (their variant's source or plugin version "
        "changed), moving the old directories to OUT/superseded/ (default: keep them)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field for every run, highest precedence (default: none)",
    )


def _add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """Where and how the runs execute, where they are written, and what is printed."""
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
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files into each run directory's tensorboard/ "
        "(needs pip install 'npg-bench[tensorboard]'; default: off)",
    )
    p.add_argument("--out", help="parent folder of the run directories (default results/SUITE)")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (0-based: 0 <= I < N) of the grid, e.g. one Slurm array task "
        "(default: the whole grid)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the grid and the work left")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no line per finished run, only the start and the summary "
        "(default: a bar on a terminal, one line per finished run)",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of `npgbench sweep` (harness.cli delegates the raw argv here)."""
    from npgbench.harness.core.command import os_error_line

    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # a reader that left: npgbench's main ends quietly
        raise
    except (OSError, UnicodeDecodeError) as exc:  # a name too long, a non-UTF-8 suite file
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    """Plan the grid and check it (bad input raises before anything is written), then run
    what is left unless --dry-run."""
    from npgbench.harness.sweep.grid import expand
    from npgbench.harness.sweep.shard import parse_shard, shard_tasks
    from npgbench.harness.sweep.suite_checks import load_checked_suite
    from npgbench.harness.tracking.run_dir import check_output_dir

    args = build_parser().parse_args(argv)
    shard = parse_shard(args.shard) if args.shard is not None else None  # '' is refused
    backend = args.backend or ("dask" if args.scheduler else "loky")
    if args.scheduler and backend != "dask":
        raise ConfigError("--scheduler needs --backend dask")
    args.slurm = check_cluster_options(backend, args.slurm)
    if args.allow_env_module:
        from npgbench.harness.core.envs import allow_env_modules

        allow_env_modules()
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
    checks = staleness.code_checks(tasks, statuses, out)
    statuses = staleness.mark(tasks, statuses, checks)
    done = (RunStatus.COMPLETE,) if args.rerun_stale else (RunStatus.COMPLETE, RunStatus.STALE)
    if args.dry_run:
        print_plan(suite, tasks, statuses, out, done)
        staleness.print_notes(tasks, checks, args.rerun_stale, True, sys.stdout)
        print_rounding(tasks)  # the note a real sweep prints, so the plan shows it too
        return 0
    todo = [t for t, s in zip(tasks, statuses, strict=True) if s not in done]
    if todo:
        check_output_dir(out)
    if args.tensorboard:
        check_tensorboard()
    drop_stale_checkpoints(tasks, statuses, out)
    print_rounding(tasks)  # after every check: an error is the only line of a refused command
    staleness.print_notes(tasks, checks, args.rerun_stale, args.rerun_stale, sys.stderr)
    for task, status in zip(tasks, statuses, strict=True):
        if status == RunStatus.STALE and args.rerun_stale:
            staleness.move_aside(out / task.run_id)  # kept under out/superseded/
    return _run(args, backend, suite, overrides, todo, len(tasks) - len(todo), out)


def check_cluster_options(backend: str, slurm: list[str]) -> dict:
    """--slurm KEY=VALUE pairs as a dict, checked before anything is printed or written:
    they need --backend submitit, which needs submitit installed."""
    pairs = dict(parse_override(p) for p in slurm)
    if pairs and backend != "submitit":
        raise ConfigError(f"--slurm needs --backend submitit (the backend is {backend})")
    if backend == "submitit":
        from npgbench.harness.sweep.submit import check_slurm_keys

        check_slurm_keys(pairs)
    return pairs


def _run(args, backend: str, suite, overrides: dict, todo, skipped: int, out: Path) -> int:
    """Start the executor, run the `todo` tasks and print the summary; the exit code."""
    wandb = wandb_args(suite, overrides, args.wandb)
    client, cluster = (
        dask_client(args.scheduler, args.jobs) if backend == "dask" and todo else (None, None)
    )
    where = (
        plural(args.jobs, "worker") if client is None or cluster else f"cluster {args.scheduler}"
    )
    print(
        f"sweep {suite.name}: {len(todo) + skipped} runs, {skipped} already complete, "
        f"{len(todo)} to run on {backend} ({where}) -> {out}  [W&B {wandb['mode']}]",
        flush=True,
    )
    suite_sha = record_suite(suite, out)
    jobs = make_jobs(suite, todo, out, wandb, suite_sha, args.tensorboard)
    start = time.time()
    try:
        with sigterm_as_interrupt():
            results = drive(jobs, backend, args.jobs, args.slurm, args.quiet)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if isinstance(results, int):
        return results
    return summary(suite, results, skipped, len(todo), time.time() - start)


if __name__ == "__main__":
    sys.exit(main())
