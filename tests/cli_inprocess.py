"""`npgbench ARGS` in this process: cli.main(argv) with stdout and stderr captured.

A console-script process costs seconds (importing torch, gymnasium, pandas); the exit code,
the output and what is written are the same in process, so bad-input cases run here and a few
smoke tests (tests/test_cli_habits.py, tests/test_bad_inputs.py) keep the real script.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    """What the console script would have returned (subprocess.CompletedProcess's fields)."""

    returncode: int
    stdout: str
    stderr: str


def npgbench(capsys, *args: object, cwd: Path | None = None) -> Result:
    """Run `npgbench *args` (from `cwd` when given) in process, via cli.main; capsys is
    pytest's fixture. argparse's errors and --help exit through SystemExit: its code is kept."""
    from npgbench.harness.cli import main

    capsys.readouterr()  # drop anything printed before
    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(before)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def sweep_command(suite, out, *flags: str) -> list[str]:
    """`npgbench sweep --suite SUITE --out OUT FLAGS` in a fresh interpreter: for the tests
    that signal or kill a sweep's process group, which an in-process sweep cannot survive."""
    return [sys.executable, "-m", "npgbench.harness.sweep.command", "--suite", str(suite),
            "--out", str(out), *flags]  # fmt: skip
