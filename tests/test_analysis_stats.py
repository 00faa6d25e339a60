"""Permutation p, Holm and the verdict rule against brute force and hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from npgbench.analysis.stats import inference as stats


def brute_force_p(xs, ys) -> float:
    """Two-sided p by listing every within-task relabeling of every task."""
    observed = stats.improvement(xs, ys)
    per_task = []
    for x, y in zip(xs, ys, strict=True):
        pool = np.concatenate([x, y])
        per_task.append(
            [
                (pool[list(c)], np.delete(pool, list(c)))
                for c in itertools.combinations(range(len(pool)), len(x))
            ]
        )
    values = np.array(
        [
            stats.improvement([c[0] for c in combo], [c[1] for c in combo])
            for combo in itertools.product(*per_task)
        ]
    )
    return float(np.mean(np.abs(values - 0.5) >= abs(observed - 0.5) - 1e-12))


CASES = [
    # 2 tasks x 3 vs 3, with a tie inside a task and across arms.
    ([[0.8, -0.5, 0.8], [-0.8, 1.4, 0.9]], [[-0.5, 0.6, 0.4], [0.3, 0.0, 0.5]]),
    # Complete separation on both tasks: the smallest p a 2 x (3 vs 3) design allows.
    ([[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]),
    # Unequal counts per task and arm (3 vs 2, 2 vs 4), all values tied on one task.
    ([[1.0, 2.0, 3.0], [5.0, 5.0]], [[0.5, 2.5], [5.0, 5.0, 5.0, 5.0]]),
    # Three tasks, one of them carrying the difference.
    ([[1, 2, 3], [1, 2, 3], [10, 11, 12]], [[1.5, 2.5, 3.5], [1.5, 2.5, 0.5], [1, 2, 3]]),
]


@pytest.mark.parametrize(("xs", "ys"), CASES)
def test_exact_permutation_p_equals_brute_force(xs, ys):
    xs, ys = [np.array(x, float) for x in xs], [np.array(y, float) for y in ys]
    p, exact = stats.permutation_p(xs, ys)
    assert exact
    assert p == pytest.approx(brute_force_p(xs, ys), abs=1e-12)


def test_separated_case_has_the_minimum_p():
    xs, ys = [np.array(x, float) for x in CASES[1][0]], [np.array(y, float) for y in CASES[1][1]]
    # Only all-X-above and all-X-below on both tasks reach |P - 0.5| = 0.5: 2 of 20 x 20.
    assert stats.permutation_p(xs, ys)[0] == pytest.approx(2 / 400)


@pytest.mark.parametrize(("xs", "ys"), CASES[:2])
def test_monte_carlo_p_close_to_exact_and_seeded(xs, ys):
    xs, ys = [np.array(x, float) for x in xs], [np.array(y, float) for y in ys]
    exact = brute_force_p(xs, ys)
    p_mc, is_exact = stats.permutation_p(xs, ys, draws=20_000, seed=3, limit=1)
    assert not is_exact
    assert p_mc == pytest.approx(exact, abs=0.01)
    assert p_mc == stats.permutation_p(xs, ys, draws=20_000, seed=3, limit=1)[0]
    assert p_mc > 0  # (1 + hits) / (1 + B) is never 0


def test_missing_arm_gives_no_p():
    assert math.isnan(stats.permutation_p([np.array([1.0])], [np.array([])])[0])


def holm_by_rejection(p):
    """Adjusted p from Holm's sequential rejection itself: the smallest level alpha at which
    H_i is rejected, where at level alpha H_(1), H_(2), ... are rejected while
    p_(j) <= alpha / (m - j + 1) and the procedure stops at the first acceptance."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    levels = sorted({min(1.0, (m - j) * p[k]) for j, k in enumerate(order)} | {1.0})
    out = np.ones(m)
    for alpha in reversed(levels):  # from the largest level down, keep the smallest that rejects
        for j, k in enumerate(order):
            if p[k] > alpha / (m - j) * (1 + 1e-12):  # alpha = (m - j) p_k up to rounding
                break
            out[k] = alpha
    return out


def test_holm_hand_computed():
    # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 4*0.01=0.04, 3*0.02=0.06, 2*0.03=0.06, 1*0.5=0.5.
    p = np.array([0.03, 0.5, 0.01, 0.02])
    np.testing.assert_allclose(stats.holm(p), [0.06, 0.5, 0.04, 0.06])
    # Monotone: a later hypothesis is never easier to reject than an earlier one.
    np.testing.assert_allclose(stats.holm([0.04, 0.001]), [0.04, 0.002])
    np.testing.assert_allclose(stats.holm([0.9, 0.8]), [1.0, 1.0])  # 2 x 0.8 capped at 1


def test_holm_matches_definition_and_skips_nan():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 8))
        np.testing.assert_allclose(stats.holm(p), holm_by_rejection(p))
    adjusted = stats.holm([0.01, math.nan, 0.02])
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.02])
    assert math.isnan(adjusted[1])


def test_smallest_p_is_the_exact_p_of_fully_separated_arms():
    # 5 vs 5 on one task: 2 of C(10, 5) = 252 relabelings are as extreme; 3 vs 3 on two
    # tasks: 2 of 20 * 20; ties can only raise the p.
    one = [np.arange(5.0) + 10], [np.arange(5.0)]
    assert stats.permutation_p(*one)[0] == pytest.approx(stats.smallest_p((5,), (5,)))
    assert stats.smallest_p((5,), (5,)) == pytest.approx(2 / 252)
    two = [np.arange(3.0) + 10, np.arange(3.0) + 10], [np.arange(3.0), np.arange(3.0)]
    assert stats.permutation_p(*two)[0] == pytest.approx(2 / 400)
    assert stats.compare(*two).p_floor == pytest.approx(2 / 400)
    tied = [np.array([1.0, 2, 3, 4, 5])], [np.array([0.0, 0, 0, 0, 1])]
    assert stats.permutation_p(*tied)[0] > stats.smallest_p((5,), (5,))
    # Unequal counts: five equal Y leave X = 5..8 one extreme alone, p = 1 / 126.
    lone = [np.array([5.0, 6, 7, 8])], [np.ones(5)]
    assert stats.permutation_p(*lone)[0] == pytest.approx(1 / 126)
    assert stats.smallest_p((4,), (5,)) == pytest.approx(1 / 126)


def test_a_family_too_large_for_its_run_counts_says_no_data_could_pass_holm():
    import pandas as pd
    from npgbench.analysis.claims.rows import decide

    def family(k: int, floors=()) -> pd.DataFrame:
        row = {"value": 0.0, "p": 2 / 252, "p_floor": 2 / 252, "min_runs": 5, "family": "F"}
        rows = [{**row, "verdict": None} for _ in range(k)]
        for r, floor in zip(rows, floors):  # rows with more runs: a lower floor
            r.update(p=floor, p_floor=floor)
        return pd.DataFrame(rows)

    # 7 tests: 7 x 2/252 = 0.056 >= 0.05, so even every seed apart cannot pass Holm.
    assert decide(family(7), False)["verdict"].iloc[0] == (
        "not separable (p = 0.056; unreachable at these counts: Holm p >= 0.056 over 7 tests)"
    )
    assert decide(family(6), False)["verdict"].iloc[0] == "contradicted"  # 6 x 0.0079 < 0.05
    # With 6 rows of floor 1e-5 ranked first, a 5-vs-5 row is the 7th: 1 x 0.0079 < 0.05.
    mixed = decide(family(7, floors=[1e-5] * 6), False)["verdict"]
    assert mixed.iloc[6] == "contradicted" and not mixed.str.contains("unreachable").any()


def test_expanded_level_for_five_runs():
    # sqrt(5/4) * t_{0.975, 4} = 3.104 -> two-sided level 0.99809.
    assert stats.expanded_level(5) == pytest.approx(0.99809, abs=1e-4)
    assert stats.expanded_level(1000) == pytest.approx(0.95, abs=1e-3)


def test_interval_is_wider_than_percentile_and_contains_the_statistic():
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=5) + 0.3 for _ in range(3)]
    ys = [rng.normal(size=5) for _ in range(3)]
    c = stats.compare(xs, ys)
    boot = stats._stacked_improvement(
        *[s[rng.integers(0, 5, size=(4000, 5))] for pair in zip(xs, ys) for s in pair]
    )
    lo95, hi95 = np.percentile(boot, [2.5, 97.5])
    assert c.ci_lo <= c.statistic <= c.ci_hi
    assert c.ci_hi - c.ci_lo > hi95 - lo95


def test_degenerate_interval_is_nan():
    xs, ys = [np.arange(5.0) + 10] * 2, [np.arange(5.0)] * 2
    c = stats.compare(xs, ys)
    assert c.statistic == 1.0 and math.isnan(c.ci_lo) and math.isnan(c.ci_hi)


@pytest.mark.parametrize(
    ("p", "stat", "n", "directional", "interim", "expected"),
    [
        (0.01, 0.8, 5, True, False, "supported"),
        (0.01, 0.2, 5, True, False, "contradicted"),
        (0.2, 0.8, 5, True, False, "not separable (p = 0.2)"),
        (0.049, 0.3, 5, False, False, "second arm higher"),
        (0.01, 0.8, 3, True, False, "no verdict (fewer than 5 runs per arm and task)"),
        (math.nan, math.nan, 0, True, False, "not tested (no runs)"),
        (0.01, 0.8, 5, True, True, "interim: supported"),
        (0.05, 0.9, 5, True, False, "not separable (p = 0.05)"),
    ],
)
def test_verdict_rule(p, stat, n, directional, interim, expected):
    assert stats.verdict(p, stat, n, directional, interim) == expected
