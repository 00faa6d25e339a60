"""Statistics of the update-cost benchmark: the interleaved schedule, robust summaries of
repeated timings, ratios with bootstrap CIs over repetitions, and log-log scaling exponents.

Timings on a shared machine have heavy right tails (another process takes the core), so
every summary is a median with its interquartile range, never a mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 2000


def interleaved(arms: list[str], reps: int) -> list[tuple[int, int, str]]:
    """(repetition, position, arm) in run order: every repetition times every arm once, the
    order rotated by one arm per repetition, so a drift in machine load hits every arm alike
    and each arm takes each position equally often (over len(arms) repetitions)."""
    k = len(arms)
    return [(r, p, arms[(r + p) % k]) for r in range(reps) for p in range(k)]


@dataclass(frozen=True)
class Spread:
    """Median and quartiles of one sample (same unit as the sample)."""

    median: float
    q25: float
    q75: float

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25


def spread(values) -> Spread:
    """Median, 25th and 75th percentile of `values` [n] (NaN entries ignored; all NaN: NaN)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Spread(math.nan, math.nan, math.nan)
    q25, median, q75 = np.percentile(v, [25, 50, 75])
    return Spread(float(median), float(q25), float(q75))


@dataclass(frozen=True)
class Ratio:
    """median(arm) / median(reference) with a percentile bootstrap CI over repetitions."""

    value: float
    low: float
    high: float


def paired_ratio(arm, reference, confidence: float = 0.95, seed: int = 0) -> Ratio:
    """Ratio of medians of two timings [n] measured in the same n repetitions (paired: a
    resample draws whole repetitions, keeping each arm's time beside the reference's)."""
    a, b = np.asarray(arm, dtype=float), np.asarray(reference, dtype=float)
    value = float(np.median(a) / np.median(b))
    if a.size < 2:
        return Ratio(value, math.nan, math.nan)
    res = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.median(x, axis=axis) / np.median(y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return Ratio(value, float(res.confidence_interval.low), float(res.confidence_interval.high))


@dataclass(frozen=True)
class Exponent:
    """k of seconds ~ c size^k, least squares on log(median), with a bootstrap CI, and the
    same fit over the three largest sizes only (fixed costs flatten the slope at small sizes)."""

    value: float
    low: float
    high: float
    tail: float


def loglog_slope(sizes, seconds) -> float:
    """Least-squares slope of log(seconds) against log(sizes) (nan with < 2 sizes)."""
    if len(sizes) < 2:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def scaling_exponent(
    sizes: list[float], samples: list, confidence: float = 0.95, seed: int = 0
) -> Exponent:
    """Fit over sizes [m] with repeated timings samples[i] [n_i] at sizes[i]: the slope of the
    medians, and a percentile CI from resampling the repetitions at each size independently."""
    medians = [float(np.median(s)) for s in samples]
    value = loglog_slope(sizes, medians)
    order = np.argsort(sizes)[-3:]
    tail = loglog_slope([sizes[i] for i in order], [medians[i] for i in order])
    if len(sizes) < 2:
        return Exponent(value, math.nan, math.nan, tail)
    rng = np.random.default_rng(seed)
    # [B, m] medians of resampled repetitions, then every resample's slope at once
    boot_medians = np.stack(
        [
            np.median(rng.choice(np.asarray(s, dtype=float), (BOOTSTRAP_RESAMPLES, len(s))), 1)
            for s in samples
        ],
        axis=1,
    )
    x = np.log(np.asarray(sizes, dtype=float))
    x = x - x.mean()
    y = np.log(boot_medians)
    boot = (y - y.mean(1, keepdims=True)) @ x / (x @ x)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return Exponent(value, float(low), float(high), tail)


def claim_holds(measured: Exponent, claimed: str) -> str:
    """'yes' when the claimed exponent (a number or a range "a-b") meets the CI of the fit,
    'no' when it lies outside, '' when nothing is claimed or the fit failed."""
    if not claimed or not math.isfinite(measured.low):
        return ""
    low, _, high = claimed.partition("-")
    lo, hi = float(low), float(high or low)
    return "yes" if lo <= measured.high and hi >= measured.low else "no"
