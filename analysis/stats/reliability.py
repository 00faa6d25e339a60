"""Evaluation-curve metrics: final return, AUC and the reliability metrics of Chan et al. 2020.

Chan, Fishman, Canny, Korattikara, Guadarrama 2020, "Measuring the Reliability of
Reinforcement Learning Algorithms" (ICLR; google-research/rl-reliability-metrics):
- dispersion across time: interquartile range of the detrended curve, detrending by first
  differences (a steadily rising curve has small, similar differences; an erratic one has a
  wide spread of them);
- long-term risk across time: CVaR of the drawdown (running best minus current value) on a
  smoothed curve, i.e. the mean of a run's worst `alpha` share of drawdowns.
Shape suffix _E: one value per evaluation point of one run (rows where eval_return_mean is
logged), in step order. All functions return NaN where a run has too few points.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.stats.run_metrics import normalised_auc

FINAL_EVAL_POINTS = 3
"""Fallback final return: mean of this many last evaluation points."""
SMOOTH_POINTS = 3
"""Trailing moving-average window (evaluation points) before drawdown."""
CVAR_ALPHA = 0.10
"""Share of a run's drawdown values averaged by CVaR (the worst 10%)."""


def eval_points(run_df: pd.DataFrame, column: str = "eval_return_mean"):
    """(steps_E, returns_E): the rows of one run where an evaluation was logged."""
    if column not in run_df:
        return np.empty(0), np.empty(0)
    values = run_df[column].to_numpy(float)
    ok = np.isfinite(values)
    return run_df["step"].to_numpy(float)[ok], values[ok]


def last_points_mean(returns_E: np.ndarray, k: int = FINAL_EVAL_POINTS) -> float:
    """Mean of the last k evaluation points (the fallback final return)."""
    returns_E = np.asarray(returns_E, dtype=float)
    return float(returns_E[-k:].mean()) if len(returns_E) else math.nan


def trailing_mean(values_E: np.ndarray, window: int = SMOOTH_POINTS) -> np.ndarray:
    """Trailing moving average; the first points average over the points available."""
    values_E = np.asarray(values_E, dtype=float)
    csum = np.concatenate([[0.0], np.cumsum(values_E)])
    idx = np.arange(1, len(values_E) + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def dispersion_across_time(returns_E: np.ndarray) -> float:
    """IQR of the first differences of the evaluation curve (Chan et al. 2020)."""
    returns_E = np.asarray(returns_E, dtype=float)
    if len(returns_E) < 3:
        return math.nan
    q75, q25 = np.percentile(np.diff(returns_E), [75, 25])
    return float(q75 - q25)


def drawdown_cvar(
    returns_E: np.ndarray, alpha: float = CVAR_ALPHA, window: int = SMOOTH_POINTS
) -> float:
    """CVaR_alpha of drawdown on the trailing-mean curve: the mean of the ceil(alpha n)
    largest drawdowns (running best minus current value) of one run."""
    smooth_E = trailing_mean(returns_E, window)
    if not len(smooth_E):
        return math.nan
    drawdown_E = np.maximum.accumulate(smooth_E) - smooth_E
    worst = max(1, math.ceil(alpha * len(drawdown_E)))
    return float(np.sort(drawdown_E)[-worst:].mean())


def median_finite(values: np.ndarray) -> float:
    """Median over the finite entries (updates that carry a diagnostic); NaN if none."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else math.nan


STEP_COLUMNS = (
    "step_gain_insample",
    "step_gain_heldout",
    "step_kl_insample",
    "step_kl_heldout",
    "prev_step_kl_fresh",
)
"""Held-out step diagnostics of newer runs (NaN on updates without the diagnostic)."""


def step_measures(run_df: pd.DataFrame) -> dict[str, float]:
    """Per-run median of every step diagnostic (NaN = not measured), and beta g^T x on the
    whole batch ("in-sample first-order gain per update") for runs that log beta, g_dot_x."""
    out = {c: median_finite(run_df[c]) if c in run_df else math.nan for c in STEP_COLUMNS}
    if {"beta", "g_dot_x"} <= set(run_df.columns):
        out["gain_insample_batch"] = median_finite(run_df["beta"] * run_df["g_dot_x"])
    else:
        out["gain_insample_batch"] = math.nan
    return out


def eval_summary(run_df: pd.DataFrame, lo: float, hi: float) -> dict[str, float]:
    """Evaluation-curve metrics of one run; stability ones normalised by the score range."""
    steps_E, returns_E = eval_points(run_df)
    span = hi - lo if hi > lo else math.nan
    return {
        "final_eval_last3": last_points_mean(returns_E),
        "auc_eval": normalised_auc(steps_E, returns_E, lo, hi) if len(steps_E) else math.nan,
        "dispersion_time": dispersion_across_time(returns_E) / span,
        "drawdown_cvar": drawdown_cvar(returns_E) / span,
    }
