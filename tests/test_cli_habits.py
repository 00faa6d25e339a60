"""CLI habits: defaults in every --help, a closed pipe ends quietly, no progress-bar frames in
logs, sweep --quiet, a rounded --steps says so. The closed pipe goes through the real console
script; the rest run in process (cli.main, tests/cli_inprocess.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_inprocess import npgbench as npgbench_inprocess

NPGBENCH = shutil.which("npgbench")
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "disabled", "COLUMNS": "100"}
TINY = ["--set", "sampler.num_envs=2", "--set", "sampler.steps_per_update=256"]


def option_entries(help_text: str) -> dict[str, str]:
    """--option -> its help text (continuation lines joined), from an argparse --help."""
    body = help_text.split("options:", 1)[1]
    entries, current = {}, None
    for line in body.splitlines():
        match = re.match(r"  (-\S+)", line)
        if match:
            current = match.group(1).rstrip(",")
            entries[current] = line
        elif current and line.startswith("   "):
            entries[current] += " " + line.strip()
    return entries


REQUIRED = {"-h", "--algo", "--env", "--suite"}  # no default to show
FLAGS = {"--dry-run", "--write"}  # off unless given


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["eval"],
        ["list"],
        ["sweep"],
        ["bench", "throughput"],
        ["bench", "fisher-cost"],
        ["bench", "invariance"],
    ],
)
def test_every_help_shows_every_default(command, capsys, monkeypatch):
    # `npgbench report --help` is analysis/report/command.py's parser, checked with the analysis.
    monkeypatch.setenv("COLUMNS", "100")
    result = npgbench_inprocess(capsys, *command, "--help")
    assert result.returncode == 0, result.stderr
    entries = option_entries(result.stdout)
    assert entries
    missing = [
        o for o, text in entries.items() if o not in REQUIRED | FLAGS and "default" not in text
    ]
    assert not missing, f"npgbench {' '.join(command)} --help: no default for {missing}"


def test_run_and_sweep_help_name_the_same_wandb_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    run = npgbench_inprocess(capsys, "run", "--help").stdout
    sweep = npgbench_inprocess(capsys, "sweep", "--help").stdout
    wandb = [option_entries(text)["--wandb"] for text in (run, sweep)]
    assert wandb[0] == wandb[1] and "defaults to auto" in wandb[0]


def test_a_closed_pipe_ends_quietly():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: every write gets EPIPE
    proc = subprocess.run(
        [NPGBENCH, "list", "--fields", "npg_cg"], stdout=write, stderr=subprocess.PIPE, env=ENV
    )
    os.close(write)
    assert proc.returncode == 141 and proc.stderr == b""  # 128 + SIGPIPE, like `yes | head`
    shell = subprocess.run(
        f"{NPGBENCH} list --fields npg_cg | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert shell.stderr == "" and len(shell.stdout.splitlines()) == 1


def test_a_run_in_a_log_has_no_bar_frames_and_says_how_steps_were_rounded(tmp_path, capsys):
    result = npgbench_inprocess(
        capsys,
        "run",
        "--algo",
        "vanilla",
        "--env",
        "InvertedPendulum-v5",
        "--steps",
        "600",
        "--out",
        str(tmp_path),
        *TINY,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "note: 600 steps is not a multiple of sampler.steps_per_update (256): rounded up to "
        "768 steps (3 updates)"
    )
    # no bar frames: one progress line per update here (a tenth of a 3-update run)
    assert [ln.split(", ")[0] for ln in lines[1:]] == [
        f"vanilla InvertedPendulum-v5 s0: iteration {i}/3" for i in (1, 2, 3)
    ]
    assert "\r" not in result.stderr
    exact = npgbench_inprocess(
        capsys,
        "run",
        "--algo",
        "vanilla",
        "--env",
        "InvertedPendulum-v5",
        "--steps",
        "512",
        "--out",
        str(tmp_path),
        *TINY,
    )
    assert exact.returncode == 0 and "note:" not in exact.stderr  # nothing rounded
    assert "\r" not in exact.stderr  # progress lines, not bar frames (stderr is not a TTY)


def write_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'envs = ["InvertedPendulum-v5"]\nalgos = ["vanilla"]\nseeds = [0]\nsteps = 512\n'
        '[overrides]\n"sampler.num_envs" = 2\n"sampler.steps_per_update" = 256\n'
        '"eval.every" = 0\n'
    )
    return path


def test_a_sweep_in_a_log_prints_lines_not_frames_and_quiet_only_the_summary(tmp_path, capsys):
    suite = str(write_suite(tmp_path))
    common = ["sweep", "--suite", suite, "--jobs", "1", "--wandb", "disabled", "--steps", "300"]
    logged = npgbench_inprocess(capsys, *common, "--out", str(tmp_path / "a"))
    assert logged.returncode == 0, logged.stderr
    err = logged.stderr.splitlines()
    assert err[0] == (
        "note: 300 steps is not a multiple of sampler.steps_per_update (256): rounded up to "
        "512 steps (2 updates), 1 run"
    )
    assert len(err) == 2 and err[1].startswith("complete vanilla InvertedPendulum-v5 s0")
    assert "\r" not in logged.stderr and "%|" not in logged.stderr
    quiet = npgbench_inprocess(capsys, *common, "--out", str(tmp_path / "b"), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr.splitlines() == err[:1]
    out = quiet.stdout.splitlines()
    assert len(out) == 2 and out[0].startswith("sweep tiny: 1 runs") and "done in" in out[1]
