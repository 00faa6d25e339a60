"""Rough edges a new user met, each checked through the console script's entry point
(`cli.main(argv)`, in process): version, plurals, the plan's rounding note, the README's
`npgbench list`, `run --help`, `--slurm` outside submitit, and the report's notes on observed
score ranges, two-seed bands and unequal seed counts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from analysis_fixtures import learning, write_run
from npgbench.harness.cli import main

from npgbench import __version__

ROOT = Path(__file__).resolve().parents[1]
TINY = """name = "tiny"
envs = ["InvertedPendulum-v5"]
algos = ["vanilla"]
seeds = [0]
steps = 100
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"value.epochs" = 1
"""


@pytest.fixture
def tiny_suite(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"npgbench {__version__}"


def test_one_worker_and_one_update_are_singular(tiny_suite, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--suite", str(tiny_suite), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr()
    assert "(1 worker)" in printed.out and "1 workers" not in printed.out
    assert "(1 update)" in printed.err and "1 updates" not in printed.err


def test_the_dry_run_prints_the_rounding_note(tiny_suite, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--suite", str(tiny_suite), "--out", str(out), "--dry-run"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "note: 100 steps is not a multiple of sampler.steps_per_update (256): rounded up to "
        "256 steps (1 update), 1 run"
    ]
    assert not out.exists()


def test_the_readme_list_output_is_what_list_prints(capsys):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("$ npgbench list\n", 1)[1].split("\n\n", 1)[0]
    assert main(["list"]) == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if not ln.endswith("[plugin]")]

    def words(lines):
        return [re.sub(r"\s+", " ", ln.strip()) for ln in lines]

    assert words(block.splitlines()) == words(printed)


def test_run_help_describes_the_command(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "Train one variant on one env with one seed" in out
    assert "(default: results)" in out  # every option's default, as sweep --help shows


@pytest.mark.parametrize("backend", [[], ["--backend", "dask"]])
def test_slurm_settings_outside_submitit_are_refused(tiny_suite, tmp_path, capsys, backend):
    out = tmp_path / "out"
    args = ["sweep", "--suite", str(tiny_suite), "--out", str(out), "--slurm", "partiton=cpu"]
    assert main([*args, *backend]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --slurm needs --backend submitit")
    assert not out.exists()


@pytest.fixture(scope="module")
def custom_report(tmp_path_factory) -> str:
    """A custom suite (no score_ranges): ppo with 2 seeds, npg_cg with 3, on two envs."""
    root = tmp_path_factory.mktemp("rough") / "runs"
    for e, env in enumerate(("EnvA-v5", "EnvB-v5")):
        for algo, seeds, top in (("ppo", 2, 500.0), ("npg_cg", 3, 900.0)):
            for seed in range(seeds):
                returns = learning(12, 0.0, top * (1 + e) + 20 * seed, seed + 5 * e)
                write_run(root, algo, env, seed, returns, suite="my-custom-suite")
    out = root.parent / "rep"
    assert main(["report", str(root), "--out", str(out), "--reps", "50"]) == 0
    return (out / "report.md").read_text()


def test_observed_min_max_normalisation_is_stated(custom_report):
    assert "No score range in the suite for EnvA-v5, EnvB-v5: normalised by the lowest" in (
        custom_report
    )


def test_two_seed_bands_carry_a_small_n_note(custom_report):
    assert "where n = 2 the band is ±12.7 standard errors wide" in custom_report


def test_unequal_seed_counts_in_one_figure_are_stated(custom_report):
    assert "seed counts differ between curves (n = 2 to 3)" in custom_report


def test_equal_seed_counts_need_no_note(tmp_path):
    root = tmp_path / "runs"
    for seed in range(3):
        write_run(root, "ppo", "EnvA-v5", seed, np.linspace(0, 100 + seed, 8), suite="s")
    assert main(["report", str(root), "--out", str(tmp_path / "rep"), "--reps", "20"]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "seed counts differ" not in text and "where n = 2" not in text
