"""A checkpoint continues only its own run: another seed's, a crafted one, a directory or a
symlink in its place is refused with a warning and the run restarts from iteration 0; and a
complete run never keeps a checkpoint.pt."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
import torch
from npgbench.harness import cli
from npgbench.harness.core.identity import run_id
from npgbench.harness.runner import train
from npgbench.harness.tracking.checkpoint import FILENAME
from npgbench.harness.tracking.run_dir import RunDirectory
from reliability_fixtures import meta, run_argv, tiny_config

UPDATES = 4


class Stop(Exception):
    pass


def interrupted(out, seed: int = 0):
    """Stopped after update 3 (index 2), checkpointed after update 2."""
    cfg = tiny_config(seed, UPDATES, **{"checkpoint.every": 2})

    def stop(row):
        if row["iteration"] == 2:
            raise Stop

    with pytest.raises(Stop):
        train(cfg, out, progress=False, on_row=stop)
    run_dir = out / run_id(cfg)
    assert (run_dir / FILENAME).is_file()
    return cfg, run_dir


def comparable(run_dir):
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    return frame.drop(columns=[c for c in frame if c.startswith("time_") or c == "wall_time"])


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Uninterrupted seed-0 run: what every refused checkpoint must end up equal to."""
    return train(tiny_config(0, UPDATES), tmp_path_factory.mktemp("whole"), progress=False).run_dir


def rewrite(run_dir, change) -> None:
    state = torch.load(run_dir / FILENAME, weights_only=True)
    change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    (run_dir / FILENAME).write_bytes(buffer.getvalue())


def _rows(state, n):
    state["rows"] = state["rows"][:n]


def _renumber(state):
    state["rows"][0]["iteration"] = 1


@pytest.mark.parametrize(
    "spoil,warning",
    [
        (lambda s: s.update(iteration=1), "at iteration 1 holds 2 rows"),
        (lambda s: _rows(s, 1), "at iteration 2 holds 1 rows"),
        (_renumber, "not rows 0 .. 1"),
        (lambda s: s.update(iteration=4, rows=s["rows"] * 2), "at iteration 4 holds"),
        (lambda s: s.update(iteration=9), "at iteration 9 of a 4-iteration run"),
        (lambda s: s.update(iteration="2"), "at iteration '2'"),
        (lambda s: s.pop("run_id"), "of run None"),
        (lambda s: s.update(format=1), "not a format-2 npg-bench checkpoint"),
    ],
    ids=["iteration", "rows", "renumbered", "doubled", "past-end", "str", "unbound", "format1"],
)
def test_a_crafted_checkpoint_is_refused_and_the_run_redone_whole(tmp_path, whole, spoil, warning):
    cfg, run_dir = interrupted(tmp_path)
    rewrite(run_dir, spoil)
    got = train(cfg, tmp_path, progress=False).run_dir
    record = meta(got)
    assert record["status"] == "complete" and "resumed_at_iterations" not in record
    assert warning in record["checkpoint_warning"], record["checkpoint_warning"]
    assert "restarted from iteration 0" in record["checkpoint_warning"]
    pd.testing.assert_frame_equal(comparable(got), comparable(whole), check_exact=True)


def test_another_seeds_checkpoint_is_refused(tmp_path, whole):
    _, seed1 = interrupted(tmp_path / "s1", seed=1)
    cfg, run_dir = interrupted(tmp_path / "s0", seed=0)
    shutil.copyfile(seed1 / FILENAME, run_dir / FILENAME)  # same config hash, other seed
    got = train(cfg, tmp_path / "s0", progress=False).run_dir
    assert f"of run '{seed1.name}'" in meta(got)["checkpoint_warning"]
    pd.testing.assert_frame_equal(comparable(got), comparable(whole), check_exact=True)


@pytest.mark.parametrize("kind", ["directory", "symlink"])
def test_a_directory_or_symlink_at_checkpoint_pt_is_handled_like_a_corrupt_file(
    tmp_path, capsys, kind
):
    cfg, run_dir = interrupted(tmp_path / "out")
    victim = tmp_path / "victim.pt"
    shutil.move(run_dir / FILENAME, victim)  # a real checkpoint of this run, elsewhere
    if kind == "directory":
        (run_dir / FILENAME).mkdir()
        (run_dir / FILENAME / "x").write_text("x")
    else:
        (run_dir / FILENAME).symlink_to(victim)
    before = victim.read_bytes()
    for _ in range(2):  # every rerun, not only the first, ends without a traceback
        assert cli.main(run_argv(tmp_path / "out", 0, UPDATES, "--set=checkpoint.every=2")) == 0
        assert "Traceback" not in capsys.readouterr().err
    record = meta(run_dir)
    assert record["status"] == "complete" and not (run_dir / FILENAME).exists()
    assert victim.read_bytes() == before  # the link was removed, its target left alone


def test_meta_says_complete_only_once_the_checkpoint_is_gone(tmp_path, monkeypatch):
    seen = []
    original = RunDirectory.finish

    def finish(self, status, **fields):  # the moment of a kill right after completion
        seen.append((status, (self.path / FILENAME).exists()))
        original(self, status, **fields)

    monkeypatch.setattr(RunDirectory, "finish", finish)
    run_dir = train(
        tiny_config(updates=3, **{"checkpoint.every": 1}), tmp_path, progress=False
    ).run_dir
    assert seen == [("complete", False)]
    assert not (run_dir / FILENAME).exists()


def test_a_stale_checkpoint_beside_a_complete_run_is_removed_by_the_next_run(tmp_path, capsys):
    cfg, run_dir = interrupted(tmp_path)
    saved = (run_dir / FILENAME).read_bytes()
    train(cfg, tmp_path, progress=False)
    (run_dir / FILENAME).write_bytes(saved)  # what a kill after completion left before
    argv = run_argv(tmp_path, 0, UPDATES, "--set=checkpoint.every=2")
    assert cli.main(argv) == 0
    assert "already complete" in capsys.readouterr().out
    assert not (run_dir / FILENAME).exists() and meta(run_dir)["status"] == "complete"
