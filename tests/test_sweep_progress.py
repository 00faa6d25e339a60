"""The sweep's progress bar counts env steps while runs train (harness/sweep/progress.py): the
runner rewrites progress.json after every update, the parent reads it between results."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from npgbench.harness.core.returns import run_final_return
from npgbench.harness.core.run_files import PROGRESS, RunStatus, read_progress
from npgbench.harness.sweep import execute as sweep_execute
from npgbench.harness.sweep.grid import expand
from npgbench.harness.sweep.jobs import Job, make_jobs, run_task
from npgbench.harness.sweep.progress import StepProgress
from npgbench.harness.sweep.suite_checks import load_checked_suite
from npgbench.harness.tracking import run_dir as run_dir_module

SUITE = """
name = "bar"
envs = ["InvertedPendulum-v5"]
algos = ["ppo"]
seeds = [0, 1]
steps = 1000
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"eval.every" = 0
"value.epochs" = 2
"""
WANDB = {"mode": "disabled", "project": "p", "group": "g"}


class RecordingBar:
    """tqdm's methods that the sweep calls; keeps every update."""

    def __init__(self):
        self.n, self.updates = 0, []

    def update(self, n: int) -> None:
        self.n += n
        self.updates.append(n)

    def set_description(self, *args, **kwargs) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def tiny_jobs(tmp_path: Path) -> list[Job]:
    """2 runs of 4 updates of 256 steps (1000 requested: 1024 each, rounded as the runner)."""
    path = tmp_path / "bar.toml"
    path.write_text(SUITE)
    suite = load_checked_suite(path)
    return make_jobs(suite, expand(suite), tmp_path / "out", WANDB)


def test_the_bar_advances_by_env_steps_during_each_run(tmp_path, monkeypatch):
    """Each run is trained in a thread of this process by a stand-in executor that, after every
    progress.json write, yields a tick and lets the run go on only once the parent has looked:
    the bar moves at every update, and ends at the sum of the budgets."""
    written, looked = threading.Event(), threading.Event()
    real_write = run_dir_module.write_progress

    def write_then_wait(run_dir, step, total):
        real_write(run_dir, step, total)
        written.set()
        assert looked.wait(30), "the sweep never looked at the progress file"
        looked.clear()

    def threaded(jobs, backend, n_jobs, slurm=None, tick_s=None):
        assert tick_s is not None  # a bar is drawn: the executor must tick
        for job in jobs:
            box = []
            worker = threading.Thread(target=lambda job=job, box=box: box.append(run_task(job)))
            worker.start()
            while worker.is_alive():
                if written.wait(0.05):
                    written.clear()
                    yield None  # drive() reads the progress files before asking again
                    looked.set()
            yield box[0]

    monkeypatch.setattr(run_dir_module, "write_progress", write_then_wait)
    monkeypatch.setattr(sweep_execute, "execute", threaded)
    jobs, bar = tiny_jobs(tmp_path), RecordingBar()
    assert [j.env_steps for j in jobs] == [1024, 1024]
    results = sweep_execute.drive(jobs, "loky", 1, {}, quiet=True, bar=bar)
    assert [r.status for r in results] == [RunStatus.COMPLETE] * 2
    assert bar.n == sum(j.env_steps for j in jobs) == 2048
    assert bar.updates == [256] * 8  # one per update of each run, none left for the end
    assert not any((j.run_dir / PROGRESS).exists() for j in jobs)  # gone once finished


def test_a_real_sweep_ends_its_bar_at_the_total_env_steps(tmp_path):
    """Loky workers in other processes: whatever the parent saw while they ran, the bar ends
    at the sum of the budgets and never passes it."""
    jobs, bar = tiny_jobs(tmp_path), RecordingBar()
    results = sweep_execute.drive(jobs, "loky", 2, {}, quiet=True, bar=bar)
    assert [r.status for r in results] == [RunStatus.COMPLETE] * 2
    assert bar.n == 2048 and all(n > 0 for n in bar.updates)
    for r in results:  # train() returned it: the value the run directory yields
        assert r.final_return == run_final_return(Path(r.run_dir)) and r.wall_s > 0


@pytest.mark.parametrize(
    "content",
    [None, b"", b'{"step": ', b'{"step": -5}', b'{"step": "9"}', b"[1]", b'{"step": true}'],
)
def test_a_missing_or_partial_progress_file_is_no_news(tmp_path, content):
    jobs, bar = tiny_jobs(tmp_path), RecordingBar()
    progress = StepProgress(jobs, bar)
    jobs[0].run_dir.mkdir(parents=True)
    if content is not None:
        (jobs[0].run_dir / PROGRESS).write_bytes(content)
    assert read_progress(jobs[0].run_dir) is None
    progress.poll()
    assert bar.n == 0


def test_the_bar_never_goes_back_nor_past_a_budget(tmp_path):
    jobs, bar = tiny_jobs(tmp_path), RecordingBar()
    progress = StepProgress(jobs, bar)
    assert progress.total == 2048
    for step in (512, 256, 4096):  # a restarted run, a file from a bigger budget
        run_dir_module.write_progress(jobs[0].run_dir, step, 1024)
        progress.poll()
    assert bar.updates == [512, 512]
    progress.finished(jobs[0].run_id)
    progress.finished(jobs[1].run_id)
    assert bar.n == 2048


def test_a_killed_writers_temporary_files_go_when_the_run_restarts(tmp_path):
    """A SIGKILL mid-write leaves .<name>.<random>.tmp beside the file (atomic_write_bytes);
    the next writer of the run, holding its lock, removes them."""
    from npgbench.harness.tracking.run_dir import RunDirectory

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / ".metrics.parquet.0123456789ab.tmp").write_bytes(b"half")
    (run_dir / ".progress.json.0123456789ab.tmp").write_bytes(b'{"st')
    record = {"run_id": "r", "config_hash": "h", "algo": "ppo", "env": "e", "seed": 0}
    writer = RunDirectory(run_dir, record)
    writer.progress(256, 1024)
    assert read_progress(run_dir) == 256 and not list(run_dir.glob(".*.tmp"))
    writer.finish(RunStatus.FAILED, error="x")
    assert not (run_dir / PROGRESS).exists()
