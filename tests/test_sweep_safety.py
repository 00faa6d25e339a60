"""Shared-filesystem safety: suite names that climb out of results/, a
symlink planted at a run's .lock, shipped suite names shadowed by local files, file modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from npgbench.harness.core.config import ConfigError
from npgbench.harness.sweep.command import main
from npgbench.harness.sweep.suite_checks import load_checked_suite
from npgbench.harness.tracking.run_dir import RunDirectory, atomic_write_bytes, lock_run
from npgbench.suites import SUITE_DIR

SUITE = """
name = {name}
envs = ["InvertedPendulum-v5"]
algos = ["ppo"]
steps = 512
"""


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/npg-absolute", ".hidden", "a/b", ""])
def test_a_suite_name_that_is_not_a_plain_folder_is_refused(tmp_path, monkeypatch, capsys, name):
    work = tmp_path / "work"
    work.mkdir()
    (work / "s.toml").write_text(SUITE.format(name=f'"{name}"'))
    monkeypatch.chdir(work)  # without --out the runs would go to results/<name>/
    assert main(["--suite", "s.toml", "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a plain folder name" in err[0], err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s.toml", "work"]
    assert not Path("/tmp/npg-absolute").exists()


def test_a_symlink_planted_at_the_lock_is_never_followed_or_truncated(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").symlink_to(victim)
    with pytest.raises(OSError):  # ELOOP from O_NOFOLLOW
        lock_run(run_dir)
    assert victim.read_text() == "precious\n"
    # A regular .lock left by an earlier holder keeps its bytes; the flock still excludes.
    other = tmp_path / "other"
    other.mkdir()
    (other / ".lock").write_text("pid 123\n")
    held = lock_run(other)
    assert held is not None and lock_run(other) is None
    held.close()
    assert (other / ".lock").read_text() == "pid 123\n"


def test_the_sweep_worker_fails_that_run_instead_of_following_the_symlink(tmp_path):
    from npgbench.harness.sweep.grid import expand
    from npgbench.harness.sweep.jobs import make_jobs, run_task

    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(name='"lk"'))
    suite = load_checked_suite(path)
    tasks = expand(suite)
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / tasks[0].run_id).mkdir(parents=True)
    (out / tasks[0].run_id / ".lock").symlink_to(victim)
    wandb = {"mode": "disabled", "project": "p", "group": "g"}
    result = run_task(make_jobs(suite, tasks, out, wandb)[0])
    assert result.status == "failed" and "cannot lock" in result.error
    assert victim.read_text() == "precious\n"


def test_a_local_file_named_like_a_shipped_suite_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("quickstart").write_text("this is not TOML = = =\n")
    shipped = load_checked_suite("quickstart")
    assert Path(shipped.path) == SUITE_DIR / "quickstart.toml"
    with pytest.raises(ConfigError, match="malformed TOML"):  # a path means the file
        load_checked_suite("./quickstart")
    Path("mine.toml").write_text(SUITE.format(name='"mine"'))
    assert load_checked_suite("mine.toml").name == "mine"
    with pytest.raises(ConfigError, match="ending in .toml or containing /"):
        load_checked_suite("mine")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_run_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "x.bin", b"data")
        writer = RunDirectory(
            tmp_path / "run",
            {"run_id": "r", "config_hash": "h", "algo": "ppo", "env": "E", "seed": 0},
        )
        writer.log({"iteration": 0})
        writer.finish("complete")
    finally:
        os.umask(old)
    files = [tmp_path / "x.bin", *sorted((tmp_path / "run").iterdir())]
    assert [f.name for f in files] == ["x.bin", "config.json", "meta.json", "metrics.parquet"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
