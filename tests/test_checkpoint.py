"""Mid-run checkpoints: a run interrupted at any iteration and resumed equals the uninterrupted
run (metrics.parquet without timings, policy.pt), for every registered variant."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from cli_inprocess import sweep_command
from npgbench.algorithms import ALGORITHMS, Variant
from npgbench.algorithms.ppo import PPOConfig, PPOUpdater
from npgbench.harness.core.identity import run_id
from npgbench.harness.core.policy import GaussianPolicy, ValueNet
from npgbench.harness.core.rollout import Sampler
from npgbench.harness.runner import resolve_config, train
from npgbench.harness.tracking.checkpoint import FILENAME

ITERATIONS = 5
STEPS = 256 * ITERATIONS
RESUME_CASE = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "value.epochs": 2,
    "eval.every": 2,
    "eval.episodes": 1,
    "eval.sampled": True,
    "max_episode_steps": 40,  # a tiny Hopper policy falls (terminates) and some reach 40
}
NPGBENCH = shutil.which("npgbench")


class Interrupt(Exception):
    """Raised from on_row: the run stops right after that iteration's row was logged."""


def interrupt_at(iteration: int):
    def on_row(row: dict) -> None:
        if row["iteration"] == iteration:
            raise Interrupt

    return on_row


def comparable(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    return frame.drop(columns=[c for c in frame if c.startswith("time_") or c == "wall_time"])


def assert_same_run(got: Path, want: Path) -> None:
    pd.testing.assert_frame_equal(comparable(got), comparable(want), check_exact=True)
    a = torch.load(got / "policy.pt", weights_only=True)
    b = torch.load(want / "policy.pt", weights_only=True)
    for part in ("policy", "value"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key} differs"
    assert not (got / FILENAME).exists(), "a complete run keeps no checkpoint"


def meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def config(algo: str = "npg_cg", **extra):
    return resolve_config(algo, "Hopper-v5", 3, STEPS, {**RESUME_CASE, **extra})


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(tmp_path, algo):
    want = train(config(algo), tmp_path / "whole", progress=False).run_dir
    stop = random.Random(algo).randrange(2, ITERATIONS)  # iteration index the run dies after
    cfg = config(algo, **{"checkpoint.every": 2})  # saves after iterations 2 and 4
    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut", progress=False, on_row=interrupt_at(stop))
    run_dir = tmp_path / "cut" / run_id(cfg)
    assert (run_dir / FILENAME).exists() and meta(run_dir)["status"] == "failed"
    got = train(cfg, tmp_path / "cut", progress=False).run_dir
    assert meta(got)["resumed_at_iterations"] == [stop // 2 * 2]
    assert_same_run(got, want)


def test_the_resume_case_ends_episodes_by_termination_and_by_truncation():
    cfg = config()
    sampler = Sampler(cfg.env, cfg.sampler, cfg.max_episode_steps, 0)
    policy = GaussianPolicy(sampler.obs_dim, sampler.act_dim, cfg.policy)
    value = ValueNet(sampler.obs_dim, cfg.value)
    lengths = sampler.collect(policy, value, torch.Generator().manual_seed(0)).episode_lengths
    sampler.close()
    assert any(n < 40 for n in lengths) and any(n == 40 for n in lengths), lengths


def test_checkpoint_settings_keep_the_run_id():
    assert run_id(config(**{"checkpoint.every": 7})) == run_id(config(**{"checkpoint.every": 0}))


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory) -> Path:
    return train(config(), tmp_path_factory.mktemp("whole"), progress=False).run_dir


def interrupted(out: Path) -> Path:
    """An npg_cg run stopped after 3 iterations with a checkpoint after iteration 2."""
    cfg = config(**{"checkpoint.every": 2})
    with pytest.raises(Interrupt):
        train(cfg, out, progress=False, on_row=interrupt_at(2))
    return out / run_id(cfg)


def rewrite_checkpoint(run_dir: Path, change) -> None:
    state = torch.load(run_dir / FILENAME, weights_only=True)
    change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    (run_dir / FILENAME).write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "spoil,warning",
    [
        (lambda d: (d / FILENAME).write_bytes(b"not a checkpoint"), "corrupt checkpoint.pt"),
        (
            lambda d: (d / FILENAME).write_bytes((d / FILENAME).read_bytes()[:5000]),
            "corrupt checkpoint.pt",
        ),
        (
            lambda d: rewrite_checkpoint(d, lambda s: s.update(config_hash="deadbeef")),
            "checkpoint.pt of config 'deadbeef'",
        ),
        (
            lambda d: rewrite_checkpoint(d, lambda s: s["trainer"].pop("sampler")),
            "checkpoint.pt did not fit this run (KeyError",
        ),
        (
            lambda d: rewrite_checkpoint(d, lambda s: s.pop("iteration")),
            "checkpoint.pt did not fit this run (KeyError",
        ),
        (  # weights_only loading refuses pickled objects: nothing in the file is executed
            lambda d: torch.save({"format": 1, "trainer": StatelessUpdater}, d / FILENAME),
            "corrupt checkpoint.pt (UnpicklingError",
        ),
    ],
    ids=["garbage", "truncated", "other-config", "missing-state", "no-iteration", "code"],
)
def test_an_unusable_checkpoint_restarts_from_zero_with_a_warning(
    tmp_path, whole_run, spoil, warning
):
    run_dir = interrupted(tmp_path)
    spoil(run_dir)
    got = train(config(), tmp_path, progress=False).run_dir
    record = meta(got)
    assert record["status"] == "complete"
    assert warning in record["checkpoint_warning"]
    assert "restarted from iteration 0" in record["checkpoint_warning"]
    assert "resumed_at_iterations" not in record
    assert_same_run(got, whole_run)


class StatelessUpdater:
    """A plugin updater without state_dict(): it cannot be checkpointed."""

    def __init__(self, policy, cfg, seed, diagnostics=None):
        self.inner = PPOUpdater(policy, cfg, seed)

    def update(self, batch):
        return self.inner.update(batch)


def test_an_updater_without_state_keeps_no_checkpoint_and_restarts(tmp_path, monkeypatch):
    monkeypatch.setitem(ALGORITHMS, "plugin", Variant("test plugin", PPOConfig, StatelessUpdater))
    cfg = config("plugin", **{"checkpoint.every": 1})
    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut", progress=False, on_row=interrupt_at(2))
    run_dir = tmp_path / "cut" / run_id(cfg)
    assert not (run_dir / FILENAME).exists()
    assert "StatelessUpdater has no state_dict()" in meta(run_dir)["checkpoint_unsupported"]
    got = train(cfg, tmp_path / "cut", progress=False).run_dir
    assert_same_run(got, train(cfg, tmp_path / "whole", progress=False).run_dir)


def test_an_env_without_state_support_keeps_no_checkpoint(tmp_path, tiny_overrides):
    cfg = resolve_config("npg_cg", "Pendulum-v1", 0, 768, {**tiny_overrides, "checkpoint.every": 1})
    run_dir = train(cfg, tmp_path, progress=False).run_dir
    assert "is not a MuJoCo env" in meta(run_dir)["checkpoint_unsupported"]
    assert meta(run_dir)["status"] == "complete" and not (run_dir / FILENAME).exists()


def test_analysis_ignores_the_checkpoint_of_an_incomplete_run(tmp_path):
    from npgbench.analysis.data.load import load_runs

    run_dir = interrupted(tmp_path)
    assert (run_dir / FILENAME).exists()
    found = load_runs(tmp_path)
    assert found.frame.empty and list(found.runs["status"]) == ["failed"]


@pytest.mark.parametrize(
    "signum,raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)]
)
def test_a_signal_is_held_until_the_iteration_ends_then_checkpointed(
    tmp_path, whole_run, signum, raised
):
    ignored = signal.getsignal(signum) is signal.SIG_IGN
    if ignored:  # pytest started with it ignored (nohup, a background job), which a run keeps
        usual = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        signal.signal(signum, usual)
    before = signal.getsignal(signum)
    cfg = config(**{"checkpoint.every": 0})  # only the signal writes a checkpoint

    def signal_during(row: dict) -> None:
        if row["iteration"] == 2:
            signal.raise_signal(signum)

    try:
        with pytest.raises(raised):
            train(cfg, tmp_path, progress=False, on_row=signal_during)
        assert signal.getsignal(signum) is before, "the run's handler outlived it"
    finally:
        if ignored:
            signal.signal(signum, signal.SIG_IGN)
    run_dir = tmp_path / run_id(cfg)
    assert torch.load(run_dir / FILENAME, weights_only=True)["iteration"] == 3
    got = train(cfg, tmp_path, progress=False).run_dir
    assert meta(got)["resumed_at_iterations"] == [3]
    assert_same_run(got, whole_run)


def test_a_sigterm_cli_run_exits_143_and_the_rerun_resumes_exactly(tmp_path, whole_run):
    assert NPGBENCH, "console script npgbench is not installed"
    args = [NPGBENCH, "run", "--algo", "npg_cg", "--env", "Hopper-v5", "--seed", "3"]
    args += ["--steps", str(STEPS), "--out", str(tmp_path), "--quiet"]
    args += [token for k, v in RESUME_CASE.items() for token in ("--set", f"{k}={v}")]
    run_dir = tmp_path / whole_run.name
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_dir / "metrics.parquet").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        "error: terminated by SIGTERM; rerun to continue from the last checkpoint"
    )
    assert "Traceback" not in err
    saved = torch.load(run_dir / FILENAME, weights_only=True)["iteration"]
    assert saved == len(pd.read_parquet(run_dir / "metrics.parquet"))
    assert meta(run_dir)["status"] == "failed"
    assert subprocess.run(args, capture_output=True, timeout=300).returncode == 0
    assert meta(run_dir)["resumed_at_iterations"] == [saved]
    assert_same_run(run_dir, whole_run)


def test_a_negative_checkpoint_interval_is_refused(tmp_path):
    assert NPGBENCH, "console script npgbench is not installed"
    args = [NPGBENCH, "run", "--algo", "ppo", "--env", "Hopper-v5", "--out", str(tmp_path)]
    proc = subprocess.run(
        [*args, "--set", "checkpoint.every=-1"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: checkpoint.every must be >= 0 (0 disables checkpoints)"
    ]
    assert not any(tmp_path.iterdir())


def test_a_sigkilled_sweep_continues_its_run_from_the_checkpoint(tmp_path):
    overrides = {"sampler.num_envs": 2, "sampler.steps_per_update": 256, "value.epochs": 2}
    suite = tmp_path / "ckpt.toml"
    suite.write_text(
        'name = "ckpt"\nenvs = ["Hopper-v5"]\nalgos = ["npg_kfac"]\nseeds = [0]\n'
        f"steps = {256 * 10}\n[overrides]\n"
        + "".join(f'"{k}" = {v}\n' for k, v in overrides.items())
    )
    cfg = resolve_config("npg_kfac", "Hopper-v5", 0, 256 * 10, overrides)
    out, run_dir = tmp_path / "out", tmp_path / "out" / run_id(cfg)
    cmd = sweep_command(str(suite), out)
    cmd += ["--jobs", "1", "--wandb", "disabled", "--set", "checkpoint.every=1"]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not (run_dir / "metrics.parquet").exists() and time.time() < deadline:
        time.sleep(0.02)
    # the bytes first: the sweep replaces the file while we read, and pyarrow opens it twice
    rows = lambda: len(pd.read_parquet(io.BytesIO((run_dir / "metrics.parquet").read_bytes())))  # noqa: E731
    while rows() < 3 and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its loky worker, mid-iteration or not
    proc.wait()
    assert meta(run_dir)["status"] == "running" and (run_dir / FILENAME).exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert meta(run_dir)["resumed_at_iterations"][0] >= 2
    assert_same_run(run_dir, train(cfg, tmp_path / "whole", progress=False).run_dir)
