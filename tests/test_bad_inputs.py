"""Bad inputs of every command: each is refused with one line on stderr, exit code 2, no
traceback, and nothing written anywhere under the working directory.

The cases run in process (cli.main, tests/cli_inprocess.py); one case goes through the real
console script, which is what a user runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from cli_inprocess import npgbench

NPGBENCH = shutil.which("npgbench")
RUN = ["run", "--algo", "ppo", "--env", "InvertedPendulum-v5"]
TINY_SUITE = """
name = "bad"
envs = {envs}
algos = ["ppo"]
steps = 512
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"""


def snapshot(root: Path) -> dict[str, int]:
    """Every path under root with its size (a written or grown file changes it)."""
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def assert_refused(result, expected: str, case=()) -> None:
    assert result.returncode == 2, (case, result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, case
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], (case, result.stderr)


RUN_CASES = [
    (["--env", "LunarLanderContinuous-v3"], "Box2D is not installed"),
    (["--env", "InvertedPendulum-v2"], "InvertedPendulum-v5 needs only gymnasium[mujoco]"),
    (["--env", "phys2d/CartPole-v1"], "No module named 'jax'"),
    (["--env", "no_such_module:Foo-v0"], "pass --allow-env-module to allow it"),
    (
        ["--env", "no_such_module:Foo-v0", "--allow-env-module"],
        "cannot import module 'no_such_module'",
    ),
    (["--set", "sampler.num_envs=0"], "sampler.num_envs must be a positive integer"),
    (["--set", "update.lr=inf"], "update.lr must be a finite number, got inf"),
    (["--set", "sampler.gamma=-inf"], "sampler.gamma must be a finite number"),
    (["--steps", "1000000000000000000"], "above the cap of 10,000,000,000 steps"),
    (["--set", "policy.hidden_sizes="], "policy.hidden_sizes is empty"),
    (["--set", "eval.episodes=-1"], "eval.episodes must be a positive integer, got -1"),
    (
        ["--algo", "vanilla", "--set", "update.max_grad_norm=0"],
        "update.max_grad_norm must be > 0 (inf disables), got 0.0",
    ),
    (
        ["--set", "diagnostics.fidelity_every=1", "--set", "diagnostics.fidelity_max_params=10"],
        "4546 parameters > diagnostics.fidelity_max_params=10",
    ),
]


def run_all(capsys, cases, cwd: Path, prefix=()) -> list:
    """Each case's `npgbench *prefix *args`, in process, one after another."""
    return [npgbench(capsys, *prefix, *args, cwd=cwd) for args in cases]


def test_the_console_script_refuses_in_one_line(tmp_path):
    """The real script: one stderr line, exit 2, no traceback, nothing written."""
    assert NPGBENCH, "console script npgbench is not installed"
    args = [NPGBENCH, *RUN, "--set", "sampler.num_envs=0", "--out", "results"]
    result = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert_refused(result, "sampler.num_envs must be a positive integer")
    assert snapshot(tmp_path) == {}


def test_run_refuses_each_bad_input(tmp_path, capsys):
    # --env given twice: argparse keeps the last, so a case can replace the default env.
    cases = [[*args, "--out", "results"] for args, _ in RUN_CASES]
    for (args, expected), result in zip(RUN_CASES, run_all(capsys, cases, tmp_path, RUN)):
        assert_refused(result, expected, args)
    assert snapshot(tmp_path) == {}


def test_run_out_that_is_a_file_under_a_file_or_unwritable(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder\n")
    before = snapshot(tmp_path)
    cases = [
        ("taken", "--out taken: is a file, not a directory"),
        ("taken/sub/dir", "taken, a folder above it, is a file"),
        ("/proc/1/npg-results", "/proc/1 is not writable"),  # refused even to root
    ]
    results = run_all(capsys, [["--out", out] for out, _ in cases], tmp_path, RUN)
    for (out, expected), result in zip(cases, results):
        assert_refused(result, expected, out)
    assert snapshot(tmp_path) == before


def test_npg_exact_memory_cap_is_refused_before_the_run_exists(tmp_path, capsys):
    # The dense-Fisher memory model needs only the policy's sizes and the batch, known once the
    # env is: bad input (exit 2, nothing written), never a failed run. 2 x 256 float64 Gram
    # rows for InvertedPendulum's 4,546-parameter policy cannot fit in 1 kB.
    args = ["--algo", "npg_exact", "--env", "InvertedPendulum-v5", "--steps", "256"]
    tiny = ["--set", "sampler.num_envs=2", "--set", "sampler.steps_per_update=256"]
    cap = ["--set", "update.exact_max_memory_mb=0.001", "--quiet", "--out", "results"]
    result = npgbench(capsys, "run", *args, *tiny, *cap, cwd=tmp_path)
    assert_refused(result, "256 rows x 4546 parameters, above update.exact_max_memory_mb=0")
    assert snapshot(tmp_path) == {}


def test_sweep_refuses_a_suite_env_with_a_missing_dependency_and_huge_budgets(tmp_path, capsys):
    (tmp_path / "car.toml").write_text(TINY_SUITE.format(envs='["CarRacing-v3"]'))
    (tmp_path / "ok.toml").write_text(TINY_SUITE.format(envs='["InvertedPendulum-v5"]'))
    (tmp_path / "taken").write_text("x")
    before = snapshot(tmp_path)
    cases_and_errors = [
        (["--suite", "car.toml"], "'CarRacing-v3' needs a package that is not installed"),
        (["--suite", "ok.toml", "--steps", "1000000000000000000"], "above the cap"),
        (["--suite", "ok.toml", "--set", "update.clip=inf"], "update.clip must be a finite"),
        (["--suite", "ok.toml", "--out", "taken"], "--out taken: is a file"),
        (
            ["--suite", "ok.toml", "--set", "diagnostics.fidelity_every=2"]
            + ["--set", "diagnostics.fidelity_max_params=5"],
            "ppo on InvertedPendulum-v5: diagnostics.fidelity_every needs",
        ),
    ]
    cases = [[*args, "--wandb", "disabled"] for args, _ in cases_and_errors]
    results = run_all(capsys, cases, tmp_path, ["sweep"])
    for (args, expected), result in zip(cases_and_errors, results):
        assert_refused(result, expected, args)
    assert snapshot(tmp_path) == before


BENCH_CASES = [
    ([], "npgbench bench: name a benchmark"),
    (["throughput", "--batch", "0"], "unrecognized arguments: --batch 0"),
    (["throughput", "--num-envs", "0"], "--num-envs: expected a positive integer"),
    (["throughput", "--steps", "4", "--num-envs", "8"], "--steps 4: expected --num-envs (8)"),
    (["throughput", "--env", "Hoper-v5"], "did you mean Hopper-v5"),
    (["fisher-cost", "--batch", "0"], "--batch: expected a positive integer, got '0'"),
    (["fisher-cost", "--hidden", "16,x"], "--hidden: expected positive integers"),
    (["fisher-cost", "--methods", "dense"], "--methods: unknown ['dense']"),
    (["fisher-cost", "--out", "."], "is a directory; give a .csv file path"),
    (["fisher-cost", "--out", "taken/cost.csv"], "is a file, not a directory"),
]


def test_bench_refuses_each_bad_input(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    before = snapshot(tmp_path)
    cases = [args for args, _ in BENCH_CASES]
    for (args, expected), result in zip(BENCH_CASES, run_all(capsys, cases, tmp_path, ["bench"])):
        assert_refused(result, expected, args)
    assert snapshot(tmp_path) == before


def test_eval_of_a_corrupt_policy_is_one_line(tmp_path, capsys):
    run_dir = tmp_path / "ppo__InvertedPendulum-v5__s0__00000000"
    run_dir.mkdir()
    (run_dir / "meta.json").write_text(json.dumps({"status": "complete"}))
    (run_dir / "policy.pt").write_bytes(b"PK\x03\x04 truncated zip, not a torch file")
    before = snapshot(tmp_path)
    assert_refused(npgbench(capsys, "eval", run_dir, cwd=tmp_path), "cannot load")
    assert_refused(npgbench(capsys, "list", "--fields", "ppp", cwd=tmp_path), "did you mean ppo")
    assert snapshot(tmp_path) == before
