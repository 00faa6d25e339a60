"""Watching runs: progress lines when no terminal shows a bar, and TensorBoard event files
with the W&B mirror's keys, from `npgbench run` and `npgbench sweep` (in process)."""

from __future__ import annotations

import io
import sys

import pandas as pd
import pytest
from npgbench.harness.cli import main
from npgbench.harness.tracking.live import ProgressLines

TINY = ["--set", "sampler.num_envs=2", "--set", "sampler.steps_per_update=256"]
TINY += ["--set", "value.epochs=1", "--wandb", "disabled"]


def run_args(tmp_path, iterations: int) -> list[str]:
    return ["run", "--algo", "npg_cg", "--env", "InvertedPendulum-v5", "--out", str(tmp_path),
            "--steps", str(256 * iterations), *TINY]  # fmt: skip


def test_a_run_in_a_log_prints_a_line_per_tenth_of_the_run(tmp_path, capsys):
    assert main(run_args(tmp_path, 20)) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ": iteration " in ln]
    assert [ln.split("iteration ")[1].split(",")[0] for ln in lines] == [
        f"{i}/20" for i in range(2, 21, 2)
    ]
    assert lines[-1].startswith("npg_cg InvertedPendulum-v5 s0: iteration 20/20, 5,120 steps")
    assert lines[-1].endswith("steps/s") and "return " in lines[-1]


def test_quiet_prints_no_progress(tmp_path, capsys):
    assert main([*run_args(tmp_path, 4), "--quiet"]) == 0
    assert ": iteration " not in capsys.readouterr().err


def test_progress_lines_follow_the_update_count_or_the_clock():
    rows = [{"iteration": i, "step": 256 * (i + 1), "wall_time": 1.0 + i} for i in range(7)]
    every_update = io.StringIO()
    lines = ProgressLines("x", 7, every=100, seconds=0.0, stream=every_update)
    sparse = io.StringIO()
    quiet = ProgressLines("x", 7, every=3, seconds=1e9, stream=sparse)
    for row in rows:
        lines.on_row(row)
        quiet.on_row(row)
    assert len(every_update.getvalue().splitlines()) == 7  # a minute (here 0 s) has passed
    assert [ln.split("iteration ")[1][:3] for ln in sparse.getvalue().splitlines()] == [
        "3/7",
        "6/7",
        "7/7",  # and the last
    ]


def event_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_events_hold_the_wandb_keys_and_the_parquet_values(tmp_path):
    pytest.importorskip("tensorboard")
    assert main([*run_args(tmp_path, 3), "--quiet", "--tensorboard"]) == 0
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    scalars = event_scalars(run_dir)
    assert {"losses/kl", "update/beta", "charts/SPS", "time/iterations"} <= set(scalars)
    assert [s for s, _ in scalars["losses/kl"]] == list(metrics["step"])
    assert [v for _, v in scalars["losses/kl"]] == pytest.approx(list(metrics["kl"]), rel=1e-6)


def test_a_sweep_writes_tensorboard_events_in_each_run(tmp_path):
    pytest.importorskip("tensorboard")
    suite = tmp_path / "tb.toml"
    suite.write_text(
        'name = "tb"\nenvs = ["InvertedPendulum-v5"]\nalgos = ["vanilla"]\nseeds = [0]\n'
        'steps = 512\n[overrides]\n"sampler.num_envs" = 2\n"sampler.steps_per_update" = 256\n'
    )
    out = tmp_path / "out"
    args = ["sweep", "--suite", str(suite), "--out", str(out), "--jobs", "1", "--quiet"]
    assert main([*args, "--wandb", "disabled", "--tensorboard"]) == 0
    (run_dir,) = [d for d in out.iterdir() if (d / "meta.json").is_file()]
    assert [s for s, _ in event_scalars(run_dir)["charts/episodic_return"]][-1] == 512


def test_tensorboard_without_the_package_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import raises ImportError
    assert main([*run_args(tmp_path, 2), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: --tensorboard needs the tensorboard package: pip install 'npg-bench[tensorboard]'"
    ]
    assert not any(tmp_path.iterdir())
