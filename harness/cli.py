"""`npgbench run | sweep | report | list | eval | bench | dataset`.

User errors (unknown names, malformed overrides, impossible hyperparameters) print one line
and exit 2 with nothing written; a failed run exits 1 with its traceback in meta.json, and so
does `run` of a run that another process (a second `run`, a sweep) is training: one "busy"
line, the run untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from npgbench.harness.core.command import (
    ENV_MODULE_HELP,
    WANDB_HELP,
    HelpFormatter,
    OneLineParser,
    one_thread_per_process,
    os_error_line,
    positive_int,
    rounding_note,
    show_progress,
)

one_thread_per_process()  # before numpy or torch load

from npgbench.harness.core.config import WANDB_MODES, ConfigError, parse_override  # noqa: E402
from npgbench.harness.core.identity import run_id  # noqa: E402
from npgbench.harness.core.run_files import RunStatus  # noqa: E402
from npgbench.harness.sweep.staleness import move_aside, say_stale  # noqa: E402
from npgbench.harness.tracking import live  # noqa: E402


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (torch's errors span several)."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


def overrides_from(pairs: list[str] | None) -> dict[str, str]:
    """`--set key=value` pairs -> dict (ConfigError on a malformed one)."""
    return dict(parse_override(p) for p in pairs or [])


def cmd_run(args) -> int:
    from npgbench.harness.core.config_checks import check_policy_size
    from npgbench.harness.core.envs import allow_env_modules, check_env_spaces
    from npgbench.harness.runner import resolve_config
    from npgbench.harness.tracking.integrity import drop_stale_checkpoint, verified_status
    from npgbench.harness.tracking.run_dir import RunBusy, check_output_dir, holding_run

    overrides = overrides_from(args.set)
    if args.wandb:
        overrides["wandb.mode"] = args.wandb
    if args.allow_env_module:
        allow_env_modules()
    cfg = resolve_config(args.algo, args.env, args.seed, args.steps, overrides)
    check_policy_size(cfg, *check_env_spaces(cfg.env))
    run_dir = Path(args.out) / run_id(cfg)
    status = verified_status(run_dir)
    stale = status == RunStatus.COMPLETE and say_stale(run_dir, cfg.algo, args.rerun_stale)
    if status == RunStatus.COMPLETE and not (stale and args.rerun_stale):
        drop_stale_checkpoint(run_dir)
        print(f"already complete, not overwritten: {run_dir}")
        return 0
    check_output_dir(Path(args.out))
    if args.tensorboard:
        from npgbench.harness.tracking.live import check_tensorboard

        check_tensorboard()
    note = rounding_note(cfg.total_steps, cfg.sampler.steps_per_update)
    if note:  # after every check: an error is the only line of a refused command
        print(note, file=sys.stderr)
    if stale:  # moved before the lock is taken: the lock file moves with the old directory
        print(f"old run kept in {move_aside(run_dir)}; running it again", file=sys.stderr)
    with contextlib.ExitStack() as held:
        try:  # before the W&B mirror opens; an OSError (run dir a file) is bad input, exit 2
            held.enter_context(holding_run(run_dir))
        except RunBusy as exc:  # another `run` or a sweep trains it: nothing was touched
            print(str(exc), file=sys.stderr)
            return 1
        try:
            return _run_locked(args, cfg, run_dir, status == RunStatus.CORRUPT)
        except OSError as exc:  # disk full, a file replaced by a folder: recorded, resumable
            print(f"run failed: {os_error_line(exc)} (see {run_dir}/meta.json)", file=sys.stderr)
            return 1


def _run_locked(args, cfg, run_dir: Path, corrupt: bool) -> int:
    """Train, holding the run's lock; the exit code (a corrupt run is moved to OUT/.corrupt/
    by train())."""
    from npgbench.harness.runner import train

    if corrupt:
        print(
            f"note: {run_dir} says complete but fails its checks: moved aside to "
            f"{Path(args.out) / '.corrupt'}/ and redone",
            file=sys.stderr,
        )
    mirror, status = _wandb_mirror(cfg, run_dir), RunStatus.FAILED
    watch = live.watchers(cfg, run_dir, show_progress(args.quiet), args.quiet, args.tensorboard)
    try:
        done = train(
            cfg,
            Path(args.out),
            progress=show_progress(args.quiet),
            on_row=live.compose(mirror and mirror.on_row, *(w.on_row for w in watch)),
        )
        status = RunStatus.COMPLETE
    except ConfigError as exc:  # raised inside the run: recorded in meta.json, so exit 1
        print(f"run failed: {one_line(exc)} (see {run_dir}/meta.json)", file=sys.stderr)
        return 1
    finally:
        if mirror is not None:
            mirror.finish({"status": status.value}, exit_code=int(status != RunStatus.COMPLETE))
        for watcher in watch:
            if hasattr(watcher, "close"):
                watcher.close()
    print(f"run directory: {done.run_dir}")
    return 0


def _wandb_mirror(cfg, run_dir: Path):
    """The W&B mirror of one run, or None when disabled or unavailable (never fatal)."""
    if cfg.wandb.mode == "disabled":
        return None
    try:
        from npgbench.harness.tracking.wandb_mirror import open_mirror
    except ImportError:
        return None
    return open_mirror(cfg, run_dir)


def cmd_eval(args) -> int:
    import numpy as np
    from npgbench.harness.core.evaluation import evaluate, load_policy
    from npgbench.harness.tracking import final_eval
    from npgbench.harness.tracking.run_dir import run_status

    if args.seed < 0:
        raise ConfigError("--seed must be a non-negative integer")
    run_dirs = [Path(d) for d in args.run_dir]
    for run_dir in run_dirs:  # every one checked before any is evaluated or written
        if run_status(run_dir) != RunStatus.COMPLETE or not (run_dir / "policy.pt").is_file():
            raise ConfigError(
                f"{run_dir} is not a complete run directory (no complete meta.json and policy.pt)"
            )
    episodes = args.episodes or (final_eval.EPISODES if args.write else 10)
    for run_dir in run_dirs:
        try:
            if args.write:
                done = final_eval.final_eval(run_dir, episodes, args.seed)
                mean, std, note = done.mean, done.std, " (kept)" if done.reused else ""
            else:
                policy, norm, cfg = load_policy(run_dir)
                returns = evaluate(
                    policy, norm, cfg["env"], episodes, args.seed, cfg.get("max_episode_steps", 0)
                )
                mean, std, note = float(np.mean(returns)), float(np.std(returns)), ""
        except Exception as exc:  # a corrupt or foreign policy.pt: say which file, no traceback
            raise ConfigError(
                f"cannot load {run_dir / 'policy.pt'}: {type(exc).__name__}: {one_line(exc)}"
            ) from None
        print(
            f"{run_dir.name}: mean-action return {mean:.1f} +- {std:.1f} "
            f"over {episodes} episodes{note}",
            flush=True,
        )
    return 0


def print_fields(algo: str) -> None:
    """Every dotted config key of `algo` with its default and docstring."""
    import dataclasses

    from npgbench.harness.core.config import field_docs
    from npgbench.harness.runner import resolve_config

    cfg = resolve_config(algo, "InvertedPendulum-v5")

    def walk(obj, prefix: str) -> None:
        docs = field_docs(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                print(f"  {prefix + f.name:<34} {value!s:<12} {docs.get(f.name, '')}")

    print(f"config fields of {algo} (set with --set key=value):")
    walk(cfg, "")


def print_metrics() -> None:
    """Every metrics.parquet column (harness/core/metrics.py), then each variant's own."""
    from npgbench.algorithms.registry import registry
    from npgbench.harness.core.metrics import CONDITIONS, METRICS

    def show(metrics) -> None:
        for m in metrics:
            when = f"; only {CONDITIONS.get(m.when, m.when)}" if m.when else ""
            print(
                f"  {m.name:<24} {m.unit:<9} {m.dtype:<7} {', '.join(m.writers):<16} "
                f"{m.wandb or '-':<30} {m.meaning}{when}"
            )

    print("metrics.parquet columns: name, unit, dtype, writer, W&B key, meaning")
    show(METRICS)
    for name, variant in registry().items():
        if variant.metrics:
            print(f"columns of {name}:")
            show(variant.metrics)


def cmd_list(args) -> int:
    from npgbench.algorithms import ALGORITHMS
    from npgbench.algorithms.registry import registry

    if args.fields:
        print_fields(args.fields)
        return 0
    if args.metrics:
        print_metrics()
        return 0
    print("algorithms:")
    try:
        from npgbench.harness.sweep.suite_checks import load_checked_suite as load_suite
        from npgbench.suites import SUITES
    except ImportError:
        SUITES, load_suite = [], None
    variants = registry()
    width = max(map(len, [*variants, *SUITES]))
    for name, variant in variants.items():
        source = "" if name in ALGORITHMS else " [plugin]"
        print(f"  {name:<{width}}  {variant.description}{source}")
    if not SUITES:
        return 0
    print("suites:")
    for name in SUITES:
        suite = load_suite(name)
        print(f"  {name:<{width}}  {suite.description}")
    return 0


# Subcommands whose module parses its own argv. The imports are explicit (the layer test sees
# them) and lazy: `npgbench run` does not pay for the report's or the benchmarks' imports.
def _sweep(argv: list[str]) -> int:
    from npgbench.harness.sweep import command

    return command.main(argv)


def _report(argv: list[str]) -> int:
    from npgbench.analysis.report import command

    return command.main(argv)


def _bench(argv: list[str]) -> int:
    from npgbench.harness import bench

    return bench.main(argv)


def _dataset(argv: list[str]) -> int:
    from npgbench.harness.tracking import dataset

    return dataset.main(argv)


def _check_plugin(argv: list[str]) -> int:
    from npgbench import testing

    return testing.main(argv)


DELEGATED: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "sweep": (_sweep, "run a suite's grid of runs over joblib (loky or dask)"),
    "report": (_report, "tables, figures and report from run directories"),
    "bench": (_bench, "benchmarks: throughput, fisher-cost, update-cost, fidelity, invariance"),
    "dataset": (_dataset, "copy complete runs into the committed results dataset"),
    "check-plugin": (
        _check_plugin,
        "run the packaged conformance tests on an installed plugin variant",
    ),
}
"""Subcommand -> (its entry point, `entry(argv) -> exit code`; its one-line help)."""


RUN_DESCRIPTION = (
    "Train one variant on one env with one seed into OUT/<run id>/ (config.json, meta.json, "
    "metrics.parquet, policy.pt). A complete run is never overwritten; an interrupted one "
    "continues from its checkpoint. Ctrl-C or SIGTERM stop after the current iteration, "
    "checkpointed."
)


def build_parser() -> argparse.ArgumentParser:
    from npgbench import __version__

    parser = OneLineParser(prog="npgbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"npgbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = sub.add_parser(
        "run",
        help="train one run into a run directory",
        description=RUN_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    run.add_argument("--algo", required=True, help="registered algorithm (npgbench list)")
    run.add_argument("--env", required=True, help="gymnasium env id, e.g. Hopper-v5")
    run.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="environment-step budget, rounded up to whole updates (default: total_steps, 100000)",
    )
    run.add_argument("--seed", type=int, default=0, help="the seed of every random stream")
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field by its dotted name, repeatable (default: none)",
    )
    run.add_argument("--out", default="results", help="parent folder of the run directory")
    run.add_argument("--wandb", choices=WANDB_MODES, default=None, help=WANDB_HELP)
    run.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output (default: a bar on a terminal, else a line per tenth of the "
        "run or per minute)",
    )
    run.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files to the run directory's tensorboard/ (needs "
        "pip install 'npg-bench[tensorboard]'; default: off)",
    )
    run.add_argument(
        "--rerun-stale",
        action="store_true",
        help="rerun a complete run made by other code (its variant's source or plugin version "
        "changed), moving the old directory to OUT/superseded/ (default: keep it)",
    )
    run.add_argument("--allow-env-module", action="store_true", help=ENV_MODULE_HELP)
    run.set_defaults(func=cmd_run)

    ev = sub.add_parser("eval", help="replay saved final policies with the mean action")
    ev.add_argument("run_dir", nargs="+", help="complete run directories")
    ev.add_argument(
        "--episodes",
        type=positive_int,
        default=None,
        help="episodes to replay (default: 10, or 50 with --write)",
    )
    ev.add_argument("--seed", type=int, default=12345, help="reset seed of the first episode")
    ev.add_argument(
        "--write",
        action="store_true",
        help="write final_eval.json into each run directory (the analysis's final return); "
        "a run whose final_eval.json has the same episodes, seed and policy is kept "
        "(default: print only)",
    )
    ev.set_defaults(func=cmd_eval)

    ls = sub.add_parser("list", help="registered algorithms and shipped suites")
    ls.add_argument(
        "--fields",
        metavar="ALGO",
        help="print every config field of ALGO with its default and doc (default: list the "
        "algorithms and suites)",
    )
    ls.add_argument(
        "--metrics",
        action="store_true",
        help="print every metrics.parquet column: unit, dtype, writer, W&B key, meaning "
        "(default: list the algorithms and suites)",
    )
    ls.set_defaults(func=cmd_list)

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text)  # listed in --help; parsed by its own module
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # a reader that left shows up here, inside the handler
        return code
    except BrokenPipeError:
        # `npgbench list | head`: the reader is gone, so stop quietly as a tool killed by
        # SIGPIPE would (exit 128 + 13); stdout goes to devnull so the interpreter's final
        # flush cannot raise again (Python docs, signal module, "Note on SIGPIPE").
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: list[str]) -> int:
    try:
        if argv and argv[0] in DELEGATED:
            return DELEGATED[argv[0]][0](argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # a reader that left: main() ends quietly
        raise
    except (OSError, UnicodeDecodeError) as exc:  # a name too long, a folder in a file's place
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
