"""The W&B offline record read back: tags, namespaced keys, SPS, the variant label, run
identity in the config, a fresh id for every attempt that starts from scratch, and a killed
and resumed run whose record holds every row once. About 40 s (wandb-core)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time

import pandas as pd
import pytest
from npgbench.harness.core.returns import run_final_return as final_return
from npgbench.harness.sweep.command import main
from npgbench.harness.tracking.run_dir import atomic_write_json, read_json
from npgbench.harness.tracking.wandb_mirror import npg_bench_version, resolve_mode
from wandb_record import offline_records, read_offline_run

SUITE = """
name = "wb"
envs = ["InvertedPendulum-v5"]
algos = []
seeds = [0]
steps = 512
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"value.epochs" = 1
"eval.every" = 1
"eval.episodes" = 1
"max_episode_steps" = 50
[variants.trpo_lowdamp]
algo = "trpo"
overrides = { "update.damping" = 0.01 }
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One offline sweep of the variant; returns (suite path, out, run dir)."""
    tmp = tmp_path_factory.mktemp("wb")
    path, out = tmp / "wb.toml", tmp / "out"
    path.write_text(SUITE)
    args = ["--suite", str(path), "--out", str(out), "--jobs", "1", "--wandb", "offline"]
    assert main(args) == 0
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    return args, run_dir


def test_the_record_shows_the_label_tags_group_and_run_identity(swept):
    _, run_dir = swept
    record, meta = read_offline_run(run_dir, wait_s=30), read_json(run_dir / "meta.json")
    run, config = record["run"], record["config"]
    assert run["name"] == "trpo_lowdamp__InvertedPendulum-v5__s0"
    assert run["job_type"] == "trpo_lowdamp"
    assert run["group"] == "wb__trpo_lowdamp__InvertedPendulum-v5"  # seeds of one variant
    assert run["tags"] == [
        "suite:wb",
        "env:InvertedPendulum-v5",
        "algo:trpo",
        "label:trpo_lowdamp",
        f"npg-bench:{npg_bench_version()}",
    ]
    assert config["run_id"] == run_dir.name == meta["run_id"]
    assert config["config_hash"] == meta["config_hash"] and config["git_sha"] == meta["git_sha"]
    assert config["versions"] == meta["versions"] and config["npg_bench_version"]
    assert config["update"]["damping"] == 0.01 and config["label"] == "trpo_lowdamp"


def test_the_history_has_namespaced_keys_sps_and_the_parquet_values(swept):
    _, run_dir = swept
    record = read_offline_run(run_dir, wait_s=30)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    rows = [r for r in record["history"] if "global_step" in r]
    assert [r["global_step"] for r in rows] == list(metrics["step"])
    logged = {k for r in rows for k in r if not k.startswith("_")}
    assert logged and all(k == "global_step" or "/" in k for k in logged), logged
    assert not [k for k in logged if k.startswith("other/")]
    assert [r["losses/kl"] for r in rows] == pytest.approx(list(metrics["kl"]))
    assert [r["charts/eval_return"] for r in rows] == pytest.approx(
        list(metrics["eval_return_mean"])
    )
    assert [r["update/accepted"] for r in rows] == [int(a) for a in metrics["accepted"]]
    sps = [r["charts/SPS"] for r in rows]
    assert sps == pytest.approx(list(metrics["step"] / metrics["wall_time"])) and min(sps) > 0
    summary = record["summary"]
    assert summary["status"] == "complete" and record["exit_code"] == 0
    assert summary["final_return"] == pytest.approx(final_return(run_dir))
    assert math.isfinite(summary["final_return"]) and summary["charts/SPS"] == sps[-1]


def test_a_second_attempt_of_the_same_run_is_a_new_wandb_run(swept):
    args, run_dir = swept
    first = read_offline_run(run_dir, wait_s=30)["run"]["id"]
    meta = read_json(run_dir / "meta.json")
    atomic_write_json(run_dir / "meta.json", {**meta, "status": "failed"})  # as if it crashed
    assert main(args) == 0
    second = read_offline_run(run_dir, wait_s=30)
    assert second["run"]["id"] != first  # a synced first attempt never gets the new rows
    assert first.startswith(run_dir.name) and second["run"]["id"].startswith(run_dir.name)
    assert len(offline_records(run_dir)) == 1  # the earlier record is moved aside, kept
    (kept,) = (run_dir / "wandb" / "superseded").glob("offline-run-*")
    assert kept.name.endswith(first)
    steps = [r["_step"] for r in second["history"] if "_step" in r]
    assert steps[0] == 0 and second["run"]["name"] == "trpo_lowdamp__InvertedPendulum-v5__s0"


def test_auto_follows_wandb_mode_then_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for env, want in [("offline", "offline"), ("dryrun", "offline"), ("disabled", "disabled")]:
        monkeypatch.setenv("WANDB_MODE", env)
        assert resolve_mode("auto") == want
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode("auto") == "offline"  # no credentials
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode("auto") == "online" and resolve_mode("disabled") == "disabled"


def test_run_and_sweep_default_to_the_same_mode():
    from npgbench.harness.cli import build_parser
    from npgbench.harness.core.config import RunConfig
    from npgbench.harness.sweep.grid import wandb_settings
    from npgbench.harness.sweep.suite_checks import load_checked_suite

    suite = load_checked_suite("quickstart")
    assert wandb_settings(suite, {}).mode == RunConfig().wandb.mode == "auto"
    run = build_parser().parse_args(["run", "--algo", "ppo", "--env", "Hopper-v5"])
    assert run.wandb is None  # falls back to wandb.mode, like the sweep
    assert json.loads(json.dumps(RunConfig().wandb.__dict__))["mode"] == "auto"


def test_npgbench_run_mirrors_with_the_same_names_and_a_fresh_id_per_attempt(tmp_path):
    from npgbench.harness.cli import main as cli

    args = ["run", "--algo", "vanilla", "--env", "InvertedPendulum-v5", "--steps", "256"]
    args += ["--out", str(tmp_path), "--wandb", "offline", "--quiet"]
    args += ["--set", "sampler.num_envs=2", "--set", "sampler.steps_per_update=256"]
    assert cli(args) == 0
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    first = read_offline_run(run_dir, wait_s=30)
    assert first["run"]["name"] == "vanilla__InvertedPendulum-v5__s0"
    assert first["run"]["group"] == "vanilla__InvertedPendulum-v5"  # no suite: label__env
    assert first["run"]["tags"][:3] == ["env:InvertedPendulum-v5", "algo:vanilla", "label:vanilla"]
    assert first["config"]["run_id"] == run_dir.name and first["summary"]["status"] == "complete"
    meta = read_json(run_dir / "meta.json")
    atomic_write_json(run_dir / "meta.json", {**meta, "status": "failed"})
    assert cli(args) == 0
    assert read_offline_run(run_dir, wait_s=30)["run"]["id"] != first["run"]["id"]


def test_a_killed_and_resumed_run_continues_its_wandb_run_with_every_row_once(tmp_path):
    from npgbench.harness.cli import main as cli

    npgbench = shutil.which("npgbench")
    assert npgbench, "console script npgbench is not installed"
    args = ["run", "--algo", "npg_cg", "--env", "InvertedPendulum-v5", "--steps", str(256 * 40)]
    args += ["--out", str(tmp_path), "--wandb", "offline", "--quiet"]
    for setting in ("sampler.num_envs=2", "sampler.steps_per_update=256", "checkpoint.every=2"):
        args += ["--set", setting]
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # its own wandb-core
    proc = subprocess.Popen(
        [npgbench, *args], start_new_session=True, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.time() + 120
    while not list(tmp_path.glob("*/checkpoint.pt")) and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its wandb-core, mid-iteration or not
    proc.wait()
    (run_dir,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert cli(args) == 0 and read_json(run_dir / "meta.json")["resumed_at_iterations"][0] >= 2
    record = read_offline_run(run_dir, wait_s=30)
    steps = [r["global_step"] for r in record["history"] if "global_step" in r]
    assert steps == list(pd.read_parquet(run_dir / "metrics.parquet")["step"])  # each row once
    assert record["summary"]["status"] == "complete"
    # the killed attempt's record (wandb-core may have written none of it) is kept, and the
    # resumed attempt continued its W&B run id
    (kept,) = (run_dir / "wandb" / "superseded").glob("offline-run-*")
    assert list(kept.glob("run-*.wandb")) and kept.name.endswith(f"-{record['run']['id']}")


def test_the_wandb_summary_keeps_the_runs_final_return_when_the_mirror_saw_no_rows():
    # A run another process completed just before this worker took its lock: train() reads
    # its final return from the directory, the mirror was given no rows.
    import time

    from npgbench.harness.core.run_files import RunStatus
    from npgbench.harness.sweep.jobs import RunResult, _finish_mirror

    class Mirror:
        def finish(self, summary=None, exit_code=0, timeout=60.0):
            self.summary, self.exit_code = summary, exit_code

    mirror = Mirror()
    done = RunResult("r", "npg_cg", "Hopper-v5", 0, "/r", RunStatus.COMPLETE, final_return=12.5)
    _finish_mirror(mirror, done, time.time())
    assert mirror.summary["final_return"] == 12.5 and mirror.exit_code == 0
    _finish_mirror(mirror, RunResult("r", "npg_cg", "Hopper-v5", 0, "/r"), time.time())
    assert "final_return" not in mirror.summary and mirror.exit_code == 1
