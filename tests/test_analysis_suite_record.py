"""Custom suites keep their meaning: a sweep of a suite given by path records the file beside
its runs (and its sha256 in meta.json), and the report of that folder uses the recorded
copy's score ranges and thresholds; meta.json's `suite` field is never opened as a path."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pandas as pd
import pytest
from analysis_fixtures import synthetic_results
from cli_inprocess import npgbench

SUITE = """
name = "custom-tiny"
description = "a suite given by path"
envs = ["InvertedPendulum-v5"]
algos = ["vanilla"]
seeds = [0]
steps = 512
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"value.epochs" = 1
[thresholds]
"InvertedPendulum-v5" = 5000.0
[score_ranges."InvertedPendulum-v5"]
min = 0.0
max = 10000.0
"""


def test_sweep_of_a_suite_by_path_reports_with_its_ranges(tmp_path, capsys):
    suite = tmp_path / "elsewhere" / "my-suite.toml"
    suite.parent.mkdir()
    suite.write_text(textwrap.dedent(SUITE))
    out = tmp_path / "runs"
    sweep = npgbench(
        capsys,
        "sweep",
        "--suite",
        str(suite),
        "--out",
        str(out),
        "--jobs",
        "1",
        "--wandb",
        "disabled",
    )
    assert sweep.returncode == 0, sweep.stderr
    assert (out / "suite.toml").read_bytes() == suite.read_bytes()
    sha = hashlib.sha256(suite.read_bytes()).hexdigest()
    (meta_path,) = out.glob("*/meta.json")
    assert json.loads(meta_path.read_text())["suite_sha256"] == sha
    suite.unlink()  # the report must not need the original file
    report = npgbench(capsys, "report", str(out), "--out", str(tmp_path / "rep"), "--reps", "50")
    assert report.returncode == 0, report.stderr
    assert "observed" not in report.stderr
    tables = tmp_path / "rep" / "tables"
    final = pd.read_csv(tables / "per_run.csv")["final"].iloc[0]
    agg = pd.read_csv(tables / "aggregate.csv")
    assert agg["IQM"].iloc[0] == pytest.approx(final / 10000.0)  # the suite's range, not min/max
    assert (pd.read_csv(tables / "convergence.csv")["threshold"] == 5000.0).all()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "InvertedPendulum-v5 [0, 10000] (suite)" in md and "a suite given by path" in md


def test_meta_suite_field_is_never_opened_as_a_path(tmp_path, capsys):
    from npgbench.analysis.report.command import main

    planted = tmp_path / "planted.toml"
    planted.write_text(textwrap.dedent(SUITE).replace("InvertedPendulum-v5", "EnvA-v5"))
    root = synthetic_results(tmp_path / "runs", envs=("EnvA-v5",), seeds=(0, 1), suite=str(planted))
    assert main([str(root), "--out", str(tmp_path / "rep"), "--reps", "50"]) == 0
    err = capsys.readouterr().err
    assert "not a shipped suite" in err and "using observed ranges" in err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "(observed min/max)" in md and "[0, 10000]" not in md


def test_a_recorded_copy_with_another_hash_is_not_used(tmp_path, capsys):
    from npgbench.analysis.report.command import main

    root = tmp_path / "runs"
    root.mkdir()
    (root / "suite.toml").write_text(textwrap.dedent(SUITE).replace("InvertedPendulum", "EnvA"))
    synthetic_results(root, envs=("EnvA-v5",), seeds=(0, 1), suite="custom-tiny", sha="0" * 64)
    assert main([str(root), "--out", str(tmp_path / "rep"), "--reps", "50"]) == 0
    assert "recorded copy missing" in capsys.readouterr().err
    assert "(observed min/max)" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.parametrize(
    "edit,warned",
    [(lambda text: "# a comment-only edit\n" + text, False),
     (lambda text: text.replace("steps = 1_000_000", "steps = 2_000_000"), True)],
    ids=["comment-only", "settings"],
)  # fmt: skip
def test_runs_of_an_earlier_version_of_a_shipped_suite(tmp_path, edit, warned):
    """Runs swept from another version of a shipped suite (their recorded copy, as `dataset
    add` keeps it, has another sha256): no warning when the copy holds the same settings
    (comments differ), a warning when a setting differs."""
    from npgbench.analysis.report.recorded_suite import study_suite
    from npgbench.suites import SUITE_DIR

    text = edit((SUITE_DIR / "controlled-1m.toml").read_text())
    sha = hashlib.sha256(text.encode()).hexdigest()
    (tmp_path / f"suite-{sha[:12]}.toml").write_text(text)
    runs = pd.DataFrame(
        {"status": ["complete"], "suite_sha256": [sha], "path": [str(tmp_path / "run")]}
    )
    warnings: list[str] = []
    info, source = study_suite("controlled-1m", runs, warnings.append)
    assert source == "shipped suite controlled-1m" and info.name == "controlled-1m"
    assert bool(warnings) == warned, warnings
