"""`npgbench sweep`: a suite's grid of runs over joblib (loky on this machine, dask on a cluster).

One task = one run: `harness.runner.train` in a worker with one torch thread. The parent plans
the grid (every config resolved before anything starts), dispatches, draws one progress bar
and prints the summary. Resume is by identity: a run directory whose meta.json says complete
is skipped, anything else restarts from scratch. A run that raises is recorded (meta.json
holds the traceback) and the others go on.

Exit codes: 0 every run complete; 1 a run failed or is still running in another process;
2 bad input (nothing started); 130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

# One BLAS/OpenMP thread per worker; must be set before numpy/torch load (joblib#834).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from harness.cli import WANDB_HELP, HelpFormatter, rounding_note, show_progress  # noqa: E402
from harness.config import WANDB_MODES, ConfigError, parse_override  # noqa: E402
from harness.dispatch import dask_client, execute, make_jobs  # noqa: E402


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, never a usage dump
        raise ConfigError(f"{self.prog}: {message}")


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


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
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
        type=_positive,
        help="the suite's first N seeds, extended past its list (default: all of them)",
    )
    p.add_argument("--steps", type=_positive, help="step budget per run (default: the suite's)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field for every run, highest precedence (default: none)",
    )
    p.add_argument(
        "--jobs",
        type=_positive,
        default=len(os.sched_getaffinity(0)),
        help="parallel workers (default: the number of usable cores, %(default)s here)",
    )
    p.add_argument(
        "--backend",
        choices=["loky", "dask"],
        default=None,
        help="loky (default) or dask (implied by --scheduler)",
    )
    p.add_argument(
        "--scheduler",
        help="dask scheduler address, e.g. tcp://host:8786 (default: none, run locally)",
    )
    p.add_argument("--wandb", choices=WANDB_MODES, default=None, help=WANDB_HELP)
    p.add_argument("--out", help="parent folder of the run directories (default results/SUITE)")
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


def plan(tasks, out: Path) -> list[str]:
    """Status of every task's run directory; refuses a directory holding another config.

    Compares every config field but the W&B settings (tracking, not identity) with what the
    folder's config.json says, so data computed under another config is never overwritten.
    """
    import json

    from harness.config import to_dict
    from harness.tracking import read_json, run_status

    statuses = []
    for task in tasks:
        run_dir = out / task.run_id
        found = read_json(run_dir / "config.json")
        expected = json.loads(json.dumps(to_dict(task.cfg)))
        expected.pop("wandb")
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
    from harness.grid import wandb_settings
    from harness.wandb_mirror import prepare_parent, project_name, resolve_mode

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
    from harness.grid import expand
    from suites import load_suite

    args = build_parser().parse_args(argv)
    backend = args.backend or ("dask" if args.scheduler else "loky")
    if args.scheduler and backend != "dask":
        raise ConfigError("--scheduler needs --backend dask")
    overrides = dict(parse_override(p) for p in args.set)
    suite = load_suite(args.suite)
    seeds = pick_seeds(suite.seeds, args.seeds, args.num_seeds)
    tasks = expand(suite, args.algos, args.envs, seeds, args.steps, overrides)
    print_rounding(tasks)
    out = Path(args.out) if args.out else Path("results") / suite.name
    statuses = plan(tasks, out)
    if args.dry_run:
        print_plan(suite, tasks, statuses, out)
        return 0
    todo = [t for t, s in zip(tasks, statuses, strict=True) if s != "complete"]
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
    start = time.time()
    try:
        results = _drive(make_jobs(suite, todo, out, wandb), todo, backend, args.jobs, args.quiet)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if results is None:
        return 130
    return _summary(suite, results, skipped, len(todo), time.time() - start)


def _drive(jobs, todo, backend: str, n_jobs: int, quiet: bool = False) -> list[dict] | None:
    """Run the jobs under one progress bar (a terminal only) and a line per finished run
    (unless quiet); None when interrupted (Ctrl-C)."""
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
    try:
        for res in execute(jobs, backend, n_jobs):
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
    except KeyboardInterrupt:
        bar.close()
        done = sum(r["status"] == "complete" for r in results)
        print(
            f"interrupted: {done} runs completed this time; rerun the same command to resume",
            file=sys.stderr,
        )
        return None
    except Exception as exc:  # a worker died (OOM, segfault: TerminatedWorkerError, KilledWorker)
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
