"""bench update-cost: the interleaved schedule, same work every repetition, the statistics
(scaling exponent, paired ratio) on synthetic data, and a tiny end-to-end run."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest
import torch
from bench_fixtures import tiny_batch
from npgbench.harness.bench import cost_stats, cost_timing, update_cost
from npgbench.harness.core.config import ConfigError, PolicyConfig
from npgbench.harness.core.policy import GaussianPolicy, flat_params


def test_interleaved_times_every_arm_once_per_repetition_in_rotated_order():
    arms = ["a", "b", "c"]
    order = cost_stats.interleaved(arms, 6)
    by_rep = collections.defaultdict(list)
    for rep, position, arm in order:
        by_rep[rep].append((position, arm))
    assert all(sorted(a for _, a in v) == arms for v in by_rep.values())
    assert [v[0][1] for _, v in sorted(by_rep.items())] == ["a", "b", "c", "a", "b", "c"]
    # every arm takes every position equally often over a multiple of len(arms) repetitions
    slots = collections.Counter((arm, position) for _, position, arm in order)
    assert set(slots.values()) == {2} and len(slots) == 9


def test_time_arms_runs_in_the_interleaved_order():
    policy = GaussianPolicy(3, 2, PolicyConfig(hidden_sizes=(4, 4)))
    batch = tiny_batch(policy)
    arms = [
        a
        for a in cost_timing.sweep_arms([])
        if a.label in ("diagonal", "kfac", "cg")  # no suite tasks: the preconditioner arms
    ]
    timings = cost_timing.time_arms(arms, policy, batch, reps=4)
    got = [(t.rep, t.position, t.arm) for t in timings]
    assert got == cost_stats.interleaved([a.label for a in arms], 4)
    assert all(t.cpu > 0 and t.wall > 0 and t.fit_cpu >= 0 for t in timings)
    assert all(t.fit_cpu + t.solve_cpu <= t.cpu + 1e-3 for t in timings)


@pytest.mark.parametrize("label", ["kfac", "exact_gram", "diagonal"])
def test_every_repetition_does_the_same_work(label):
    """Two updaters built from one primed template end at identical parameters (the K-FAC
    running factors and the sampled-Fisher generator are reset), and the template's own
    policy stays at theta_old."""
    policy = GaussianPolicy(3, 2, PolicyConfig(hidden_sizes=(4, 4)))
    batch = tiny_batch(policy)
    arm = next(a for a in cost_timing.sweep_arms([]) if a.label == label)
    template = cost_timing.primed(arm, policy, batch)
    theta_old = flat_params(template.policy.all_params())
    ends = []
    for _ in range(2):
        updater = template.build()
        updater.update(batch)
        ends.append(flat_params(updater.policy.all_params()))
    assert torch.equal(ends[0], ends[1]) and not torch.equal(ends[0], theta_old)
    assert torch.equal(flat_params(template.policy.all_params()), theta_old)
    # without the primed state the update differs (K-FAC averages, the generator moved on)
    fresh = cost_timing.Primed(arm, template.policy, None).build()
    fresh.update(batch)
    assert not torch.equal(flat_params(fresh.policy.all_params()), ends[0])


@pytest.mark.parametrize("k", [0.3, 1.0, 2.7])
def test_scaling_exponent_recovers_a_known_power_law(k):
    rng = np.random.default_rng(1)
    sizes = [500.0, 1000.0, 2000.0, 4000.0, 8000.0]
    samples = [2e-6 * n**k * rng.lognormal(0.0, 0.2, 30) for n in sizes]
    fit = cost_stats.scaling_exponent(sizes, samples)
    assert fit.value == pytest.approx(k, abs=0.05) and fit.low < k < fit.high
    assert fit.high - fit.low < 0.3
    assert cost_stats.claim_holds(fit, f"{max(k - 0.5, 0):g}-{k + 0.5:g}") == "yes"
    assert cost_stats.claim_holds(fit, f"{k + 1:g}") == "no"
    assert cost_stats.claim_holds(fit, "") == ""


def test_paired_ratio_of_medians_with_a_bootstrap_ci():
    rng = np.random.default_rng(0)
    reference = rng.lognormal(0.0, 0.3, 40)
    exact = cost_stats.paired_ratio(3 * reference, reference)
    assert exact.value == pytest.approx(3) and exact.low == pytest.approx(3)
    noisy = cost_stats.paired_ratio(3 * reference * rng.lognormal(0, 0.1, 40), reference)
    assert noisy.low < noisy.value < noisy.high and noisy.low < 3 < noisy.high


SUITE = """
name = "tiny-cost"
description = "tiny"
envs = ["InvertedPendulum-v5"]
algos = ["vanilla", "npg_kfac", "ppo"]
steps = 2048
[overrides]
"sampler.num_envs" = 4
"policy.hidden_sizes" = [8, 8]
"value.hidden_sizes" = [8, 8]
"""


def test_update_cost_end_to_end_writes_its_tables(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(SUITE)
    out = tmp_path / "cost"
    argv = [
        "--suite", str(suite), "--envs", "InvertedPendulum-v5", "--reps", "3",
        "--batch-size", "64", "--sweep-env", "InvertedPendulum-v5", "--sweep-reps", "2",
        "--hidden", "4,8", "--batches", "32,64", "--sweep-width", "8",
        "--dense-max-params", "100", "--out", str(out),
    ]  # fmt: skip
    assert update_cost.main(argv) == 0
    times = pd.read_csv(out / "update_cost_times.csv")
    bench = times[(times.study == "benchmark") & (times.rep >= 0)]
    assert sorted(bench.arm.unique()) == ["npg_kfac", "ppo", "vanilla"]
    assert bench.groupby("arm").size().eq(3).all()
    summary = pd.read_csv(out / "update_cost.csv")
    ref = summary[(summary.study == "benchmark") & (summary.arm == "vanilla")]
    assert ref.ratio.iloc[0] == pytest.approx(1.0)
    dense = times[times.arm == "exact_dense"]
    assert dense.n_params.max() <= 100 and len(dense) > 0  # skipped above the cap
    scaling = pd.read_csv(out / "update_cost_scaling.csv")
    assert set(scaling.dimension) == {"n_params", "batch"}
    assert {"exact_gram", "cg", "kfac", "diagonal", "vanilla", "ppo"} <= set(scaling.arm)
    assert (out / "update_cost.json").is_file()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--envs", "Hopper-v4"], "Hopper-v4"),
        (["--reference", "nope"], "--reference 'nope': valid"),
        (["--policies", "/nonexistent/run"], "neither a run directory"),
        (["--reps", "0"], "positive integer"),
    ],
)
def test_bad_input_is_one_config_error_and_writes_nothing(tmp_path, argv, match):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=match):
        update_cost.main([*argv, "--sweep-env", "", "--out", str(out)])
    assert not out.exists()
