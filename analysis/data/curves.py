"""Per-run curves of the tidy frame (load.RunSet.frame): iteration order, and every run on
a common x grid for mean curves across seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd


def run_frames(frame: pd.DataFrame):
    """Yield (run_id, per-run frame sorted by iteration)."""
    for run_id, df in frame.groupby("run_id", sort=True):
        yield run_id, df.sort_values("iteration", kind="stable")


def interpolate_curves(
    frame: pd.DataFrame, value: str = "return_mean", x: str = "step", num: int = 101
) -> pd.DataFrame:
    """Every run's curve on a common x grid per (study, env), for aggregate curves.

    The per-iteration value is forward-filled first (NaN = no episode ended that iteration,
    not zero), leading NaNs dropped, then linearly interpolated. The grid spans the smallest
    to the largest x of the env's runs; a run contributes NaN outside its own x range (no
    extrapolation), so a short run stops instead of being stretched.
    Returns columns study, env, group, run_id, seed, x, value (long form, num rows per run,
    one where all of an env's runs share one x).
    """
    out = []
    for (study, env), env_df in frame.groupby(["study", "env"], sort=True):
        lo, hi = env_df[x].min(), env_df[x].max()
        # One x value (every run a single update): one grid point, not `num` equal ones.
        grid_X = np.linspace(lo, hi, num if hi > lo else 1)
        for run_id, df in run_frames(env_df):
            xs, ys = df[x].to_numpy(float), df[value].ffill().to_numpy(float)
            ok = np.isfinite(xs) & np.isfinite(ys)
            vals_X = np.full(len(grid_X), np.nan)
            if ok.any():
                inside = (grid_X >= xs[ok][0]) & (grid_X <= xs[ok][-1])
                vals_X[inside] = np.interp(grid_X[inside], xs[ok], ys[ok])
            out.append(
                pd.DataFrame(
                    {
                        "study": study,
                        "env": env,
                        "group": df["group"].iloc[0],
                        "run_id": run_id,
                        "seed": df["seed"].iloc[0],
                        "x": grid_X,
                        "value": vals_X,
                    }
                )
            )
    cols = ["study", "env", "group", "run_id", "seed", "x", "value"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
