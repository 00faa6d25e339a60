"""Per-run and across-seed metrics: small pure functions on numpy arrays.

Shape suffixes (rliable style): _T = one value per training iteration of one run, _S = one
value per seed of one (group, env). Returns arrays may hold NaN where no episode ended in an
iteration; every function that reads a curve forward-fills it first (the latest known return
is the best estimate of current performance) and never reads NaN as zero.

Definitions (the report repeats them):
- final return: mean of the forward-filled return over the last `frac` (10%) of iterations.
- best return: the max over training of the per-iteration mean return (the protocol of
  Tianshou's and TD3's tables: "best").
- normalised AUC: the time-average of the forward-filled return over the steps the run
  logged (trapezoid / step span), min-max normalised with the env's score range, so 1 means
  "at the top of the range from the first logged iteration on".
- steps / seconds to threshold: first step (wall-clock second) at which the forward-filled
  return reaches the threshold; NaN when never reached.
- drawdown: the largest fall of the forward-filled return below its running best.
- collapse: the run gave back more than `frac` (half) of what it gained over its start by the
  end, final < peak - frac * (peak - start), counted only when its gain (peak - start) is at
  least `min_gain` (the report uses 10% of the env's score range) so a flat, noisy run is not
  a collapse. A run that ends below its starting return after a real gain is a collapse.
- KL violation: kl > 1.5 * kl_delta on an update that was not skipped (NPG family only).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# One definition of the final return for the report, the sweep and the W&B summary.
from npgbench.harness.core.returns import ffill, final_return, tail_count  # noqa: F401
from scipy import stats

TIME_PARTS = [
    "time_sample",
    "time_grad",
    "time_fisher_fit",
    "time_solve",
    "time_line_search",
    "time_update_other",
    "time_value",
]
"""Components of one iteration's wall-clock, in stacking order."""
UPDATE_PARTS = ["time_grad", "time_fisher_fit", "time_solve", "time_line_search"]
KNOWN_TIMERS = {*TIME_PARTS, "time_update"}


def best_return(returns_T: np.ndarray) -> float:
    """Max over training of the per-iteration return ("best" protocol); NaN if none."""
    values_T = np.asarray(returns_T, dtype=float)
    return float(np.nanmax(values_T)) if np.isfinite(values_T).any() else math.nan


def normalised_auc(steps_T: np.ndarray, returns_T: np.ndarray, lo: float, hi: float) -> float:
    """Time-average of the forward-filled return over the logged steps, min-max normalised.

    (integral of R ds / (s_last - s_first) - lo) / (hi - lo). One logged point: its value.
    """
    steps_T, filled_T = np.asarray(steps_T, dtype=float), ffill(returns_T)
    ok = np.isfinite(filled_T) & np.isfinite(steps_T)
    if not ok.any() or not hi > lo:
        return math.nan
    s, r = steps_T[ok], filled_T[ok]
    mean = (
        float(r[0]) if len(s) < 2 or s[-1] <= s[0] else float(np.trapezoid(r, s) / (s[-1] - s[0]))
    )
    return (mean - lo) / (hi - lo)


def first_crossing(x_T: np.ndarray, returns_T: np.ndarray, threshold: float) -> float:
    """x (step or wall-clock) at which the forward-filled return first reaches threshold."""
    hit = np.flatnonzero(ffill(returns_T) >= threshold)
    return (
        float(np.asarray(x_T, dtype=float)[hit[0]])
        if len(hit) and np.isfinite(threshold)
        else math.nan
    )


def max_drawdown(returns_T: np.ndarray) -> float:
    """Largest fall of the forward-filled return below its running best (>= 0; NaN if none)."""
    filled_T = ffill(returns_T)
    filled_T = filled_T[np.isfinite(filled_T)]
    if not len(filled_T):
        return math.nan
    return float(np.max(np.maximum.accumulate(filled_T) - filled_T))


def collapsed(
    returns_T: np.ndarray, frac: float = 0.5, min_gain: float = 0.0, final_frac: float = 0.1
) -> float:
    """1.0 if the run collapsed (see module docstring), 0.0 if not, NaN without returns."""
    filled_T = ffill(returns_T)
    valid_T = filled_T[np.isfinite(filled_T)]
    if not len(valid_T):
        return math.nan
    start, peak = valid_T[0], valid_T.max()
    final = final_return(filled_T, final_frac)
    gain = peak - start
    return float(gain > 0 and gain >= min_gain and final < peak - frac * gain)


def rate(flags_T: np.ndarray) -> float:
    """Fraction of finite entries that are true (1.0); NaN when nothing was recorded."""
    flags_T = np.asarray(flags_T, dtype=float)
    ok = np.isfinite(flags_T)
    return float(flags_T[ok].mean()) if ok.any() else math.nan


def kl_violation_rate(
    kl_T: np.ndarray,
    kl_delta_T: np.ndarray,
    skipped_T: np.ndarray | None = None,
    factor: float = 1.5,
) -> float:
    """Fraction of updates with kl > factor * kl_delta, over updates where both are finite
    and the update was not skipped; NaN where the variant has no KL target (kl_delta)."""
    kl_T, delta_T = np.asarray(kl_T, dtype=float), np.asarray(kl_delta_T, dtype=float)
    ok = np.isfinite(kl_T) & np.isfinite(delta_T)
    if skipped_T is not None:
        ok &= ~(np.asarray(skipped_T, dtype=float) == 1.0)
    return float(np.mean(kl_T[ok] > factor * delta_T[ok])) if ok.any() else math.nan


def failed_line_search_rate(accepted_T: np.ndarray) -> float:
    """Fraction of updates whose line search failed (accepted == 0); NaN without a search."""
    accepted_T = np.asarray(accepted_T, dtype=float)
    ok = np.isfinite(accepted_T)
    return float(np.mean(accepted_T[ok] == 0.0)) if ok.any() else math.nan


def steps_per_second(steps_T: np.ndarray, wall_T: np.ndarray) -> float:
    """Environment steps per wall-clock second over the whole run (last step / last time)."""
    steps_T, wall_T = np.asarray(steps_T, dtype=float), np.asarray(wall_T, dtype=float)
    ok = np.isfinite(steps_T) & np.isfinite(wall_T) & (wall_T > 0)
    return float(steps_T[ok][-1] / wall_T[ok][-1]) if ok.any() else math.nan


def time_split(run_df: pd.DataFrame) -> dict[str, float]:
    """Mean seconds per iteration of each TIME_PARTS component for one run.

    time_update_other = time_update minus its logged parts (grad, fisher fit, solve, line
    search, and any extra timer such as time_fidelity, which runs inside the update); for
    variants that log no parts it is the whole update. Missing parts are NaN and are not
    subtracted. An extra timer is NaN on iterations where its work did not run (fidelity runs
    every K updates): that is zero seconds spent, so it counts as 0 in the per-iteration mean.
    """
    mean = {
        c: float(run_df[c].mean()) if c in run_df else math.nan
        for c in ["time_sample", "time_update", "time_value", *UPDATE_PARTS]
    }
    extra = {
        c: float(run_df[c].fillna(0.0).mean())
        for c in sorted(run_df.columns)
        if c.startswith("time_") and c not in KNOWN_TIMERS and run_df[c].notna().any()
    }
    parts = sum(v for k, v in mean.items() if k in UPDATE_PARTS and np.isfinite(v))
    parts += sum(extra.values())
    out = {k: mean[k] for k in TIME_PARTS if k in mean}
    out["time_update_other"] = (
        max(0.0, mean["time_update"] - parts) if np.isfinite(mean["time_update"]) else math.nan
    )
    return {**{k: out[k] for k in TIME_PARTS}, **extra}


def time_columns(columns) -> list[str]:
    """TIME_PARTS followed by any extra time_* parts present in a summary's columns."""
    extra = sorted(c for c in columns if c.startswith("time_") and c not in KNOWN_TIMERS)
    return TIME_PARTS + extra


def mean_ci(values_S: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the Student-t `level` CI) over seeds; half-width NaN if n < 2."""
    values_S = np.asarray(values_S, dtype=float)
    values_S = values_S[np.isfinite(values_S)]
    n = len(values_S)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values_S[0]), math.nan
    sem = values_S.std(ddof=1) / math.sqrt(n)
    return float(values_S.mean()), float(stats.t.ppf(0.5 + level / 2, n - 1) * sem)


def seed_spread(values_S: np.ndarray) -> dict[str, float]:
    """Across-seed std (ddof=1), coefficient of variation std/|mean|, and worst (min) seed."""
    values_S = np.asarray(values_S, dtype=float)
    values_S = values_S[np.isfinite(values_S)]
    if not len(values_S):
        return {"std": math.nan, "cv": math.nan, "worst": math.nan}
    std = float(values_S.std(ddof=1)) if len(values_S) > 1 else math.nan
    mean = float(values_S.mean())
    cv = std / abs(mean) if mean != 0 and np.isfinite(std) else math.nan
    return {"std": std, "cv": cv, "worst": float(values_S.min())}


def run_summary(
    run_df: pd.DataFrame,
    value: str = "return_mean",
    final_frac: float = 0.1,
    score_range: tuple[float, float] = (math.nan, math.nan),
    threshold: float = math.nan,
    collapse_frac: float = 0.5,
) -> dict[str, float]:
    """Every per-run metric of one run's frame (rows sorted by iteration)."""
    lo, hi = score_range
    ret_T, step_T, wall_T = (run_df[c].to_numpy(float) for c in (value, "step", "wall_time"))
    min_gain = 0.1 * (hi - lo) if hi > lo else 0.0
    return {
        "final": final_return(ret_T, final_frac),
        "best": best_return(ret_T),
        "best_eval": best_return(run_df["eval_return_mean"].to_numpy(float)),
        # Sampled-action evaluations (eval.sampled runs only): Tianshou's test protocol.
        "best_eval_sampled": best_return(
            run_df.get("eval_sampled_return_mean", pd.Series(math.nan, index=run_df.index))
        ),
        "auc": normalised_auc(step_T, ret_T, lo, hi),
        "steps_to_threshold": first_crossing(step_T, ret_T, threshold),
        "seconds_to_threshold": first_crossing(wall_T, ret_T, threshold),
        "drawdown": max_drawdown(ret_T),
        "collapsed": collapsed(ret_T, collapse_frac, min_gain, final_frac),
        "kl_violation": kl_violation_rate(run_df["kl"], run_df["kl_delta"], run_df["skipped"]),
        "skipped": rate(run_df["skipped"]),
        "failed_line_search": failed_line_search_rate(run_df["accepted"]),
        "steps_per_s": steps_per_second(step_T, wall_T),
        "seconds_per_update": float(run_df["time_update"].mean()),
        **time_split(run_df),
    }


def censored_median(values_S: pd.Series) -> tuple[float, str]:
    """(median over every seed, 'k/n reached') of a steps/seconds-to-threshold column whose
    NaN means "never reached": such a seed counts as above every seed that reached, so the
    median is known only when more than half reached; NaN (shown "> budget") otherwise.
    A median over the reached seeds alone would report the lucky ones."""
    values = np.asarray(values_S, dtype=float)
    n, hit = len(values), np.sort(values[np.isfinite(values)])
    k_of_n = f"{len(hit)}/{n}"
    if n == 0:
        return math.nan, k_of_n
    middle = [(n - 1) // 2, n // 2]  # the one (odd n) or two (even n) middle order statistics
    if middle[-1] >= len(hit):
        return math.nan, k_of_n
    return float(np.mean(hit[middle])), k_of_n
