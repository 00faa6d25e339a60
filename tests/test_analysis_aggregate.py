"""Aggregates agree with rliable's definitions; the stratified bootstrap covers at about the
nominal rate."""

from __future__ import annotations

import numpy as np
import pytest
from npgbench.analysis.stats import aggregate
from scipy import stats

RLIABLE_SCORES = np.array([[1, 2], [2, 2], [1, 1], [2, 1]], dtype=float)  # 4 runs x 2 tasks


def test_aggregates_on_rliables_fixed_matrix():
    assert aggregate.iqm(RLIABLE_SCORES) == 1.5
    assert aggregate.median(RLIABLE_SCORES) == 1.5
    assert aggregate.mean(RLIABLE_SCORES) == 1.5
    assert aggregate.optimality_gap(RLIABLE_SCORES) == 0.0
    assert aggregate.optimality_gap(RLIABLE_SCORES, gamma=2.0) == 0.5
    # Below the trimming boundary: 0.25 x 4 = 1 score cut from each end of [1, 2, 3, 10].
    assert aggregate.iqm(np.array([[1.0], [2.0], [3.0], [10.0]])) == 2.5
    gap = aggregate.optimality_gap(np.array([[0.5, 1.5], [0.0, 0.8]]))
    assert gap == pytest.approx(1 - np.mean([0.5, 1.0, 0.0, 0.8]))


def test_aggregates_match_rliable_formulas_on_random_matrices():
    rng = np.random.default_rng(3)
    for shape in [(5, 3), (10, 7), (3, 1), (8, 4)]:
        s = rng.normal(size=shape)
        assert aggregate.iqm(s) == pytest.approx(stats.trim_mean(s, 0.25, axis=None))
        assert aggregate.median(s) == pytest.approx(np.median(np.mean(s, axis=0)))
        assert aggregate.mean(s) == pytest.approx(np.mean(np.mean(s, axis=0)))
        assert aggregate.optimality_gap(s) == pytest.approx(1 - np.mean(np.minimum(s, 1)))


def test_aggregates_batch_over_leading_axes_and_ignore_padding():
    rng = np.random.default_rng(0)
    s_BRT = rng.normal(size=(6, 5, 3))
    np.testing.assert_allclose(aggregate.iqm(s_BRT), [aggregate.iqm(s) for s in s_BRT])
    padded = np.vstack([RLIABLE_SCORES, [[np.nan, np.nan]]])
    assert aggregate.iqm(padded) == 1.5 and aggregate.mean(padded) == 1.5


def test_probability_of_improvement_is_mann_whitney():
    x, y = np.array([[2.0], [3.0]]), np.array([[1.0], [3.0]])
    assert aggregate.probability_of_improvement(x, y) == 0.625  # (1 + 0 + 1 + 0.5) / 4
    assert aggregate.probability_of_improvement(y, x) == 0.375
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), rng.normal(0.5, size=(4, 3))
    expected = np.mean(
        [stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater")[0] / 20 for t in range(3)]
    )
    assert aggregate.probability_of_improvement(x, y) == pytest.approx(expected)
    assert aggregate.probability_of_improvement(x, x) == 0.5


def test_score_distribution_is_fraction_above_tau():
    profile = aggregate.score_distribution(RLIABLE_SCORES, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(profile, [1.0, 0.5, 0.5, 0.0])


def test_stratified_bootstrap_keeps_each_tasks_runs_in_its_column():
    scores_RT = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, np.nan]])
    reps_BRT = aggregate.resample(scores_RT, 200, np.random.default_rng(0))
    assert reps_BRT.shape == (200, 3, 2)
    assert set(np.unique(reps_BRT[:, :, 0])) <= {0.0, 1.0, 2.0}
    # Task 1 has two runs: each replicate draws two of them and keeps one padding slot.
    assert set(np.unique(reps_BRT[:, :2, 1])) <= {10.0, 11.0}
    assert np.isnan(reps_BRT[:, 2, 1]).all()


def test_interval_estimates_are_seeded_and_bracket_the_point():
    rng = np.random.default_rng(5)
    scores = {"a": rng.normal(size=(10, 4)), "b": rng.normal(1.0, size=(10, 4))}
    first = aggregate.interval_estimates(scores, reps=500, seed=7)
    assert first == aggregate.interval_estimates(scores, reps=500, seed=7)
    for by_metric in first.values():
        for point, lo, hi in by_metric.values():
            assert lo <= point <= hi
    p, lo, hi = aggregate.improvement_estimate(scores["b"], scores["a"], reps=500, seed=0)
    assert 0.5 < lo <= p <= hi <= 1.0


def test_bootstrap_ci_covers_the_true_iqm_at_about_the_nominal_rate():
    # Normal(mu_t, 1) per task with mu symmetric about 0: the population IQM of the
    # run-and-task mixture is 0. 200 experiments of 10 runs x 5 tasks, 500 reps each.
    rng = np.random.default_rng(2024)
    mu_T = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    hits = 0
    trials = 200
    for i in range(trials):
        scores_RT = mu_T + rng.standard_normal((10, 5))
        _, lo, hi = aggregate.interval_estimate(scores_RT, aggregate.iqm, reps=500, seed=i)
        hits += lo <= 0.0 <= hi
    assert 0.88 <= hits / trials <= 0.99


def test_performance_profile_band():
    taus = np.linspace(0, 2, 5)
    profile, ci = aggregate.performance_profile(RLIABLE_SCORES, taus, reps=200, seed=0)
    assert ci.shape == (2, 5)
    assert np.all(ci[0] <= profile + 1e-12) and np.all(profile <= ci[1] + 1e-12)
