"""Writes stay inside their target: planted symlinks under --out, --into and the report folder
are never followed, dataset copies refuse symlinked sources and unsafe suite names, dataset
folders follow the umask, submitit's folder is private, and module:Env ids need a flag."""

from __future__ import annotations

import json
import os
import shutil
import textwrap

import pytest
from npgbench.analysis.report.command import main as report_main
from npgbench.harness import cli
from npgbench.harness.core.identity import run_id
from npgbench.harness.runner import train
from npgbench.harness.sweep.command import main as sweep_main
from npgbench.harness.tracking.dataset import main as dataset_main
from reliability_fixtures import ENV, run_argv, tiny_config


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return train(tiny_config(updates=2), tmp_path_factory.mktemp("good"), progress=False).run_dir


@pytest.fixture
def sweep_out(good, tmp_path):
    """A sweep folder holding a copy of the good run: (folder, run directory)."""
    run_dir = tmp_path / "sweep" / good.name
    shutil.copytree(good, run_dir)
    return run_dir.parent, run_dir


def test_a_suite_name_that_climbs_out_of_into_is_refused(sweep_out, tmp_path, capsys):
    folder, run_dir = sweep_out
    meta = json.loads((run_dir / "meta.json").read_text())
    (run_dir / "meta.json").write_text(json.dumps({**meta, "suite": "../../../escaped"}))
    into = tmp_path / "a" / "b" / "data"
    assert dataset_main(["add", str(folder), "--into", str(into)]) == 1
    assert "is not a folder name" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escaped"))


def test_a_symlinked_source_file_is_not_copied(sweep_out, tmp_path, capsys):
    folder, run_dir = sweep_out
    secret = tmp_path / "secret.pt"
    shutil.move(run_dir / "policy.pt", secret)
    (run_dir / "policy.pt").symlink_to(secret)
    assert dataset_main(["add", str(folder), "--into", str(tmp_path / "data")]) == 1
    assert "policy.pt is a symlink" in capsys.readouterr().err
    assert not list((tmp_path / "data").rglob("policy.pt"))


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_dataset_folders_follow_the_umask(sweep_out, tmp_path, umask):
    folder, run_dir = sweep_out
    old = os.umask(umask)
    try:
        assert dataset_main(["add", str(folder), "--into", str(tmp_path / "data")]) == 0
    finally:
        os.umask(old)
    copied = tmp_path / "data" / "adhoc" / run_dir.name
    assert copied.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_planted_manifest_symlink_is_replaced_not_followed(sweep_out, tmp_path):
    folder, _ = sweep_out
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.csv").symlink_to(victim)
    assert dataset_main(["add", str(folder), "--into", str(tmp_path / "data")]) == 0
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / "data" / "manifest.csv").is_symlink()


def test_planted_report_symlinks_are_replaced_not_followed(sweep_out, tmp_path):
    folder, _ = sweep_out
    report = folder / "report"
    (report / "tables").mkdir(parents=True)
    victims = {}
    for name in ("report.md", "tables/runs.csv", "figures"):
        victims[name] = tmp_path / f"victim-{name.replace('/', '-')}"
        victims[name].write_text("keep me\n") if name != "figures" else victims[name].mkdir()
        (report / name).symlink_to(victims[name])
    assert report_main([str(folder), "--reps", "100"]) == 2  # figures/ is a planted link
    (report / "figures").unlink()
    assert report_main([str(folder), "--reps", "100"]) == 0
    assert victims["report.md"].read_text() == "keep me\n"
    assert victims["tables/runs.csv"].read_text() == "keep me\n"
    assert not list(victims["figures"].iterdir())
    assert not (report / "report.md").is_symlink() and (report / "report.md").stat().st_size


def test_a_symlinked_run_directory_is_never_written_through(tmp_path, capsys):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / run_id(tiny_config())).symlink_to(elsewhere)
    assert cli.main(run_argv(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a symlink, not followed" in err
    assert not list(elsewhere.iterdir())


def test_the_submitit_folder_is_private(tmp_path):
    from npgbench.harness.sweep.submit import private_folder

    folder = tmp_path / "out" / ".submitit"
    folder.mkdir(parents=True, mode=0o755)
    assert private_folder(folder).stat().st_mode & 0o777 == 0o700
    (tmp_path / "link").symlink_to(tmp_path / "out")
    with pytest.raises(OSError):
        private_folder(tmp_path / "link")


def test_module_env_ids_need_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NPGBENCH_ALLOW_ENV_MODULE", raising=False)
    suite = tmp_path / "m.toml"
    suite.write_text(
        textwrap.dedent(
            f"""
            name = "m"
            envs = ["{ENV}", "antigravity:Fly-v0"]
            algos = ["vanilla"]
            steps = 512
            """
        )
    )
    assert sweep_main(["--suite", str(suite), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "imports module 'antigravity'" in err and "--allow-env-module" in err
    argv = ["run", "--algo", "vanilla", "--env", "antigravity:Fly-v0", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "--allow-env-module" in capsys.readouterr().err
    import sys

    assert "antigravity" not in sys.modules  # refused before any import
