"""What every npgbench command shares (run, sweep, list, eval, bench, dataset, report): one
argument parser, whose bad flags are one line and exit 2 (the caller prints the ConfigError),
never a usage dump, with every option's default shown once in --help; and one BLAS/OpenMP
thread per process.

In the core, standard library only, so analysis/ (report) uses it without importing torch or
the orchestration layer.
"""

from __future__ import annotations

import argparse
import os
import sys

from npgbench.harness.core.config import ConfigError, parse_override

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def one_thread_per_process() -> None:
    """One BLAS/OpenMP thread per process unless the user set otherwise: one run per core is
    faster than threads fighting over them, and the variables must be set before numpy or
    torch load (joblib/joblib#834)."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help: argparse's "(default: X)", except where the default
    is decided later (None), is off (a flag), or the help already says it in words."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors raise ConfigError("PROG: message") instead of exiting."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def plural(n: int, word: str) -> str:
    """ "1 worker", "2 workers": a count with its noun."""
    return f"{n:,d} {word}{'s' * (n != 1)}"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (underscores allowed: 1_000_000)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def os_error_line(exc: BaseException) -> str:
    """One line for an OSError or a UnicodeDecodeError: "what: file" (no traceback), e.g.
    "File name too long: results/xxx...", "Is a directory: run/meta.json"."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError):
        # os.replace(tmp, target) names both: the target is the file the user knows
        name = next((n for n in (exc.filename2, exc.filename) if n is not None), "")
        what = exc.strerror or str(exc) or type(exc).__name__
        shown = str(name) if len(str(name)) <= 160 else "..." + str(name)[-157:]
        return f"{what}: {shown}" if shown else what
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def show_progress(quiet: bool) -> bool:
    """A progress bar only on a terminal: in a log file its frames are noise (tqdm/tqdm#750,
    tqdm/tqdm#1342)."""
    return not quiet and sys.stderr.isatty()


def rounding_note(requested: int, per_update: int) -> str | None:
    """The one line that says how a step budget was rounded up to whole updates (or None)."""
    if requested % per_update == 0:
        return None
    done = -(-requested // per_update) * per_update
    return (
        f"note: {requested:,d} steps is not a multiple of sampler.steps_per_update "
        f"({per_update:,d}): rounded up to {done:,d} steps ({plural(done // per_update, 'update')})"
    )


WANDB_HELP = (
    "W&B mirror; auto: WANDB_MODE if set, else online with credentials, else offline "
    "(default: wandb.mode, which defaults to auto)"
)
"""The --wandb help of `npgbench run` and `npgbench sweep` (one default for both)."""


ENV_MODULE_HELP = (
    "accept env ids of the form module:Env, which import (run) that module (default: refused)"
)
"""The --allow-env-module help of `npgbench run` and `npgbench sweep`."""


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (torch's errors span several)."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


def overrides_from(pairs: list[str] | None) -> dict[str, str]:
    """`--set key=value` pairs -> dict (ConfigError on a malformed one)."""
    return dict(parse_override(p) for p in pairs or [])
