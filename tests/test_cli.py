"""Bad input: one line, exit 2, no traceback, nothing written, and a run, its rerun and eval
(in process, cli.main: tests/cli_inprocess.py); list through the real console script."""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest
from cli_inprocess import npgbench as npgbench_inprocess
from npgbench.algorithms import ALGORITHMS
from npgbench.harness.core.metrics import expected_columns

from npgbench import __version__

NPGBENCH = shutil.which("npgbench")
TINY = [
    "--set",
    "sampler.num_envs=2",
    "--set",
    "sampler.steps_per_update=256",
    "--set",
    "eval.every=0",
]


def npgbench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    assert NPGBENCH, "console script npgbench is not installed"
    return subprocess.run([NPGBENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--algo", "ppp", "--env", "Hopper-v5"], "did you mean ppo"),
        (["--algo", "ppo", "--env", "Hoper-v5"], "did you mean Hopper-v5"),
        (
            ["--algo", "ppo", "--env", "Hopper-v5", "--set", "update.lrr=1"],
            "unknown config key 'update.lrr'",
        ),
        (
            ["--algo", "ppo", "--env", "Hopper-v5", "--set", "update.lr=fast"],
            "update.lr: expected float",
        ),
        (["--algo", "ppo", "--env", "Hopper-v5", "--set", "sampler.num_envs=2.5"], "expected int"),
        (["--algo", "ppo", "--env", "Hopper-v5", "--set", "update.lr"], "malformed override"),
        (["--algo", "ppo", "--env", "Hopper-v5", "--steps", "0"], "positive integer"),
        (["--algo", "ppo", "--env", "Hopper-v5", "--set", "update.clip=-1"], "must be positive"),
        (
            ["--algo", "ppo", "--env", "Hopper-v5", "--set", "policy.std_param=cube"],
            "valid: identity, log, softplus",
        ),
        (["--algo", "ppo", "--env", "Hopper-v5", "--set", "algo=vanilla"], "use --algo"),
        (["--algo", "ppo", "--env", "Hopper-v5", "--seed", "-1"], "seed must be"),
        (
            ["--algo", "ppo", "--env", "Hopper-v5", "--set", "policy.hidden_sizes=64,0"],
            "positive widths",
        ),
        (["--algo", "ppo", "--env", "Hopper-v5", "--set", "update.lr=nan"], "expected float"),
        (["--algo", "ppo", "--env", "CartPole-v1"], "not continuous control"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, args, expected):
    out = tmp_path / "results"
    result = npgbench_inprocess(capsys, "run", *args, "--out", out)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not out.exists()


def test_unknown_subcommand_and_benchmark(capsys):
    for args in (["frobnicate"], ["bench", "speed"]):
        result = npgbench_inprocess(capsys, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def test_run_then_rerun_is_a_no_op_and_eval_replays(tmp_path, capsys):
    out = tmp_path / "results"
    args = ["run", "--algo", "vanilla", "--env", "InvertedPendulum-v5", "--steps", "512"]
    first = npgbench_inprocess(capsys, *args, "--out", out, "--quiet", *TINY)
    assert first.returncode == 0, first.stderr
    run_dir = first.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    meta = json.loads(open(f"{run_dir}/meta.json").read())
    assert meta["status"] == "complete" and meta["num_params"] > 0
    mtime = (tmp_path / run_dir / "metrics.parquet").stat().st_mtime_ns
    again = npgbench_inprocess(capsys, *args, "--out", out, "--quiet", *TINY)
    assert again.returncode == 0 and "already complete" in again.stdout
    assert (tmp_path / run_dir / "metrics.parquet").stat().st_mtime_ns == mtime
    replay = npgbench_inprocess(capsys, "eval", run_dir, "--episodes", "2")
    assert replay.returncode == 0 and "mean-action return" in replay.stdout, replay.stderr


def test_the_console_script_lists_every_algorithm_and_its_version():
    result = npgbench("list")
    assert result.returncode == 0
    for name in ALGORITHMS:
        assert name in result.stdout
    version = npgbench("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"npgbench {__version__}"


REQUIRED_COLUMNS = set(expected_columns({"runner", "value fit", "update"}))
"""What every run writes, whatever its variant (harness/core/metrics.py)."""


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_smoke_every_registered_variant(tmp_path, tiny_overrides, algo):
    """Two updates of each variant on a tiny env: complete, schema, finite metrics."""
    from npgbench.harness.runner import resolve_config, train

    cfg = resolve_config(
        algo, "InvertedPendulum-v5", 0, 512, {**tiny_overrides, "eval.every": 2, "eval.episodes": 1}
    )
    run_dir = train(cfg, tmp_path, progress=False).run_dir
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "complete", meta.get("error")
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    assert REQUIRED_COLUMNS <= set(frame.columns), REQUIRED_COLUMNS - set(frame.columns)
    assert list(frame["step"]) == [256, 512]
    assert frame["kl"].notna().all() and frame["entropy"].notna().all()
    assert frame["eval_return_mean"].notna().sum() == 1
    assert (run_dir / "policy.pt").is_file()
