"""Experiment-specific analyses, each shown only when the data supports it.

- parameterisation invariance: runs that differ only in policy.std_param
- step-size sensitivity: runs that differ only in update.lr / kl_delta / clip / fixed_step

"Differ only in" is variants.comparisons. Each analysis is a small pure function on arrays
plus a builder returning a tables.Table (None when not applicable); figures are in
experiment_plots.py; damping, Fisher fidelity and cost scaling are in
fisher_experiments.py. The definitions are restated in every table's note.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.data.curves import interpolate_curves
from npgbench.analysis.data.table import Table, fmt, fmt_pm
from npgbench.analysis.data.variants import comparisons, per_value

STD_KEY = "policy.std_param"
STEP_KEYS = ("update.lr", "update.kl_delta", "update.clip", "update.fixed_step")
NEAR = 0.1
"""Near-best tolerance: 10% of |best| ("within 10% of best" in the step-size table below and in
claims.py)."""


# ----------------------------------------------------------------------------- pure functions


def curve_spread(means_PX: np.ndarray, lo: float, hi: float) -> float:
    """Mean over grid points of (max - min across parameterisations P) of seed-averaged
    curves, divided by the score range hi - lo. Grid points where any curve is NaN are
    skipped; NaN with fewer than two curves or no common point."""
    means_PX = np.asarray(means_PX, dtype=float)
    if means_PX.ndim != 2 or len(means_PX) < 2 or not hi > lo:
        return math.nan
    ok_X = np.isfinite(means_PX).all(axis=0)
    if not ok_X.any():
        return math.nan
    both = means_PX[:, ok_X]
    return float(np.mean(both.max(axis=0) - both.min(axis=0)) / (hi - lo))


def tolerance(best: float) -> tuple[float, str]:
    """(tolerance, what it is) for "near the best": NEAR of |best| (|.| so negative returns
    work). Not a fraction of the score range: early in training every return is far below
    the published maximum, and 10% of that range would call every step size near-best."""
    return NEAR * abs(best), f"{NEAR:.0%} of |best|"


def near_best_range(values_V, finals_V, tol: float) -> dict:
    """The contiguous block of swept values (sorted) around the best whose final return is
    >= best - tol. Returns best_value, best_final, lo, hi, ratio hi/lo, orders log10(ratio),
    lo_edge / hi_edge (the block reaches the smallest / largest value swept: the true range
    may be wider). NaN finals never qualify."""
    values_V = np.asarray(values_V, dtype=float)
    finals_V = np.asarray(finals_V, dtype=float)
    order = np.argsort(values_V, kind="stable")
    values_V, finals_V = values_V[order], finals_V[order]
    nan = {
        "best_value": math.nan,
        "best_final": math.nan,
        "lo": math.nan,
        "hi": math.nan,
        "ratio": math.nan,
        "orders": math.nan,
        "lo_edge": False,
        "hi_edge": False,
    }
    if not np.isfinite(finals_V).any():
        return nan
    b = int(np.nanargmax(finals_V))
    ok_V = np.isfinite(finals_V) & (finals_V >= finals_V[b] - tol)
    i, j = b, b
    while i > 0 and ok_V[i - 1]:
        i -= 1
    while j < len(ok_V) - 1 and ok_V[j + 1]:
        j += 1
    lo, hi = float(values_V[i]), float(values_V[j])
    ratio = hi / lo if lo > 0 else math.nan
    return {
        "best_value": float(values_V[b]),
        "best_final": float(finals_V[b]),
        "lo": lo,
        "hi": hi,
        "ratio": ratio,
        "orders": math.log10(ratio) if ratio > 0 else math.nan,
        "lo_edge": i == 0,
        "hi_edge": j == len(ok_V) - 1,
    }


# ----------------------------------------------------------------------------- builders


INVARIANCE_NOTE = (
    "Runs that differ only in policy.std_param (same algorithm and every other "
    "setting; runs under controlled-1m's protocol are compared across suites in F5 "
    "instead). Curve spread: at each of the common step-grid points (where every "
    "parameterisation has a value) take max - min over parameterisations of the "
    "seed-averaged learning curves, average over the grid, divide by the env's score "
    "range (0 = identical curves, 0.1 = 10% of the range apart on average). Final "
    "range: max - min over parameterisations of the mean final return (normalised in "
    "brackets). Seed std: mean over parameterisations of the across-seed std of the "
    "final return, normalised; a spread below it is within seed noise."
)
STEP_SIZE_NOTE = (
    "Runs that differ only in one step-size setting. Final return per value: mean over "
    "seeds. Within 10% of best: the contiguous block of swept values around the best "
    "whose mean final return is >= best - tol, with tol = 10% of |best| (so negative "
    "returns work); orders = log10(hi/lo). ≤ / ≥: the block reaches the edge of the "
    "sweep, so the true range may be wider. Swept through a grid or through suite variants "
    "alike: any runs equal in every other setting."
)


def invariance(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    ranges: dict,
    value: str = "return_mean",
    points: int = 101,
) -> tuple[Table | None, pd.DataFrame]:
    """(table, curves) over the runs that differ only in policy.std_param. curves: the
    interpolated per-run curves with group = std_param and panel = "variant | env"."""
    cmp = comparisons(runs, STD_KEY)
    cmp = cmp[cmp["run_id"].isin(frame["run_id"])]
    finals = summary.set_index("run_id")["final"]
    rows, view, curves = [], [], []
    for (group, env), c in cmp.groupby(["group", "env"], sort=True):
        param = dict(zip(c["run_id"], c["value_text"]))
        sub = frame[frame["run_id"].isin(param)]
        long = interpolate_curves(sub.assign(group=sub["run_id"].map(param)), value, "step", points)
        curves.append(long.assign(panel=f"{group} | {env}"))
        by_param = c.assign(final=c["run_id"].map(finals)).groupby("value_text", sort=True)["final"]
        rec, shown = _invariance_row(env, group, c, long, by_param, ranges[env][:2])
        rows.append(rec)
        view.append(shown)
    if not rows:
        return None, pd.DataFrame()
    table = Table(
        "std_param_invariance",
        "Parameterisation invariance",
        pd.DataFrame(rows),
        pd.DataFrame(view),
        INVARIANCE_NOTE,
    )
    return table, pd.concat(curves, ignore_index=True)


def _invariance_row(env: str, group: str, c, long, by_param, lo_hi) -> tuple[dict, dict]:
    """(record, shown row) of one (variant, env): c its comparison rows, long its curves
    (group = std_param), by_param its finals grouped by std_param, lo_hi its score range."""
    lo, hi = lo_hi
    wide = long.groupby(["group", "x"], sort=True)["value"].mean().unstack("x")
    means, stds = by_param.mean(), by_param.std()
    span = float(means.max() - means.min())
    rec = {
        "env": env,
        "group": group,
        "algo": c["algo"].iloc[0],
        "parameterisations": ", ".join(means.index),
        "runs": len(c),
        "curve_spread_norm": curve_spread(wide.to_numpy(float), lo, hi),
        "final_range": span,
        "final_range_norm": span / (hi - lo),
        "seed_std_norm": float(stds.mean()) / (hi - lo),
        **{f"final_{p}": float(m) for p, m in means.items()},
    }
    shown = {
        "env": env,
        "variant": group,
        "runs per std_param": ", ".join(f"{p} {n}" for p, n in by_param.count().items()),
        "final return per std_param": ", ".join(f"{p} {fmt(m)}" for p, m in means.items()),
        "final range (norm.)": f"{fmt(span)} ({fmt(rec['final_range_norm'])})",
        "curve spread (norm.)": fmt(rec["curve_spread_norm"]),
        "seed std (norm.)": fmt(rec["seed_std_norm"]),
    }
    return rec, shown


def step_size(
    summary: pd.DataFrame, runs: pd.DataFrame, ranges: dict
) -> tuple[Table | None, pd.DataFrame]:
    """(table, per-value finals) for every step-size key swept with everything else fixed."""
    parts = [per_value(summary, runs, key) for key in STEP_KEYS]
    parts = [p for p in parts if not p.empty and pd.api.types.is_numeric_dtype(p["value"])]
    if not parts:
        return None, pd.DataFrame()
    long = pd.concat(parts, ignore_index=True)
    rows, view = [], []
    for (env, group, key), df in long.groupby(["env", "group", "key"], sort=True):
        rec, shown = _step_size_row(env, group, key, df)
        rows.append(rec)
        view.append(shown)
    table = Table(
        "step_size_sensitivity",
        "Step-size sensitivity",
        pd.DataFrame(rows),
        pd.DataFrame(view),
        STEP_SIZE_NOTE,
    )
    return table, long


def _step_size_row(env: str, group: str, key: str, df: pd.DataFrame) -> tuple[dict, dict]:
    """(record, shown row) of one swept key: df holds its per-value finals (per_value)."""
    best = float(df["final_mean"].max())
    tol, tol_text = tolerance(best)
    r = near_best_range(df["value"], df["final_mean"], tol)
    rec = {
        "env": env,
        "group": group,
        "algo": df["algo"].iloc[0],
        "key": key,
        "values": len(df),
        "seeds": int(df["seeds"].min()),
        **r,
        "tolerance": tol,
        "tolerance_basis": tol_text,
    }
    ge = "≥ " if r["lo_edge"] or r["hi_edge"] else ""
    shown = {
        "env": env,
        "variant": group,
        "key": key,
        "final per value (mean ± std)": ", ".join(
            f"{t}: {fmt_pm(m, sd)}"
            for t, m, sd in zip(df["value_text"], df["final_mean"], df["final_std"])
        ),
        "best": f"{fmt(r['best_value'])} ({fmt(r['best_final'])})",
        "within 10% of best": "n/a"
        if not np.isfinite(r["lo"])
        else f"[{'≤ ' if r['lo_edge'] else ''}{fmt(r['lo'])}, "
        f"{'≥ ' if r['hi_edge'] else ''}{fmt(r['hi'])}]",
        "hi/lo (orders)": f"{ge}{fmt(r['ratio'])} ({ge}{fmt(r['orders'], 2)})",
    }
    return rec, shown
