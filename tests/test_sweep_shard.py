"""Slurm path: --shard I/N partitions the grid, stably under resume; the
dask-jobqueue recipe and the job-array script in examples/slurm/ run here on a local cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from npgbench.harness.core.identity import config_record
from npgbench.harness.sweep.command import main
from npgbench.harness.sweep.grid import expand
from npgbench.harness.sweep.shard import shard_tasks
from npgbench.harness.sweep.suite_checks import load_checked_suite
from npgbench.harness.tracking.run_dir import read_json

ROOT = Path(__file__).resolve().parent.parent
SLURM = ROOT / "examples" / "slurm"
GRID = """
name = "sh"
envs = ["InvertedPendulum-v5", "Hopper-v5"]
algos = ["ppo", "vanilla"]
seeds = [0, 1, 2]
steps = 512
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"eval.every" = 0
"value.epochs" = 2
[grid]
"update.lr" = [1e-3, 3e-4, 1e-4]
"""


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "sh.toml"
    path.write_text(textwrap.dedent(GRID))
    return path


def planned_ids(args: list[str], capsys) -> list[str]:
    assert main([*args, "--dry-run"]) == 0
    return [line.split()[-1] for line in capsys.readouterr().out.splitlines() if "__s" in line]


@pytest.mark.parametrize("count", [1, 2, 5, 7, 36, 40])
def test_shards_partition_the_grid_exactly(grid_file, count):
    tasks = expand(load_checked_suite(grid_file))
    assert len(tasks) == 36  # (ppo 3 + vanilla 3 lr) x 2 envs x 3 seeds
    shards = [[t.run_id for t in shard_tasks(tasks, i, count)] for i in range(count)]
    flat = [rid for shard in shards for rid in shard]
    assert sorted(flat) == sorted(t.run_id for t in tasks)  # union = grid, no run twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced


def test_a_shard_is_the_same_runs_whatever_is_complete(grid_file, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--suite", str(grid_file), "--out", str(out)]
    first = planned_ids([*args, "--shard", "1/4"], capsys)
    # Mark runs of every shard complete, as other array tasks would have: shard 1 still plans
    # the same 9 runs (complete ones listed as complete, never reassigned).
    for task in expand(load_checked_suite(grid_file))[::3]:
        (out / task.run_id).mkdir(parents=True)
        (out / task.run_id / "config.json").write_text(json.dumps(config_record(task.cfg)))
        (out / task.run_id / "meta.json").write_text(json.dumps({"status": "complete"}))
    assert planned_ids([*args, "--shard", "1/4"], capsys) == first and len(first) == 9
    everything = set()
    for i in range(4):
        everything |= set(planned_ids([*args, "--shard", f"{i}/4"], capsys))
    assert everything == {t.run_id for t in expand(load_checked_suite(grid_file))}


@pytest.mark.parametrize("shard", ["4/4", "-1/3", "1", "a/b", "1/0"])
def test_a_bad_shard_is_one_line_exit_2(grid_file, tmp_path, capsys, shard):
    assert main(["--suite", str(grid_file), f"--shard={shard}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected I/N with 0 <= I < N" in err[0], err
    assert not (tmp_path / "o").exists()


def test_the_job_array_script_runs_its_shard(grid_file, tmp_path, capsys):
    expected = planned_ids(["--suite", str(grid_file), "--shard", "2/3"], capsys)
    env = {
        **os.environ,
        "VENV": "",  # the test's environment is already active
        "PATH": f"{Path(shutil.which('npgbench') or sys.executable).parent}:{os.environ['PATH']}",
        "SUITE": str(grid_file),
        "OUT": str(tmp_path / "out"),
        "SLURM_ARRAY_TASK_ID": "2",
        "SLURM_ARRAY_TASK_COUNT": "3",
    }
    script = SLURM / "sweep_array.sbatch"
    result = subprocess.run(
        ["bash", str(script), "--dry-run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    ids = [line.split()[-1] for line in result.stdout.splitlines() if "__s" in line]
    assert ids == expected and len(ids) == 12


def test_the_dask_recipe_serves_a_local_cluster_until_sigterm(tmp_path):
    address_file = tmp_path / "scheduler.txt"
    recipe = subprocess.Popen(
        [sys.executable, str(SLURM / "dask_cluster.py"), "--local", "--max-jobs", "2"]
        + ["--port", "0", "--address-file", str(address_file)],
        stdin=subprocess.DEVNULL,  # no tty and no input(): it must stay up by itself
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.time() + 120
        while not address_file.exists() and recipe.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert address_file.exists(), recipe.communicate(timeout=5)
        suite = tmp_path / "tiny.toml"
        suite.write_text(textwrap.dedent(GRID).replace("[0, 1, 2]", "[0]").split("[grid]")[0])
        out = tmp_path / "out"
        args = ["--suite", str(suite), "--algos", "vanilla", "--envs", "InvertedPendulum-v5"]
        rc = main([*args, "--scheduler", address_file.read_text().strip(), "--out", str(out)])
        assert rc == 0
        (meta,) = [read_json(p) for p in out.glob("*/meta.json")]
        assert meta["status"] == "complete"
        assert recipe.poll() is None  # still serving after the sweep
    finally:
        recipe.send_signal(signal.SIGTERM)
        stdout, _ = recipe.communicate(timeout=60)
    assert recipe.returncode == 0 and "stopping the cluster" in stdout
    assert not address_file.exists()


def test_the_slurm_job_script_has_queue_account_interface_logs_and_lifetime(tmp_path):
    pytest.importorskip("dask_jobqueue")
    logs = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, str(SLURM / "dask_cluster.py"), "--print-job-script", "--port", "0"]
        + ["--queue", "cpu", "--account", "proj", "--interface", "lo", "--log-dir", str(logs)]
        + ["--prologue", "source /shared/venv/bin/activate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    script = result.stdout
    for part in ["-p cpu", "-A proj", "--interface lo", f"-o {logs}/", "-t 08:00:00"]:
        assert part in script, (part, script)
    assert "--lifetime=7h30m" in script and "--lifetime-stagger=10m" in script
    assert "--nthreads 1" in script and "source /shared/venv/bin/activate" in script
