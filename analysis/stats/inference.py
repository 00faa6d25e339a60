"""Tests, intervals and verdicts for two-arm comparisons stratified by task (rliable style).

Data contract: a comparison is two ragged lists of per-task samples, xs_T[t] and ys_T[t]
(1-D arrays of one value per run, NaN dropped), the same T tasks in both. The statistic is
the probability of improvement of Agarwal et al. 2021 ("Deep Reinforcement Learning at the
Edge of the Statistical Precipice", NeurIPS): per task the Mann-Whitney U / (n_x n_y), ties
counting 1/2, averaged over tasks with equal weight.

- Test: stratified permutation test (labels permuted within each task), two-sided. Under
  stratified permutation the tasks are independent and each task's U is, up to a constant,
  the sum of the X-labelled midranks, so the exact null distribution is the convolution of
  per-task subset-sum counts (every relabeling counted, none sampled). Monte Carlo with
  p = (1 + hits) / (1 + B) (Phipson & Smyth 2010) where a task's relabelings are too many.
- Correction: Holm 1979 step-down over one family.
- Interval: BCa bootstrap (Efron 1987) through scipy.stats.bootstrap, each arm of each task
  resampled on its own, at Hesterberg's (2015) expanded level for small n.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

EXACT_LIMIT = 200_000
"""Most relabelings per task for which the p-value is exact (C(20, 10) = 184,756)."""
MC_PERMUTATIONS = 20_000
BOOT_RESAMPLES = 20_000
ALPHA = 0.05
MIN_RUNS = 5
"""Fewest runs per arm and task for a verdict."""


@dataclass(frozen=True)
class Comparison:
    """X against Y on T tasks. statistic > 0.5 means X tends to be higher."""

    statistic: float
    per_task: tuple[float, ...]
    n_x: tuple[int, ...]
    n_y: tuple[int, ...]
    p: float
    """Two-sided stratified permutation p-value (NaN when a task has no runs in an arm)."""
    exact: bool
    ci_lo: float
    ci_hi: float
    """BCa bootstrap interval at the expanded level; NaN when degenerate or n < 2."""

    @property
    def min_runs(self) -> int:
        return min(self.n_x + self.n_y, default=0)

    @property
    def p_floor(self) -> float:
        """smallest_p at these run counts: no data of this size can give a smaller p."""
        return smallest_p(self.n_x, self.n_y)


def smallest_p(n_x: tuple[int, ...], n_y: tuple[int, ...]) -> float:
    """Lower bound of the two-sided stratified permutation p at these run counts per task:
    the two most extreme relabelings (in every task all of X above all of Y, or all below)
    among prod_t C(n_x,t + n_y,t, n_x,t). 5 vs 5 on one task: 2 / 252. With unequal counts
    ties can leave one extreme alone (X = 5..8 against five equal Y: 1 / 126), so the bound
    is then 1 / prod; the Monte Carlo p (never below 1 / (1 + draws)) is above it too."""
    if not n_x or len(n_x) != len(n_y) or min(n_x + n_y) < 1:
        return math.nan
    total = math.prod(math.comb(a + b, a) for a, b in zip(n_x, n_y, strict=True))
    extremes = 2 if n_x == n_y else 1
    return min(1.0, extremes / total)


def finite_tasks(values_RT: np.ndarray) -> list[np.ndarray]:
    """NaN-padded runs x tasks matrix -> the finite values of every task (column)."""
    values_RT = np.asarray(values_RT, dtype=float)
    return [col[np.isfinite(col)] for col in values_RT.T]


def task_improvement(x_N: np.ndarray, y_M: np.ndarray) -> float:
    """P(X > Y) on one task: Mann-Whitney U / (N M), ties 1/2; NaN if an arm is empty."""
    x_N, y_M = np.asarray(x_N, dtype=float), np.asarray(y_M, dtype=float)
    if not len(x_N) or not len(y_M):
        return math.nan
    wins_NM = (x_N[:, None] > y_M[None, :]) + 0.5 * (x_N[:, None] == y_M[None, :])
    return float(wins_NM.mean())


def improvement(xs_T: list[np.ndarray], ys_T: list[np.ndarray]) -> float:
    """Task-averaged probability of improvement P(X > Y)."""
    return float(np.mean([task_improvement(x, y) for x, y in zip(xs_T, ys_T, strict=True)]))


def _doubled_midranks(pooled_N: np.ndarray) -> np.ndarray:
    """2 x midrank of each pooled value: integers, so sums stay exact."""
    return np.rint(2 * stats.rankdata(pooled_N)).astype(np.int64)


def _subset_sum_counts(values_N: np.ndarray, k: int) -> np.ndarray:
    """counts_S[s] = number of k-subsets of values_N (non-negative ints) summing to s."""
    total = int(values_N.sum())
    ways_KS = np.zeros((k + 1, total + 1))
    ways_KS[0, 0] = 1.0
    for v in values_N:
        # Descending k so each value is used at most once per subset.
        ways_KS[1:, v:] += ways_KS[:-1, : total + 1 - v].copy()
    return ways_KS[k]


def _task_null(x_N: np.ndarray, y_M: np.ndarray, scale: int) -> tuple[int, np.ndarray]:
    """(observed, null probabilities) of scale * U / (N M) on one task, as integers.

    U = (sum of X's midranks) - N (N + 1) / 2; scale is a multiple of 2 N M so every value is
    an integer. The null array is indexed by scale * U / (N M) from 0 to scale."""
    n, m = len(x_N), len(y_M)
    ranks2 = _doubled_midranks(np.concatenate([x_N, y_M]))
    counts_S = _subset_sum_counts(ranks2, n)
    # U = S/2 - n(n+1)/2 with S the doubled rank sum; map S -> scale * U / (n m).
    unit = scale // (2 * n * m)
    sums = np.flatnonzero(counts_S)
    idx = (sums - n * (n + 1)) * unit
    null = np.zeros(scale + 1)
    np.add.at(null, idx, counts_S[sums] / counts_S.sum())
    return int((ranks2[:n].sum() - n * (n + 1)) * unit), null


def _exact_p(xs_T, ys_T) -> float:
    """Two-sided exact p of the task-averaged statistic by convolving per-task nulls."""
    scale = math.lcm(*[2 * len(x) * len(y) for x, y in zip(xs_T, ys_T, strict=True)])
    observed, null = 0, np.ones(1)
    for x, y in zip(xs_T, ys_T, strict=True):
        obs_t, null_t = _task_null(x, y, scale)
        observed, null = observed + obs_t, np.convolve(null, null_t)
    # The sum over T tasks runs from 0 to T * scale; 0.5 of the average is T * scale / 2.
    centre2 = len(xs_T) * scale  # twice the centre, to stay in integers
    dist2 = np.abs(2 * np.arange(len(null)) - centre2)
    return float(min(1.0, null[dist2 >= abs(2 * observed - centre2)].sum()))


def _monte_carlo_p(xs_T, ys_T, draws: int, seed: int) -> float:
    """Two-sided p from `draws` stratified random relabelings, (1 + hits) / (1 + draws)."""
    rng = np.random.default_rng(seed)
    total_B = np.zeros(draws)
    observed = 0.0
    for x, y in zip(xs_T, ys_T, strict=True):
        n, m = len(x), len(y)
        ranks2 = _doubled_midranks(np.concatenate([x, y])).astype(float)
        shuffled_BN = rng.permuted(np.tile(ranks2, (draws, 1)), axis=1)
        total_B += (shuffled_BN[:, :n].sum(axis=1) / 2 - n * (n + 1) / 2) / (n * m)
        observed += (ranks2[:n].sum() / 2 - n * (n + 1) / 2) / (n * m)
    half = len(xs_T) / 2
    hits = np.sum(np.abs(total_B - half) >= abs(observed - half) - 1e-9)
    return float((1 + hits) / (1 + draws))


def permutation_p(
    xs_T: list[np.ndarray],
    ys_T: list[np.ndarray],
    draws: int = MC_PERMUTATIONS,
    seed: int = 0,
    limit: int = EXACT_LIMIT,
) -> tuple[float, bool]:
    """(two-sided p, exact?) of the stratified permutation test of P(X > Y) = 0.5 per task.

    Exact when every task has at most `limit` relabelings, Monte Carlo otherwise."""
    xs_T = [np.asarray(x, dtype=float) for x in xs_T]
    ys_T = [np.asarray(y, dtype=float) for y in ys_T]
    if not xs_T or any(not len(x) or not len(y) for x, y in zip(xs_T, ys_T, strict=True)):
        return math.nan, False
    if all(special.comb(len(x) + len(y), len(x)) <= limit for x, y in zip(xs_T, ys_T)):
        return _exact_p(xs_T, ys_T), True
    return _monte_carlo_p(xs_T, ys_T, draws, seed), False


def holm(p_K: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values of one family; NaN entries are not in the family."""
    p_K = np.asarray(p_K, dtype=float)
    out = np.full_like(p_K, math.nan)
    tested = np.flatnonzero(np.isfinite(p_K))
    order = tested[np.argsort(p_K[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (m - i) * p_K[k]))
        out[k] = running
    return out


def expanded_level(n: int, level: float = 0.95) -> float:
    """Hesterberg's expanded level: z' = sqrt(n / (n - 1)) t_{(1+level)/2, n-1}."""
    if n < 2:
        return math.nan
    z = math.sqrt(n / (n - 1)) * stats.t.ppf(0.5 + level / 2, n - 1)
    return float(2 * stats.norm.cdf(z) - 1)


def _stacked_improvement(*samples, axis=-1):
    """Vectorised statistic for scipy.stats.bootstrap: samples = x_1, y_1, ..., x_T, y_T."""
    per_task = []
    for t in range(0, len(samples), 2):
        x = np.moveaxis(samples[t], axis, -1)[..., :, None]
        y = np.moveaxis(samples[t + 1], axis, -1)[..., None, :]
        per_task.append(((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1)))
    return np.mean(per_task, axis=0)


def bca_interval(
    xs_T: list[np.ndarray],
    ys_T: list[np.ndarray],
    level: float = 0.95,
    resamples: int = BOOT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """BCa interval of P(X > Y), every arm of every task resampled on its own (stratified),
    at the expanded level for the smallest per-arm, per-task count. (NaN, NaN) when a task
    has fewer than 2 runs in an arm or when every resample gives the same value."""
    samples = [np.asarray(s, dtype=float) for pair in zip(xs_T, ys_T) for s in pair]
    n = min((len(s) for s in samples), default=0)
    if n < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        # A degenerate distribution (all X above all Y) is reported as NaN, by design.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(
            samples,
            _stacked_improvement,
            n_resamples=resamples,
            confidence_level=expanded_level(n, level),
            method="BCa",
            vectorized=True,
            random_state=np.random.default_rng(seed),
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else (math.nan, math.nan)


def compare(
    xs_T: list[np.ndarray], ys_T: list[np.ndarray], seed: int = 0, level: float = 0.95
) -> Comparison:
    """Statistic, per-task statistics, permutation p and interval of X against Y."""
    xs_T = [np.asarray(x, dtype=float) for x in xs_T]
    ys_T = [np.asarray(y, dtype=float) for y in ys_T]
    per_task = tuple(task_improvement(x, y) for x, y in zip(xs_T, ys_T, strict=True))
    p, exact = permutation_p(xs_T, ys_T, seed=seed)
    lo, hi = bca_interval(xs_T, ys_T, level, seed=seed) if np.isfinite(p) else (math.nan,) * 2
    return Comparison(
        statistic=float(np.mean(per_task)) if per_task else math.nan,
        per_task=per_task,
        n_x=tuple(len(x) for x in xs_T),
        n_y=tuple(len(y) for y in ys_T),
        p=p,
        exact=exact,
        ci_lo=lo,
        ci_hi=hi,
    )


def verdict(
    p_adjusted: float,
    statistic: float,
    min_runs: int,
    directional: bool = True,
    interim: bool = False,
) -> str:
    """The plan's rule. directional=False (a factor's effect, no predicted direction) says
    which arm is higher instead of supported / contradicted."""
    if min_runs == 0 or not np.isfinite(statistic):
        return "not tested (no runs)"
    if min_runs < MIN_RUNS:
        return f"no verdict (fewer than {MIN_RUNS} runs per arm and task)"
    if not np.isfinite(p_adjusted):
        return "not tested"
    if p_adjusted < ALPHA and statistic != 0.5:
        if directional:
            word = "supported" if statistic > 0.5 else "contradicted"
        else:
            word = "first arm higher" if statistic > 0.5 else "second arm higher"
    else:
        word = f"not separable (p = {p_adjusted:.2g})"
    return ("interim: " + word) if interim else word
