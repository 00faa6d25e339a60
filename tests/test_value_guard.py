"""A value fit that turns the weights non-finite is undone and recorded, never carried on."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import torch
from npgbench.harness.core.config import ValueConfig
from npgbench.harness.core.metric_rows import unheld_columns
from npgbench.harness.core.policy import ValueNet
from npgbench.harness.core.rollout import Batch, Sampler
from npgbench.harness.core.value import ValueFitter
from npgbench.harness.runner import resolve_config, train


def batch_of(obs: torch.Tensor, returns: torch.Tensor) -> Batch:
    """A Batch with only what the value fit reads: obs [B, O], returns [B], values [B]."""
    b = len(returns)
    zeros = torch.zeros(b)
    return Batch(
        obs, zeros[:, None], zeros, zeros[:, None], zeros[:1], zeros, returns, zeros, [], []
    )


def fit_on(returns: torch.Tensor) -> tuple[ValueFitter, dict, list, dict]:
    """One warm-up fit on finite targets, then a fit on `returns` [64]: (fitter, stats of the
    second fit, weights and Adam state from before it)."""
    torch.manual_seed(0)
    fitter = ValueFitter(ValueNet(3, ValueConfig(hidden_sizes=(8,))), ValueConfig(epochs=2))
    obs = torch.randn(64, 3)
    fitter.fit(batch_of(obs, torch.randn(64)), np.random.default_rng(0))
    before = [p.detach().clone() for p in fitter.value_fn.parameters()]
    adam = {k: v.clone() for k, v in fitter.optimizer.state_dict()["state"][0].items()}
    return fitter, fitter.fit(batch_of(obs, returns), np.random.default_rng(1)), before, adam


def test_nan_targets_leave_the_weights_and_adam_state_as_they_were():
    returns = torch.randn(64)
    returns[5] = math.nan
    fitter, stats, before, adam = fit_on(returns)
    assert stats["value_skipped"] is True
    assert "non-finite value targets" in stats["value_skip_reason"]
    for p, old in zip(fitter.value_fn.parameters(), before, strict=True):
        assert torch.equal(p, old)
    for key, value in fitter.optimizer.state_dict()["state"][0].items():
        assert torch.equal(value, adam[key]), key


def test_a_finite_fit_moves_the_weights_and_says_it_was_not_undone():
    fitter, stats, before, _ = fit_on(torch.randn(64))
    assert (stats["value_skipped"], stats["value_skip_reason"]) == (False, "")
    assert not all(
        torch.equal(p, old) for p, old in zip(fitter.value_fn.parameters(), before, strict=True)
    )


def tiny(total_steps: int, tiny_overrides: dict):
    return resolve_config("npg_cg", "Hopper-v5", 1, total_steps, tiny_overrides)


def test_nan_rewards_mid_run_are_recorded_and_the_value_net_stays_finite(
    tmp_path, monkeypatch, tiny_overrides
):
    poisoned = {"on": False}
    scale = Sampler._scale

    def nan_rewards(self, reward, done):
        out = scale(self, reward, done)
        return out * np.nan if poisoned["on"] else out

    def poison_after_iteration_1(row: dict) -> None:
        poisoned["on"] = row["iteration"] >= 1

    clean_two = train(tiny(512, tiny_overrides), tmp_path / "clean", progress=False).run_dir
    monkeypatch.setattr(Sampler, "_scale", nan_rewards)
    run_dir = train(
        tiny(1024, tiny_overrides), tmp_path, progress=False, on_row=poison_after_iteration_1
    ).run_dir
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "complete"
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    assert frame["value_skipped"].tolist() == [False, False, True, True]
    assert frame["value_skip_reason"].tolist()[:2] == ["", ""]
    assert all("non-finite value targets" in r for r in frame["value_skip_reason"][2:])
    assert frame["skipped"].tolist() == [False, False, True, True]  # the policy step too
    # both steps were undone, so the nets are those after the two clean iterations
    got = torch.load(run_dir / "policy.pt", weights_only=True)
    want = torch.load(clean_two / "policy.pt", weights_only=True)
    for part in ("value", "policy"):
        for key, tensor in got[part].items():
            assert torch.isfinite(tensor).all() and torch.equal(tensor, want[part][key])
    clean = pd.read_parquet(clean_two / "metrics.parquet")
    assert "value_skipped" not in clean and "value_skip_reason" not in clean


def test_skip_columns_are_written_only_in_runs_that_skipped():
    clean = {"iteration": 0, "value_skipped": False, "value_skip_reason": ""}
    skip = {"iteration": 1, "value_skipped": np.True_, "value_skip_reason": "x"}
    assert unheld_columns([clean, clean]) == ["value_skipped", "value_skip_reason"]
    assert unheld_columns([clean, skip]) == []
    old = {"iteration": 0, "value_skipped": math.nan}  # a NaN is no skip
    assert unheld_columns([old]) == ["value_skipped", "value_skip_reason"]
