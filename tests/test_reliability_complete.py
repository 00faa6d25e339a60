""" "complete" is checked wherever it is read: a complete run whose rows do not match its
iterations, or whose files are unreadable, is corrupt for the sweep (--dry-run says so, the
sweep redoes it and keeps the old directory aside), `npgbench run`, `dataset add` and the
report."""

from __future__ import annotations

import shutil
import textwrap

import pandas as pd
import pytest
from npgbench.analysis.data.load import load_runs
from npgbench.harness import cli
from npgbench.harness.runner import train
from npgbench.harness.sweep.command import main as sweep_main
from npgbench.harness.tracking.dataset import main as dataset_main
from npgbench.harness.tracking.integrity import ASIDE, complete_problem, verified_status
from reliability_fixtures import ENV, TINY, meta, run_argv, tiny_config

SUITE = f"""
name = "rel"
envs = ["{ENV}"]
algos = ["vanilla"]
seeds = [0]
steps = 1024
[overrides]
""" + "\n".join(f'"{k}" = {v}' for k, v in TINY.items())


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A complete 4-update run, copied by each test that spoils it."""
    return train(tiny_config(), tmp_path_factory.mktemp("good"), progress=False).run_dir


def _truncate(run_dir):  # what a second, unlocked writer left: a shorter prefix
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    frame.head(2).to_parquet(run_dir / "metrics.parquet", index=False)


def _metrics_dir(run_dir):
    (run_dir / "metrics.parquet").unlink()
    (run_dir / "metrics.parquet").mkdir()


def _garbage(run_dir):
    (run_dir / "metrics.parquet").write_bytes(b"PAR1 garbage")


def _no_policy(run_dir):
    (run_dir / "policy.pt").unlink()


def _other_run(run_dir):
    text = (run_dir / "config.json").read_text().replace("__s0__", "__s1__")
    (run_dir / "config.json").write_text(text)


@pytest.fixture
def spoiled(good, tmp_path, request):
    out = tmp_path / "out"
    run_dir = out / good.name
    shutil.copytree(good, run_dir)
    request.param(run_dir)
    return out, run_dir


SPOILS = [_truncate, _metrics_dir, _garbage, _no_policy, _other_run]


def test_a_good_run_checks_out(good):
    assert complete_problem(good) is None and verified_status(good) == "complete"


@pytest.mark.parametrize("spoiled", SPOILS, indirect=True)
def test_a_spoiled_complete_run_is_corrupt(spoiled):
    _, run_dir = spoiled
    assert complete_problem(run_dir) and verified_status(run_dir) == "corrupt"


@pytest.mark.parametrize("spoiled", [_truncate], indirect=True)
def test_the_truncated_run_is_named_as_such(spoiled):
    assert complete_problem(spoiled[1]) == "metrics.parquet has 2 rows, its config has 4 iterations"


@pytest.mark.parametrize("spoiled", [_truncate, _metrics_dir], indirect=True)
def test_sweep_dry_run_shows_corrupt_and_the_sweep_redoes_it_aside(spoiled, tmp_path, capsys):
    out, run_dir = spoiled
    suite = tmp_path / "rel.toml"
    suite.write_text(textwrap.dedent(SUITE))
    argv = ["--suite", str(suite), "--out", str(out), "--jobs", "1", "--wandb", "disabled"]
    assert sweep_main([*argv, "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert f"corrupt   vanilla  {ENV}" in shown and "corrupt 1 (redone)" in shown
    assert "work left: 1 runs" in shown
    assert sweep_main([*argv, "--quiet"]) == 0
    assert verified_status(run_dir) == "complete"
    (aside,) = (out / ASIDE).iterdir()  # the old directory, kept whole
    assert aside.name.startswith(run_dir.name + ".")
    assert meta(aside)["status"] == "complete" and complete_problem(aside)
    assert str(aside) in meta(run_dir)["replaced_corrupt_run"]
    assert len(load_runs(out).runs) == 1  # the set-aside copy is not a second run


@pytest.mark.parametrize("spoiled", [_truncate], indirect=True)
def test_npgbench_run_redoes_a_corrupt_run(spoiled, capsys):
    out, run_dir = spoiled
    assert cli.main(run_argv(out)) == 0
    assert "fails its checks: moved aside" in capsys.readouterr().err
    assert verified_status(run_dir) == "complete"
    assert len(pd.read_parquet(run_dir / "metrics.parquet")) == 4
    assert len(list((out / ASIDE).iterdir())) == 1


@pytest.mark.parametrize("spoiled", SPOILS, indirect=True)
def test_dataset_add_refuses_a_corrupt_run(spoiled, tmp_path, capsys):
    out, run_dir = spoiled
    assert dataset_main(["add", str(out), "--into", str(tmp_path / "data")]) == 1
    out_text, err = capsys.readouterr()
    assert "corrupt 1 (refused)" in out_text
    assert err.startswith(f"corrupt (not added): {run_dir.name}: ")
    assert not list((tmp_path / "data").glob("*/*/meta.json"))


@pytest.mark.parametrize("spoiled", [_truncate, _other_run], indirect=True)
def test_the_report_flags_a_corrupt_run(spoiled):
    out, run_dir = spoiled
    found = load_runs(out)
    assert list(found.runs["status"]) == ["corrupt"]
    assert any(str(run_dir) in w and "says complete but" in w for w in found.warnings)
    assert found.frame.empty  # none of its rows is scored


def test_a_worker_that_dies_after_finishing_leaves_its_run_complete(tmp_path):
    # loky reports a worker dead when it dies after writing COMPLETE (e.g. during the W&B
    # upload): the record of the death must not turn the finished run into a failed one,
    # which the next sweep would discard and train again.
    import math

    from npgbench.harness.core.run_files import RunStatus
    from npgbench.harness.sweep.grid import expand
    from npgbench.harness.sweep.jobs import make_jobs, record_worker_death, run_task
    from npgbench.harness.sweep.suite_checks import load_checked_suite
    from reliability_fixtures import snapshot

    (tmp_path / "rel.toml").write_text(textwrap.dedent(SUITE))
    suite = load_checked_suite(tmp_path / "rel.toml")
    wandb = {"mode": "disabled", "project": "p", "group": "g"}
    job = make_jobs(suite, expand(suite), tmp_path / "out", wandb)[0]
    assert run_task(job).status == RunStatus.COMPLETE
    before = snapshot(job.run_dir)
    result = record_worker_death(job, "worker died (signal 9, SIGKILL)")
    assert result.status == RunStatus.COMPLETE and math.isfinite(result.final_return)
    assert snapshot(job.run_dir) == before
    assert meta(job.run_dir)["status"] == "complete"
