"""Held-out step measures (algorithms/heldout.py): diagnostic only (the run is bit-identical
with them on), resumable, and measuring what they claim on small closed cases."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from fisher_fixtures import make_batch, small_policy
from npgbench.algorithms.common import mean_kl
from npgbench.algorithms.fisher.cg import CGConfig
from npgbench.algorithms.fisher.exact import ExactFisher
from npgbench.algorithms.heldout import HeldOut, fresh_state_kl, halves
from npgbench.algorithms.registry import is_natural, registry
from npgbench.harness.core.identity import run_id
from npgbench.harness.core.policy import flat_params, set_flat_params
from npgbench.harness.runner import resolve_config, train
from test_checkpoint import RESUME_CASE, STEPS, Interrupt, assert_same_run, interrupt_at

HELDOUT = {"diagnostics.heldout_every": 2}
NATURAL = sorted(name for name, v in registry().items() if is_natural(v))


def without_diagnostics(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    drop = ("time_", "step_gain_", "step_kl_", "prev_step_kl_fresh", "wall_time")
    return frame.drop(columns=[c for c in frame if c.startswith(drop)])


@pytest.mark.parametrize("algo", ["npg_kfac", "npg_exact", "trpo", "ppo"])
def test_the_diagnostic_leaves_the_run_bit_identical(tmp_path, algo):
    """K-FAC's running factors and the sampled estimators' generators are restored, so every
    other column and the final weights equal a run without the diagnostic."""
    plain = train(
        resolve_config(algo, "Hopper-v5", 3, STEPS, RESUME_CASE), tmp_path / "a", False
    ).run_dir
    cfg = resolve_config(algo, "Hopper-v5", 3, STEPS, {**RESUME_CASE, **HELDOUT})
    measured = train(cfg, tmp_path / "b", progress=False).run_dir
    assert run_id(cfg) != plain.name  # a diagnostic setting is part of the experiment's record
    pd.testing.assert_frame_equal(without_diagnostics(measured), without_diagnostics(plain))
    a = torch.load(plain / "policy.pt", weights_only=True)["policy"]
    b = torch.load(measured / "policy.pt", weights_only=True)["policy"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    frame = pd.read_parquet(measured / "metrics.parquet")
    fresh = frame["prev_step_kl_fresh"]
    # updates 0, 2, 4 are diagnostic: their KL on fresh states lands in rows 1, 3
    assert fresh.isna().tolist() == [True, False, True, False, True]
    assert (fresh.dropna() > 0).all()
    if algo != "ppo":
        gains = frame["step_gain_heldout"]
        assert gains.notna().tolist() == [True, False, True, False, True]
        assert (frame["step_kl_insample"].dropna() > 0).all()


def test_a_resumed_run_with_the_diagnostic_equals_the_uninterrupted_run(tmp_path):
    extra = {**RESUME_CASE, **HELDOUT, "diagnostics.heldout_every": 1}
    want = train(
        resolve_config("npg_kfac", "Hopper-v5", 3, STEPS, extra), tmp_path / "w", False
    ).run_dir
    cfg = resolve_config("npg_kfac", "Hopper-v5", 3, STEPS, {**extra, "checkpoint.every": 2})
    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut", progress=False, on_row=interrupt_at(3))
    got = train(cfg, tmp_path / "cut", progress=False).run_dir
    # the pending theta_old of update 1 travels in the checkpoint: row 2's fresh KL is there
    assert_same_run(got, want)


def test_halves_are_disjoint_and_cover_the_batch():
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 7)
    a, b = halves(batch)
    assert (len(a), len(b)) == (4, 3)
    rows = torch.cat([a.obs, b.obs])
    assert torch.equal(rows.sort(0).values, batch.obs.sort(0).values)
    assert torch.equal(a.obs, batch.obs[0::2]) and torch.equal(b.advantages, batch.advantages[1::2])


def test_the_in_sample_kl_of_a_small_step_is_the_kl_budget():
    """KL(pi_old || pi_old + s) = 1/2 s^T F s + O(|s|^3) and beta fixes 1/2 s^T F_A s = delta,
    so on half A the measured KL approaches kl_delta as the step shrinks."""
    torch.manual_seed(0)
    policy = small_policy(3, 2, hidden=(5,))
    batch = make_batch(policy, 64)
    theta = flat_params(policy.all_params())
    precond = ExactFisher(1e-3, "analytic", max_memory_mb=math.inf)
    for delta in (1e-6, 1e-8):
        cfg = CGConfig(kl_delta=delta)
        row = HeldOut(1).measure(policy, batch, precond, cfg)
        assert row["step_kl_insample"] == pytest.approx(delta, rel=50 * math.sqrt(delta))
        assert row["step_kl_heldout"] > 0
        assert torch.equal(flat_params(policy.all_params()), theta)  # left as found


def test_fresh_state_kl_is_the_mean_kl_between_the_two_parameter_settings():
    torch.manual_seed(1)
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 32)
    params = policy.all_params()
    before = flat_params(params)
    assert fresh_state_kl(policy, before, batch.obs) == 0.0
    set_flat_params(params, before + 0.05 * torch.randn_like(before))
    after = flat_params(params)
    # batch.old_mean / old_std are pi_before's on these states: mean_kl gives the same number
    expected = float(mean_kl(policy, batch).detach())
    assert fresh_state_kl(policy, before, batch.obs) == pytest.approx(expected, rel=1e-6)
    assert torch.equal(flat_params(params), after)
