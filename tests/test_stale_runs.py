"""Runs that know their code: a complete run whose recorded fingerprint (meta.json "code")
differs from the installed code shows as stale in `sweep --dry-run` and `run`, with what
changed; `--rerun-stale` redoes it under the same run id with the old directory kept under
superseded/; a run without a fingerprint is "code unknown", not stale; the report notes a
variant whose runs mix code versions and never reads superseded runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from analysis_fixtures import write_run
from npgbench.analysis.data.load import load_runs
from npgbench.harness.cli import main

SUITE = """name = "tiny"
envs = ["InvertedPendulum-v5"]
algos = ["vanilla"]
seeds = [0]
steps = 256
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"value.epochs" = 1
"""


def meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def edit_meta(run_dir: Path, change) -> None:
    data = meta(run_dir)
    change(data)
    (run_dir / "meta.json").write_text(json.dumps(data))


def as_if_other_source(data: dict) -> None:
    """What a run made before the variant's source was edited records."""
    data["code"]["variant_source_sha256"] = "0" * 64


def sweep_args(folder: Path) -> list[str]:
    """`npgbench sweep` of the tiny suite in `folder` (its tiny.toml) into folder/out."""
    suite, out = str(folder / "tiny.toml"), str(folder / "out")
    return ["sweep", "--suite", suite, "--out", out, "--jobs", "1", "--wandb", "disabled"]


@pytest.fixture(scope="module")
def swept_once(tmp_path_factory) -> Path:
    """The tiny suite swept once for the module (a loky sweep costs seconds)."""
    folder = tmp_path_factory.mktemp("swept")
    (folder / "tiny.toml").write_text(SUITE)
    assert main(sweep_args(folder)) == 0
    return folder


@pytest.fixture
def swept(swept_once, tmp_path, capsys):
    """A copy of one complete run of a tiny suite, this test's own: (sweep args, run dir)."""
    shutil.copytree(swept_once, tmp_path, dirs_exist_ok=True)
    capsys.readouterr()
    out = tmp_path / "out"
    (run_dir,) = [d for d in out.iterdir() if (d / "meta.json").is_file()]
    assert meta(run_dir)["status"] == "complete"
    assert meta(run_dir)["code"]["variant_source_sha256"]
    return sweep_args(tmp_path), run_dir


def test_a_current_run_is_complete_and_not_stale(swept, capsys):
    args, _ = swept
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  complete  vanilla" in out and "stale:" not in out and "(stale" not in out


def test_an_edited_variant_makes_its_runs_stale_in_the_plan(swept, capsys):
    args, run_dir = swept
    edit_meta(run_dir, as_if_other_source)
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  stale     vanilla" in out
    assert f"stale: vanilla {run_dir.name}: variant source changed (npgbench.algorithms." in out
    assert "complete 1 (stale 1)" in out and "work left: 0 runs" in out
    assert main([*args, "--dry-run", "--rerun-stale"]) == 0
    assert "work left: 1 runs" in capsys.readouterr().out


def test_rerun_stale_redoes_the_run_and_keeps_the_old_directory(swept, capsys):
    args, run_dir = swept
    edit_meta(run_dir, as_if_other_source)
    assert main(args) == 0  # without the flag: kept as it is
    assert meta(run_dir)["code"]["variant_source_sha256"] == "0" * 64
    assert main([*args, "--rerun-stale"]) == 0
    (kept,) = (run_dir.parent / "superseded").iterdir()
    assert kept.name.startswith(run_dir.name + ".")
    assert meta(kept)["code"]["variant_source_sha256"] == "0" * 64  # moved, untouched
    assert (kept / "metrics.parquet").is_file()
    assert meta(run_dir)["status"] == "complete"
    assert meta(run_dir)["code"]["variant_source_sha256"] != "0" * 64  # the installed code
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  complete  vanilla" in out and "stale:" not in out and "(stale" not in out


def test_npgbench_run_says_stale_and_reruns_only_when_asked(swept, capsys):
    _, run_dir = swept
    args = ["run", "--algo", "vanilla", "--env", "InvertedPendulum-v5", "--steps", "256"]
    args += ["--out", str(run_dir.parent), "--wandb", "disabled", "--quiet"]
    args += ["--set", "sampler.num_envs=2", "--set", "sampler.steps_per_update=256"]
    args += ["--set", "value.epochs=1"]
    edit_meta(run_dir, as_if_other_source)
    assert main(args) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == f"already complete, not overwritten: {run_dir}"
    assert printed.err.startswith("stale: variant source changed (npgbench.algorithms.")
    assert "--rerun-stale reruns it" in printed.err
    assert main([*args, "--rerun-stale"]) == 0
    assert len(list((run_dir.parent / "superseded").iterdir())) == 1
    assert meta(run_dir)["code"]["variant_source_sha256"] != "0" * 64


def test_a_run_without_a_fingerprint_is_code_unknown_not_stale(swept, capsys):
    args, run_dir = swept
    edit_meta(run_dir, lambda data: data.pop("code"))
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  complete  vanilla" in out and "stale:" not in out and "(stale" not in out
    assert "1 complete run(s) record no code fingerprint" in out


def test_the_report_notes_mixed_code_and_ignores_superseded_runs(tmp_path):
    root = tmp_path / "runs"
    for seed, sha in ((0, "a" * 64), (1, "b" * 64), (2, "")):
        code = {"variant_source_sha256": sha} if sha else None
        extra = {"code": code} if code else None
        write_run(root, "ppo", "EnvA-v5", seed, np.linspace(0, 10, 5), suite="s", meta_extra=extra)
    old = write_run(root / "superseded", "ppo", "EnvA-v5", 0, np.linspace(0, 10, 5), suite="s")
    rs = load_runs(root)
    assert len(rs.runs) == 3 and str(old) not in set(rs.runs["path"])
    (note,) = [n for n in rs.notes if "code versions" in n]
    assert note.startswith(
        "ppo in suite s mixes runs of 2 code versions (aaaaaaaaaaaa, bbbbbbbbbbbb"
    )
    assert main(["report", str(root), "--out", str(tmp_path / "rep"), "--reps", "20"]) == 0
    assert "mixes runs of 2 code versions" in (tmp_path / "rep" / "report.md").read_text()


def test_sources_declared_result_equivalent_are_one_code_version(tmp_path, monkeypatch):
    from npgbench.harness.core import source_ledger

    monkeypatch.setattr(source_ledger, "EQUIVALENT", {"a" * 64: "b" * 64})
    root = tmp_path / "runs"
    for seed, sha in ((0, "a" * 64), (1, "b" * 64)):
        extra = {"code": {"variant_source_sha256": sha}}
        write_run(root, "ppo", "EnvA-v5", seed, np.linspace(0, 10, 5), suite="s", meta_extra=extra)
    assert not [n for n in load_runs(root).notes if "code versions" in n]
