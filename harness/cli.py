"""`npgbench run | sweep | report | list | eval | bench | dataset`.

User errors (unknown names, malformed overrides, impossible hyperparameters) print one line
and exit 2 with nothing written; a failed run exits 1 with its traceback in meta.json, and so
does `run` of a run that another process (a second `run`, a sweep) is training: one "busy"
line, the run untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from npgbench.harness.core.command import (
    ENV_MODULE_HELP,
    WANDB_HELP,
    HelpFormatter,
    OneLineParser,
    one_thread_per_process,
    os_error_line,
    positive_int,
)

one_thread_per_process()  # before numpy or torch load

from npgbench.harness.cli_list import cmd_list  # noqa: E402
from npgbench.harness.cli_run import cmd_eval, cmd_run  # noqa: E402
from npgbench.harness.core.command import one_line  # noqa: E402
from npgbench.harness.core.config import WANDB_MODES, ConfigError  # noqa: E402


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
