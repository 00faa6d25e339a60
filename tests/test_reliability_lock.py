"""`npgbench run` holds the run's lock like a sweep worker: a second writer of the same run
says "busy" and touches nothing, and a writer that lost the lock never completes the run."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from npgbench.harness import cli
from npgbench.harness.core.identity import run_id
from npgbench.harness.runner import train
from npgbench.harness.tracking.run_dir import LostRun, RunBusy, holding_run, lock_run, owns_run
from reliability_fixtures import meta, run_argv, snapshot, tiny_config


def _interrupted(out):
    """A run stopped after its second update: meta.json says failed, metrics hold 2 rows."""

    def stop(row):
        if row["iteration"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), out, progress=False, on_row=stop)
    return out / run_id(tiny_config())


def test_a_second_run_of_a_held_run_says_busy_and_touches_nothing(tmp_path, capsys):
    run_dir = _interrupted(tmp_path)
    before = snapshot(run_dir)
    holder = subprocess.Popen(  # another process holds the run's lock, as a live run would
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from npgbench.harness.tracking.run_dir import lock_run; h = lock_run(Path(sys.argv[1])); "
         "print('held', flush=True); time.sleep(60)", str(run_dir)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        code = cli.main(run_argv(tmp_path))
        out, err = capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("busy: ") and "Traceback" not in err
    assert snapshot(run_dir) == before
    assert meta(run_dir)["status"] == "failed"


def test_a_second_train_in_another_thread_is_busy(tmp_path):
    started, release, errors = threading.Event(), threading.Event(), []

    def first():
        def wait(row):
            started.set()
            release.wait(60)

        try:
            train(tiny_config(updates=2), tmp_path, progress=False, on_row=wait)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(120)
        with pytest.raises(RunBusy):
            train(tiny_config(updates=2), tmp_path, progress=False)
    finally:
        release.set()
        thread.join()
    assert not errors
    run_dir = tmp_path / run_id(tiny_config(updates=2))
    assert meta(run_dir)["status"] == "complete"


def test_the_lock_is_reentrant_in_one_thread_and_exclusive_across_handles(tmp_path):
    run_dir = tmp_path / "r"
    with holding_run(run_dir):
        with holding_run(run_dir):  # `npgbench run` and a sweep worker lock, then train does
            assert owns_run(run_dir)
        assert owns_run(run_dir)
        assert lock_run(run_dir) is None  # any other open file description is refused
    assert not owns_run(run_dir)
    assert lock_run(run_dir) is not None


@pytest.mark.parametrize("how", ["lock replaced", "directory moved"])
def test_a_writer_that_lost_the_lock_never_completes_the_run(tmp_path, how):
    cfg = tiny_config(updates=3)
    run_dir = tmp_path / run_id(cfg)
    moved = tmp_path / "moved"

    def take_away(row):
        if row["iteration"] != 1:
            return
        if how == "lock replaced":  # someone deleted .lock and a new process locked a new one
            (run_dir / ".lock").unlink()
            (run_dir / ".lock").write_text("")
        else:  # set aside (a redo of a corrupt run) while this writer still ran
            run_dir.rename(moved)

    with pytest.raises(LostRun):
        train(cfg, tmp_path, progress=False, on_row=take_away)
    for folder in (run_dir, moved):
        if (folder / "meta.json").exists():
            assert meta(folder)["status"] != "complete"
        assert not (folder / "policy.pt").exists()
