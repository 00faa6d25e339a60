"""bench fidelity: exact directions meet their references, the held-out half is disjoint
from the fitting half, frozen batches are reproducible, and a tiny end-to-end run."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
from bench_fixtures import tiny_batch
from npgbench.algorithms.fisher.exact import ExactConfig
from npgbench.algorithms.fisher.kfac import KFACConfig
from npgbench.harness.bench import fidelity, fidelity_measures, frozen
from npgbench.harness.core.config import ConfigError, PolicyConfig
from npgbench.harness.core.identity import config_record
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.runner import resolve_config

LAMBDAS = [0.01, 0.1]


def measured(policy, batch, configs):
    reference = fidelity_measures.DenseReference(policy, batch.obs)
    found, g = fidelity_measures.directions(policy, batch, configs, LAMBDAS, 0, reference)
    return {d.label: fidelity_measures.fidelity(d, reference, g, LAMBDAS) for d in found}


def test_analytic_npg_exact_is_the_same_lambda_reference():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, PolicyConfig(hidden_sizes=(6, 6)))
    batch = tiny_batch(policy, n=40)  # 80 analytic rows < P = 98: F is singular
    configs = {
        "analytic": ExactConfig(estimator="analytic", damping=0.01),
        "sampled": ExactConfig(estimator="sampled", damping=0.01),
    }
    rows = measured(policy, batch, configs)
    analytic = rows["analytic"]
    assert analytic["cosine_ref0.01"] == pytest.approx(1.0, abs=1e-6)
    assert analytic["kl_ratio_ref0.01"] == pytest.approx(1.0, abs=1e-5)
    assert analytic["cosine_own"] == pytest.approx(1.0, abs=1e-6)
    assert analytic["cosine_ref0.1"] < 0.9999  # the damping moves the direction
    assert rows["sampled"]["cosine_ref0.01"] < 0.999  # one sampled action per state
    for lam in LAMBDAS:
        assert rows[f"exact_analytic@{lam:g}"][f"cosine_ref{lam:g}"] == pytest.approx(1.0)


def test_kfac_on_one_linear_layer_meets_its_own_damping_model():
    """With no hidden layer and the analytic estimator G (x) A = F, so K-FAC's direction is
    (F + D)^-1 g exactly: cosine_own 1; against (F + lambda I)^-1 g it is not."""
    policy = GaussianPolicy(3, 2, PolicyConfig(hidden_sizes=()))
    batch = tiny_batch(policy, n=50)
    cfg = KFACConfig(estimator="analytic", damping=0.1, kfac_stat_decay=0.0)
    row = measured(policy, batch, {"kfac": cfg})["kfac"]
    assert row["cosine_own"] == pytest.approx(1.0, abs=1e-6)
    assert row["cosine_ref0.1"] < 0.9999


def saved_run(tmp_path, algo: str = "npg_cg"):
    """A policy.pt of a fresh tiny policy on InvertedPendulum-v5 (the format runs write)."""
    overrides = {
        "sampler.num_envs": 4,
        "policy.hidden_sizes": (4, 4),
        "value.hidden_sizes": (4, 4),
    }
    cfg = resolve_config(algo, "InvertedPendulum-v5", 0, 2048, overrides)
    saved = frozen.fresh_policy(cfg)
    run = tmp_path / "run"
    run.mkdir()
    state = {
        "policy": saved.policy.state_dict(),
        "obs_norm": saved.obs_norm.state_dict(),
        "value": saved.value_fn.state_dict(),
        "config": config_record(cfg),
    }
    torch.save(state, run / "policy.pt")
    return run


def test_heldout_half_is_disjoint_from_the_fitting_half(tmp_path):
    saved = frozen.load_saved(saved_run(tmp_path))
    batch = frozen.sample_batches(saved, 1, seed=0, steps=64)[0]
    half_a, half_b = frozen.env_halves(batch, saved.cfg.sampler.num_envs)
    assert len(set(half_a.tolist()) & set(half_b.tolist())) == 0
    assert sorted(half_a.tolist() + half_b.tolist()) == list(range(len(batch)))
    a, b = frozen.take(batch, half_a), frozen.take(batch, half_b)
    rows_a = {tuple(r) for r in a.obs.tolist()}
    assert not any(tuple(r) in rows_a for r in b.obs.tolist())  # no shared state
    assert torch.equal(a.advantages, batch.advantages[half_a])
    envs_a = {i % 4 for i in half_a.tolist()}
    assert envs_a == {0, 1} and {i % 4 for i in half_b.tolist()} == {2, 3}


def test_frozen_batches_are_reproducible_and_leave_the_normaliser_alone(tmp_path):
    saved = frozen.load_saved(saved_run(tmp_path))
    mean = saved.obs_norm.mean.copy()
    first = frozen.sample_batches(saved, 2, seed=3, steps=32)
    again = frozen.sample_batches(saved, 2, seed=3, steps=32)
    other = frozen.sample_batches(saved, 1, seed=4, steps=32)
    assert all(torch.equal(x.obs, y.obs) for x, y in zip(first, again, strict=True))
    assert not torch.equal(first[0].obs, first[1].obs)
    assert not torch.equal(first[0].obs, other[0].obs)
    assert (saved.obs_norm.mean == mean).all()


def test_fidelity_end_to_end_writes_every_direction(tmp_path, capsys):
    run = saved_run(tmp_path)
    out = tmp_path / "fid"
    argv = [str(run), "--batches", "2", "--batch-size", "32", "--out", str(out)]
    assert fidelity.main(argv) == 0
    frame = pd.read_csv(out / "fidelity.csv")
    labels = ["vanilla", "npg_exact", "npg_diag", "npg_kfac", "npg_cg"]
    labels += [f"exact_analytic@{lam:g}" for lam in LAMBDAS]
    assert list(frame.direction.unique()) == labels and len(frame) == 2 * len(labels)
    exact = frame[frame.direction == "exact_analytic@0.01"]
    assert (exact["cosine_ref0.01"] - 1).abs().max() < 1e-6
    cg = frame[frame.direction == "npg_cg"]
    assert (cg.own_damping == 0.1).all() and cg.cg_residual.notna().all()
    kl_fit = frame.kl_fit.to_numpy()
    assert (abs(kl_fit - 0.01) < 0.01).all()  # the step's measured KL on its own half
    summary = pd.read_csv(out / "fidelity_summary.csv")
    assert list(summary.direction) == labels and (summary.n == 2).all()


def test_fidelity_refuses_what_is_not_a_policy(tmp_path):
    out = tmp_path / "fid"
    with pytest.raises(ConfigError, match="neither a run directory"):
        fidelity.main([str(tmp_path / "missing"), "--out", str(out)])
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="cannot load"):
        fidelity.main([str(bad), "--out", str(out)])
    with pytest.raises(ConfigError, match="positive number"):
        fidelity.main([str(bad), "--kl-delta", "0", "--out", str(out)])
    assert not out.exists()


def test_direction_configs_cover_every_registered_preconditioner():
    from npgbench.algorithms.registry import preconditioner_variants, registry

    configs = fidelity.direction_configs()
    assert list(configs) == ["vanilla", *preconditioner_variants(registry())]
    assert configs["npg_kfac"].kfac_stat_decay == 0.0  # fresh factors, no running average
    assert configs["npg_cg"].cg_iters == 10 and configs["npg_cg"].damping == 0.1
    assert dataclasses.is_dataclass(configs["vanilla"]) and configs["vanilla"].damping == 0.0


def test_reference_of_the_whole_batch_is_the_union_of_its_halves():
    torch.manual_seed(1)
    policy = GaussianPolicy(3, 2, PolicyConfig(hidden_sizes=(4, 4)))
    batch = tiny_batch(policy, n=30)
    a, b = torch.arange(0, 12), torch.arange(12, 30)  # unequal halves: the weights matter
    whole = fidelity_measures.DenseReference(policy, batch.obs)
    union = fidelity_measures.DenseReference.union(
        fidelity_measures.DenseReference(policy, batch.obs[a]),
        fidelity_measures.DenseReference(policy, batch.obs[b]),
        batch.obs,
    )
    # rows are float32 before the float64 products: agreement to float32 rounding
    assert torch.allclose(union.matrix, whole.matrix, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(union.matrix, whole.matrix * 1.001, rtol=1e-6, atol=1e-6)


def test_a_rerun_measures_only_what_the_csv_does_not_hold(tmp_path):
    run = saved_run(tmp_path)
    out = tmp_path / "fid"
    argv = [str(run), "--batch-size", "32", "--out", str(out)]
    assert fidelity.main([*argv, "--batches", "1"]) == 0
    first = pd.read_csv(out / "fidelity.csv")
    first["gain_fit"] = 123.0  # a marker: kept only if batch 0 is not measured again
    first.to_csv(out / "fidelity.csv", index=False)
    assert fidelity.main([*argv, "--batches", "2"]) == 0
    frame = pd.read_csv(out / "fidelity.csv")
    assert (frame[frame.batch_seed == 0].gain_fit == 123.0).all()
    assert len(frame[frame.batch_seed == 1]) == len(first)
    with pytest.raises(ConfigError, match="other --lambdas"):
        fidelity.main([*argv, "--batches", "2", "--kl-delta", "0.02"])
