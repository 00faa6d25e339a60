"""Bad sweep, run and report input that used to mean "all", run late or exhaust memory: one
line, exit 2, nothing printed before it and nothing written."""

from __future__ import annotations

import textwrap

import pytest
from npgbench.analysis.report.command import main as report_main
from npgbench.harness import cli
from npgbench.harness.sweep.command import main as sweep_main
from reliability_fixtures import ENV, run_argv

SUITE = f"""
name = "bad"
envs = ["{ENV}"]
algos = ["vanilla"]
seeds = [0]
steps = 512
"""


def sweep_refuses(tmp_path, capsys, argv, expected, suite=SUITE) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(suite))
    out = tmp_path / "out"
    code = sweep_main(["--suite", str(path), "--out", str(out), *argv])
    stdout, err = capsys.readouterr()
    assert code == 2, err
    assert stdout == "" and err.count("\n") == 1 and expected in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--shard", ""], "--shard ''"),
        (["--shard", "3/3"], "shards are 0-based"),
        (["--algos", ","], "--algos: expected one or more names"),
        (["--algos", ""], "--algos: expected one or more names"),
        (["--envs", ","], "--envs: expected one or more names"),
        (["--slurm", "foo"], "foo"),
        (["--slurm", "partition=cpu"], "--slurm needs --backend submitit"),
        (["--num-seeds", "1000000000"], "at most 10,000 seeds"),
    ],
)
def test_bad_sweep_options(tmp_path, capsys, argv, expected):
    sweep_refuses(tmp_path, capsys, argv, expected)


def test_submitit_missing_is_refused_up_front(tmp_path, capsys):
    try:
        import submitit  # noqa: F401
    except ImportError:
        sweep_refuses(tmp_path, capsys, ["--backend", "submitit"], "needs submitit")
    else:
        pytest.skip("submitit is installed here: this checks the message without it")


@pytest.mark.parametrize(
    "variants,expected",
    [
        ('[variants."a\\nb"]\nalgo = "vanilla"', "one line"),
        ('[variants.""]\nalgo = "vanilla"', "non-empty"),
        ('[variants." x"]\nalgo = "vanilla"', "one line"),
        ('[variants.ppo]\nalgo = "vanilla"', "the name of algorithm ppo, not vanilla"),
        ('[variants.vanilla]\nalgo = "vanilla"', "also in algos"),
    ],
)
def test_bad_variant_labels(tmp_path, capsys, variants, expected):
    sweep_refuses(tmp_path, capsys, [], expected, SUITE + variants)


def test_a_huge_grid_is_refused_before_planning(tmp_path, capsys):
    values = ", ".join(str(1e-3 + i * 1e-6) for i in range(1000))
    grid = f'[grid]\n"update.lr" = [{values}]\n"sampler.gamma" = [{values}]\n'
    sweep_refuses(tmp_path, capsys, [], "1,000,000 runs planned", SUITE + grid)


def test_a_huge_policy_is_refused_before_anything_is_written(tmp_path, capsys):
    argv = run_argv(tmp_path / "out", 0, 2, "--set=policy.hidden_sizes=1000000,1000000")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than 100,000,000" in err
    assert not (tmp_path / "out").exists()


def test_huge_bootstrap_reps_are_refused(tmp_path, capsys):
    assert report_main([str(tmp_path), "--reps", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reps must be an integer in 1 .. 100,000" in err
    assert not (tmp_path / "report").exists()
