"""The public analysis API, for a researcher's own notebook: run directories -> tidy frame ->
per-run scores -> aggregates with confidence intervals -> a plot in the caller's Axes.

    from npgbench.analysis import api
    runs = api.load("results/quickstart")          # RunSet: .frame (tidy), .runs, .warnings
    scores = api.scores(runs)                      # one row per run: final, best, auc, score
    estimates = api.aggregate(scores)              # IQM, median, mean, gap with 95% CIs
    ax = api.plot_curves(api.curves(runs), "Hopper-v5", ax=my_ax)

Every function is a thin layer over the ones `npgbench report` uses (analysis.load,
summary, aggregate, plots), so a notebook's numbers equal the report's. Plot functions take
a keyword-only `ax=None` (rliable's plot_utils style), draw into it (a new figure when None)
and return it; styling stays with the caller. Importing this module has no global side
effects: it loads neither torch nor matplotlib.pyplot and leaves matplotlib's backend alone
(plots are imported on first use).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from npgbench.analysis.data.load import RunSet, interpolate_curves, load_runs
from npgbench.analysis.stats import aggregate as _aggregate
from npgbench.analysis.stats.summary import (
    Options,
    SuiteInfo,
    load_suite_info,
    score_matrices,
    summarise_runs,
)

AGGREGATES = tuple(_aggregate.AGGREGATES)
"""Names of the aggregates `aggregate` estimates: IQM, median, mean, optimality gap."""


def load(root: str | Path, *, include_incomplete: bool = False) -> RunSet:
    """Every run directory under root (recursively). `.frame` is the tidy per-iteration
    frame (columns analysis.load.ID_COLUMNS + CORE_COLUMNS + extras) of the complete runs,
    and with include_incomplete=True also the rows so far of running, interrupted and
    failed runs (a live sweep can then be plotted; `scores` still uses complete runs only);
    `.runs` lists every run with its status, `.warnings` the files that were skipped."""
    return load_runs(root, include_incomplete=include_incomplete)


def _frame(runs: RunSet | pd.DataFrame, complete_only: bool = False) -> pd.DataFrame:
    if not isinstance(runs, RunSet):
        return runs
    if not complete_only:
        return runs.frame
    return runs.frame[runs.frame["run_id"].isin(runs.complete["run_id"])]


def curves(
    runs: RunSet | pd.DataFrame, *, value: str = "return_mean", x: str = "step", points: int = 101
) -> pd.DataFrame:
    """Every run's `value` column on a common `x` grid per (study, env) (x: step or
    wall_time).

    Returns the long frame the curve plots read: columns study, env, group, run_id, seed, x,
    value (`points` rows per run; NaN outside a run's own x range, never extrapolated);
    `.attrs` records the `value` and `x` columns, which `plot_curves` puts on its axes."""
    out = interpolate_curves(_frame(runs), value, x, points)
    out.attrs.update(value=value, x=x)
    return out


def scores(
    runs: RunSet | pd.DataFrame,
    *,
    suite: str | Path | SuiteInfo | None = None,
    value: str = "return_mean",
    final_frac: float = 0.1,
) -> pd.DataFrame:
    """One row per complete run: its identity, every per-run metric of the report (final,
    best, auc, steps_to_threshold, drawdown, collapsed, ..., steps_per_s) and `score`, the
    final return min-max normalised by the env's range (`score_lo`, `score_hi`,
    `range_source`: the suite's score_ranges where it has one, else observed min/max).

    suite: a shipped suite name, a .toml path, or None for the suite each run's meta.json
    names (as `npgbench report` does). value: the return column scored."""
    given = suite if isinstance(suite, SuiteInfo) else load_suite_info(suite) if suite else None
    opts = Options(value=value, final_frac=final_frac)
    parts = []
    # suites are never mixed; a run still going has no final return yet
    for study, frame in _frame(runs, complete_only=True).groupby("study", sort=True):
        summary, ranges, _ = summarise_runs(frame, given or _study_suite(study), opts)
        lo = summary["env"].map(lambda env, r=ranges: r[env][0])
        hi = summary["env"].map(lambda env, r=ranges: r[env][1])
        source = summary["env"].map(lambda env, r=ranges: r[env][2])
        parts.append(
            summary.assign(
                score=(summary["final"] - lo) / (hi - lo),
                score_lo=lo,
                score_hi=hi,
                range_source=source,
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _study_suite(name: str) -> SuiteInfo:
    """The suite a study's meta.json names; without one (or unloadable) no ranges."""
    try:
        return load_suite_info(name) if name else SuiteInfo()
    except (ValueError, OSError, ImportError):
        return SuiteInfo(name=name)


def score_dict(scores_df: pd.DataFrame, *, column: str = "score") -> dict[str, np.ndarray]:
    """{group: scores_RT} of one study (rliable's data contract: R seeds x T envs, NaN-padded);
    a group missing an env is left out, since an aggregate across envs needs every one."""
    ranges = {env: (0.0, 1.0) for env in scores_df["env"].unique()}  # column is normalised
    return score_matrices(scores_df, ranges, column)[0]


def aggregate(
    scores_df: pd.DataFrame,
    *,
    column: str = "score",
    reps: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """IQM, median, mean and optimality gap of `column` across envs and seeds per group, with
    stratified-bootstrap percentile CIs (rliable's get_interval_estimates; seeded, so the
    same input gives the same CIs as the report's).

    Returns columns study, group, metric, point, lo, hi, runs, envs (one row per metric)."""
    rows = []
    for study, df in scores_df.groupby("study", sort=True):
        matrices = score_dict(df, column=column)
        estimates = _aggregate.interval_estimates(matrices, reps, level, seed)
        for group, by_metric in estimates.items():
            runs_n = int(np.isfinite(matrices[group]).sum())
            for metric, (point, lo, hi) in by_metric.items():
                rows.append(
                    {
                        "study": study,
                        "group": group,
                        "metric": metric,
                        "point": point,
                        "lo": lo,
                        "hi": hi,
                        "runs": runs_n,
                        "envs": matrices[group].shape[1],
                    }
                )
    columns = ["study", "group", "metric", "point", "lo", "hi", "runs", "envs"]
    return pd.DataFrame(rows, columns=columns)


def _plots():
    """npgbench.analysis.figures.plots, imported on first use (it loads matplotlib.pyplot, which a
    caller that only computes numbers does not need)."""
    from npgbench.analysis.figures import plots

    return plots


X_LABELS = {"step": "environment steps", "wall_time": "wall-clock time (s)"}
"""The x-axis label of each `x` that `curves` takes."""


def plot_curves(
    curves_df: pd.DataFrame,
    env: str,
    *,
    ax=None,
    colors=None,
    run_ends: bool = False,
    xlabel: str | None = None,
):
    """Mean over seeds of every group's curve on one env with a Student-t 95% CI band of
    that mean (the per-env tables' interval), one line per group and a legend with each
    group's seed count. The axes are labelled from the `value` and `x` that `curves` used;
    xlabel overrides the x label. colors: {group: colour}; a group without one gets the
    style's next colour for its line and its band. run_ends: tick where each seed stopped.
    Returns ax."""
    x = curves_df.attrs.get("x", "step")
    return _plots().learning_curve(
        curves_df,
        env,
        ax=ax,
        style=colors,
        value=curves_df.attrs.get("value", "return_mean"),
        xlabel=xlabel or X_LABELS.get(x, x.replace("_", " ")),
        run_ends=run_ends,
    )


def plot_intervals(estimates: pd.DataFrame, metric: str = "IQM", *, ax=None, colors=None):
    """Point estimate and CI of one aggregate (a row of `aggregate`'s output per group) as a
    horizontal bar per group. Returns ax."""
    chosen = estimates[estimates["metric"] == metric]
    by_group = {g: {metric: (r.point, r.lo, r.hi)} for g, r in chosen.set_index("group").iterrows()}
    return _plots().interval_plot(by_group, metric, ax=ax, colors=colors)


def plot_profiles(
    scores_df: pd.DataFrame, *, column: str = "score", ax=None, colors=None, **kwargs
):
    """Performance profiles: fraction of runs with `column` > tau per group, bootstrap bands
    (rliable's plot_performance_profiles). kwargs: reps, seed. Returns ax."""
    return _plots().performance_profiles(
        score_dict(scores_df, column=column), ax=ax, style=colors, **kwargs
    )


__all__ = [
    "AGGREGATES",
    "aggregate",
    "curves",
    "load",
    "plot_curves",
    "plot_intervals",
    "plot_profiles",
    "score_dict",
    "scores",
]
