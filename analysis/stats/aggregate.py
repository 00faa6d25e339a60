"""Aggregates across tasks with stratified-bootstrap CIs, after rliable (Agarwal et al. 2021).

Data contract (rliable's): scores_RT = normalised scores of one variant, R runs (seeds) x T
tasks (envs); score_dict = {variant: scores_RT}. Every aggregate also accepts leading batch
axes (scores_BRT) so the bootstrap evaluates all replicates in one call, and ignores NaN
(padding where tasks have unequal run counts). On complete matrices they equal rliable's
aggregate_iqm / median / mean / optimality_gap, probability_of_improvement and
run_score_distribution exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

Aggregate = Callable[[np.ndarray], np.ndarray]


def normalise(scores: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Min-max normalisation: lo -> 0, hi -> 1 (scores above hi exceed 1)."""
    return (np.asarray(scores, dtype=float) - lo) / (hi - lo)


def iqm(scores_RT: np.ndarray) -> np.ndarray:
    """Interquartile mean over all runs and tasks: scipy.stats.trim_mean(., 0.25, axis=None),
    which cuts floor(0.25 n) scores from each end. NaN entries are not counted."""
    scores = np.asarray(scores_RT, dtype=float)
    flat_BN = scores.reshape(*scores.shape[:-2], -1)
    sorted_BN = np.sort(flat_BN, axis=-1)  # NaN sort last
    n_B = np.isfinite(flat_BN).sum(axis=-1)
    cut_B = np.floor(0.25 * n_B).astype(int)
    pos_N = np.arange(flat_BN.shape[-1])
    keep_BN = (pos_N >= cut_B[..., None]) & (pos_N < (n_B - cut_B)[..., None])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep_BN, sorted_BN, 0.0).sum(axis=-1) / keep_BN.sum(axis=-1)


def _task_means(scores_RT: np.ndarray) -> np.ndarray:
    """Per-task mean over finite runs, shape (..., T); NaN for a task with none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN task: NaN is the answer
        return np.nanmean(np.asarray(scores_RT, dtype=float), axis=-2)


def median(scores_RT: np.ndarray) -> np.ndarray:
    """Median over tasks of the per-task mean score (rliable aggregate_median)."""
    return np.median(_task_means(scores_RT), axis=-1)


def mean(scores_RT: np.ndarray) -> np.ndarray:
    """Mean over tasks of the per-task mean score (rliable aggregate_mean)."""
    return np.mean(_task_means(scores_RT), axis=-1)


def optimality_gap(scores_RT: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """gamma - mean(min(score, gamma)): how far below 'solved' (gamma) the variant stays."""
    clipped = np.minimum(np.asarray(scores_RT, dtype=float), gamma)
    return gamma - np.mean(_task_means(clipped), axis=-1)


AGGREGATES: dict[str, Aggregate] = {
    "IQM": iqm,
    "median": median,
    "mean": mean,
    "optimality gap": optimality_gap,
}


def probability_of_improvement(x_RT: np.ndarray, y_RT: np.ndarray) -> np.ndarray:
    """P(X > Y): per task the Mann-Whitney statistic / (Rx * Ry) (ties count 1/2), averaged
    over tasks. x_RT and y_RT share T (and any leading axes); run counts may differ."""
    x = np.asarray(x_RT, dtype=float)[..., :, None, :]
    y = np.asarray(y_RT, dtype=float)[..., None, :, :]
    wins = (x > y) + 0.5 * (x == y)
    valid = np.isfinite(x) & np.isfinite(y)
    per_task = np.where(valid, wins, 0.0).sum(axis=(-3, -2)) / valid.sum(axis=(-3, -2))
    return np.mean(per_task, axis=-1)


def score_distribution(scores_RT: np.ndarray, taus_K: np.ndarray) -> np.ndarray:
    """Performance profile: fraction of runs with score > tau, for each tau (shape ..., K);
    averaged per task first so NaN padding does not weigh a task down."""
    scores = np.asarray(scores_RT, dtype=float)[..., None]
    taus = np.asarray(taus_K, dtype=float)
    valid = np.isfinite(scores)
    frac_TK = np.where(valid, scores > taus, 0).sum(axis=-3) / valid.sum(axis=-3)
    return np.mean(frac_TK, axis=-2)


def bootstrap_indices(counts_T: list[int], reps: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified resampling (rliable's StratifiedBootstrap): within every task, draw its own
    runs with replacement. Returns idx_BRT into a NaN-padded R = max(counts) matrix; rows
    beyond a task's count point at padding (NaN), keeping each task's own sample size."""
    r_max = max(counts_T)
    idx_BRT = np.empty((reps, r_max, len(counts_T)), dtype=int)
    for t, n in enumerate(counts_T):
        idx_BRT[:, :n, t] = rng.integers(0, n, size=(reps, n))
        idx_BRT[:, n:, t] = np.arange(n, r_max)
    return idx_BRT


def resample(scores_RT: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """scores_BRT: `reps` stratified bootstrap replicates of a NaN-padded scores_RT."""
    scores_RT = np.asarray(scores_RT, dtype=float)
    counts_T = [int(np.isfinite(scores_RT[:, t]).sum()) for t in range(scores_RT.shape[1])]
    if min(counts_T) == 0:
        raise ValueError("every task needs at least one finite score")
    # Move finite scores to the top of each column so index n.. is padding.
    order_RT = np.argsort(~np.isfinite(scores_RT), axis=0, kind="stable")
    packed_RT = np.take_along_axis(scores_RT, order_RT, axis=0)
    idx_BRT = bootstrap_indices(counts_T, reps, rng)
    return packed_RT[idx_BRT, np.arange(scores_RT.shape[1])]


def percentile_ci(replicates_B: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (rliable's default method) of bootstrap replicates."""
    tail = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(replicates_B, [tail, 100 - tail], axis=0)
    return float(lo), float(hi)


def interval_estimate(
    scores_RT: np.ndarray, func: Aggregate, reps: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(point, ci_lo, ci_hi) of func(scores_RT) with a seeded stratified bootstrap."""
    rng = np.random.default_rng(seed)
    point = float(func(np.asarray(scores_RT, dtype=float)))
    if not np.isfinite(point):
        return point, math.nan, math.nan
    return (point, *percentile_ci(func(resample(scores_RT, reps, rng)), level))


def interval_estimates(
    score_dict: dict[str, np.ndarray], reps: int = 2000, level: float = 0.95, seed: int = 0
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """{variant: {aggregate name: (point, lo, hi)}} for every AGGREGATES entry; every variant
    and aggregate uses the same seed, so adding a variant does not change the others' CIs."""
    return {
        name: {
            agg: interval_estimate(scores, func, reps, level, seed)
            for agg, func in AGGREGATES.items()
        }
        for name, scores in score_dict.items()
    }


def improvement_estimate(
    x_RT: np.ndarray, y_RT: np.ndarray, reps: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(P(X > Y), ci_lo, ci_hi): X and Y resampled independently, each stratified by task."""
    rng = np.random.default_rng(seed)
    point = float(probability_of_improvement(x_RT, y_RT))
    reps_x, reps_y = resample(x_RT, reps, rng), resample(y_RT, reps, rng)
    return (point, *percentile_ci(probability_of_improvement(reps_x, reps_y), level))


def performance_profile(
    scores_RT: np.ndarray, taus_K: np.ndarray, reps: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(profile_K, ci_2K): fraction of runs above each tau with a bootstrap percentile band."""
    rng = np.random.default_rng(seed)
    profile_K = score_distribution(scores_RT, taus_K)
    reps_BK = score_distribution(resample(scores_RT, reps, rng), taus_K)
    tail = 100 * (1 - level) / 2
    return profile_K, np.nanpercentile(reps_BK, [tail, 100 - tail], axis=0)
