"""Sweeps that really train (tiny runs): failure isolation, resume after SIGKILL, dask == loky,
and the W&B offline record read back. About a minute on 2 cores, most of it worker start-up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_inprocess import sweep_command
from npgbench.harness.sweep.command import main
from npgbench.harness.tracking.run_dir import read_json
from wandb_record import read_offline_run

TINY = """
name = "{name}"
envs = {envs}
algos = {algos}
seeds = {seeds}
steps = {steps}
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = {spu}
"eval.every" = 0
"value.epochs" = 2
"""
VOLATILE = ("wall_time",)  # plus every time_* column: the only columns allowed to differ


def suite(
    tmp_path: Path,
    name: str,
    envs=("InvertedPendulum-v5",),
    algos=("ppo",),
    seeds=(0, 1),
    steps=1024,
    spu=256,
    extra: str = "",
) -> str:
    text = TINY.format(
        name=name,
        envs=json.dumps(list(envs)),
        algos=json.dumps(list(algos)),
        seeds=list(seeds),
        steps=steps,
        spu=spu,
    )
    path = tmp_path / f"{name}.toml"
    path.write_text(text + extra)
    return str(path)


ALLOW = "--allow-env-module"  # the killer_env:... ids of tests/killer_env.py


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def comparable(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    return frame[[c for c in frame.columns if not c.startswith("time_") and c not in VOLATILE]]


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path, capsys, monkeypatch):
    # tests/killer_env.py: FailingPendulum raises at the first reset of run seed 0, inside the
    # run (bad input is refused before a sweep starts, so an error in the run is the case
    # left): the other run must finish and the sweep must report both.
    failing = "killer_env:FailingPendulum-v0"
    path = suite(tmp_path, "fail", envs=("InvertedPendulum-v5", failing), seeds=(0,), steps=512)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # loky workers import it
    out = tmp_path / "out"
    rc = main(["--suite", path, "--out", str(out), "--jobs", "2", "--wandb", "disabled", ALLOW])
    printed = capsys.readouterr().out
    assert rc == 1 and "complete 1, failed 1, skipped 0" in printed
    metas = {read_json(d / "meta.json")["env"]: read_json(d / "meta.json") for d in run_dirs(out)}
    assert metas["InvertedPendulum-v5"]["status"] == "complete"
    bad = metas[failing]
    assert bad["status"] == "failed" and "injected failure" in bad["error"]
    assert "Traceback" in bad["traceback"] and bad["suite"] == "fail" and bad["label"] == "ppo"
    assert main(["--suite", path, "--out", str(out), "--dry-run", ALLOW]) == 0
    assert "complete 1, failed 1" in capsys.readouterr().out


def test_sigkill_mid_sweep_then_rerun_completes_every_run_exactly_once(tmp_path):
    path = suite(tmp_path, "kill", algos=("ppo",), seeds=tuple(range(4)), steps=2048, spu=512)
    out = tmp_path / "out"
    cmd = sweep_command(path, out, "--jobs", "2", "--wandb", "disabled")
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline, statuses = time.time() + 120, []
    while time.time() < deadline and proc.poll() is None:
        statuses = [read_json(d / "meta.json") for d in run_dirs(out)] if out.exists() else []
        states = [m["status"] for m in statuses if m]
        if "complete" in states and "running" in states:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its loky workers, mid-write or not
    proc.wait()
    done_before = {
        m["run_id"]: m["finished_at"] for m in statuses if m and m["status"] == "complete"
    }
    assert done_before and len(done_before) < 4, "the kill must land mid-sweep"
    # Rerun in a subprocess with the W&B mirror on: it must also exit cleanly by itself.
    rerun = subprocess.run(cmd[:-1] + ["offline"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"skipped {len(done_before)}" in rerun.stdout
    dirs = run_dirs(out)
    assert len(dirs) == 4 and len({d.name.rsplit("__", 2)[1] for d in dirs}) == 4  # one per seed
    for d in dirs:
        meta = read_json(d / "meta.json")
        assert meta["status"] == "complete"
        assert list(pd.read_parquet(d / "metrics.parquet")["iteration"]) == list(range(4))
        assert not list(d.glob(".*.tmp")), "no temporary file survives"
        if d.name in done_before:  # complete before the kill: never run again
            assert meta["finished_at"] == done_before[d.name]


@pytest.fixture(scope="module")
def loky_offline(tmp_path_factory):
    """A tiny sweep on loky with W&B offline, shared by the W&B and dask tests."""
    tmp = tmp_path_factory.mktemp("loky")
    path = suite(tmp, "eq", algos=("ppo", "vanilla"), seeds=(0, 1))
    out = tmp / "out"
    rc = main(
        [
            "--suite",
            path,
            "--out",
            str(out),
            "--jobs",
            "2",
            "--wandb",
            "offline",
            "--set",
            "wandb.project=npg-test",
        ]
    )
    assert rc == 0
    return path, out


def test_wandb_offline_record_holds_config_metrics_and_summary(loky_offline):
    _, out = loky_offline
    dirs = run_dirs(out)
    assert len(dirs) == 4
    for d in dirs:
        record, metrics = read_offline_run(d, wait_s=30), pd.read_parquet(d / "metrics.parquet")
        meta = read_json(d / "meta.json")
        label, env = meta["label"], meta["env"]
        assert record["run"]["name"] == f"{label}__{env}__s{meta['seed']}"
        assert record["run"]["group"] == f"eq__{label}__{env}"
        assert record["run"]["job_type"] == label and record["run"]["project"] == "npg-test"
        assert record["config"]["sampler"]["num_envs"] == 2 and record["config"]["label"]
        assert record["config"]["run_id"] == d.name
        rows = [r for r in record["history"] if "global_step" in r]
        assert [r["global_step"] for r in rows] == list(metrics["step"])
        assert [r["losses/kl"] for r in rows] == pytest.approx(list(metrics["kl"]))
        assert record["summary"]["status"] == "complete" and record["exit_code"] == 0


def test_dask_local_cluster_gives_the_same_metrics_as_loky(loky_offline, tmp_path):
    path, loky_out = loky_offline
    out = tmp_path / "dask"
    rc = main(
        [
            "--suite",
            path,
            "--out",
            str(out),
            "--backend",
            "dask",
            "--jobs",
            "2",
            "--wandb",
            "disabled",
        ]
    )
    assert rc == 0
    names = [d.name for d in run_dirs(out)]
    assert names == [d.name for d in run_dirs(loky_out)]
    for name in names:
        pd.testing.assert_frame_equal(comparable(out / name), comparable(loky_out / name))
        assert read_json(out / name / "meta.json")["label"] in ("ppo", "vanilla")
        assert not (out / name / "wandb").exists()  # disabled means no W&B files at all


def test_a_worker_killed_mid_sweep_fails_only_its_own_run(tmp_path):
    # tests/killer_env.py: the env SIGKILLs its own process at the first reset of run seed 0,
    # as the OOM killer would. With 2 workers a second run is in flight when the pool breaks:
    # both are rerun alone, which convicts seed 0 and completes the other.
    path = suite(tmp_path, "die", envs=("killer_env:KillerPendulum-v0",), seeds=range(4), steps=512)
    out = tmp_path / "out"
    cmd = sweep_command(path, out)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # workers import killer_env
    proc = subprocess.Popen(
        [*cmd, "--jobs", "2", "--wandb", "offline", ALLOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "complete 3, failed 1, skipped 0" in stdout, stderr
    assert "worker died (signal 9, SIGKILL)" in stdout and "Traceback" not in stderr
    assert "leaked" not in stderr  # every semaphore of the broken pools was freed
    metas = {read_json(d / "meta.json")["seed"]: read_json(d / "meta.json") for d in run_dirs(out)}
    assert sorted(metas) == list(range(4))
    assert metas[0]["status"] == "failed"
    assert metas[0]["error"] == "worker died (signal 9, SIGKILL)" and metas[0]["suite"] == "die"
    assert all(metas[s]["status"] == "complete" for s in range(1, 4))
    # Nothing of this sweep is left in /tmp (the workers' private TMPDIR) or in /dev/shm
    # (joblib memmapping folders, loky semaphores: both named after the parent's pid).
    tag = re.compile(rf"(^|\D){proc.pid}(\D|$)")
    assert not [
        p for p in Path(tempfile.gettempdir()).glob("npgbench-sweep-*") if tag.search(p.name)
    ]
    if Path("/dev/shm").is_dir():
        assert not [p for p in Path("/dev/shm").iterdir() if tag.search(p.name)]


def descendants(pid: int) -> list[int]:
    """Every process below pid (Linux /proc; [] elsewhere)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")"
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_sigterm_is_handled_like_ctrl_c_and_the_sweep_resumes(tmp_path):
    path = suite(tmp_path, "term", algos=("ppo",), seeds=tuple(range(4)), steps=4096, spu=512)
    out = tmp_path / "out"
    cmd = sweep_command(path, out)
    cmd += ["--jobs", "2", "--wandb", "disabled"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        metas = [read_json(d / "meta.json") for d in run_dirs(out)] if out.exists() else []
        if any(m and m["status"] == "running" for m in metas):
            break
        time.sleep(0.05)
    workers = descendants(proc.pid)
    assert workers or not Path("/proc/self/stat").exists(), "no worker process found"
    proc.send_signal(signal.SIGTERM)  # the parent only, as Slurm's scancel or a walltime does
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr and "rerun the same command" in stderr
    assert "Traceback" not in stderr
    # Its workers died with it (on a loaded machine that can take a moment): none is left,
    # and no run directory changes afterwards.
    deadline = time.time() + 30
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "workers outlived the sweep"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    time.sleep(2.0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    # Resumable: the plan keeps what completed and lists the rest (resume itself is proven
    # after a SIGKILL above).
    plan = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, timeout=120)
    # a worker killed between creating its run directory and writing meta.json leaves none
    metas = [read_json(d / "meta.json") or {} for d in run_dirs(out)]
    done = sum(m.get("status") == "complete" for m in metas)
    assert plan.returncode == 0 and f"work left: {4 - done} runs" in plan.stdout, plan.stdout
    assert done < 4


def test_submitit_local_executor_runs_the_sweep_and_survives_a_killed_job(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    # No sbatch here: submitit's AutoExecutor runs each run as a local process; seed 0's
    # process SIGKILLs itself (tests/killer_env.py), seed 1 completes.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    path = suite(tmp_path, "sub", envs=("killer_env:KillerPendulum-v0",), seeds=(0, 1), steps=512)
    out = tmp_path / "out"
    args = ["--suite", path, "--out", str(out), "--backend", "submitit", "--jobs", "2", ALLOW]
    assert main([*args, "--wandb", "disabled", "--slurm", "partition=cpu"]) == 1
    metas = {read_json(d / "meta.json")["seed"]: read_json(d / "meta.json") for d in run_dirs(out)}
    assert metas[1]["status"] == "complete"
    assert metas[0]["status"] == "failed" and metas[0]["error"].startswith("worker died (submitit")
    (done,) = [d for d in run_dirs(out) if read_json(d / "meta.json")["status"] == "complete"]
    assert list(pd.read_parquet(done / "metrics.parquet")["iteration"]) == [0, 1]


def test_a_dask_worker_killed_by_its_task_fails_only_that_run(tmp_path, monkeypatch):
    # dask retries the task on other workers (the nanny restarts each one), then gives up with
    # KilledWorker: that run is recorded failed, the other completes.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    path = suite(tmp_path, "dd", envs=("killer_env:KillerPendulum-v0",), seeds=(0, 1), steps=512)
    out = tmp_path / "out"
    args = ["--suite", path, "--out", str(out), "--backend", "dask", "--jobs", "2", ALLOW]
    assert main([*args, "--wandb", "disabled"]) == 1
    metas = {read_json(d / "meta.json")["seed"]: read_json(d / "meta.json") for d in run_dirs(out)}
    assert metas[1]["status"] == "complete"
    assert metas[0]["status"] == "failed"
    assert metas[0]["error"].startswith("worker died (KilledWorker")
