"""Report figures. Every plotting function draws on a keyword-only `ax` (a new figure when
None) and returns the Axes, as rliable's plot_utils do; `*_figure` helpers compose several
axes into one figure. Styles (colour, dash, marker per variant) come from plot_style.styles.

Curve inputs are the long frames of load.interpolate_curves (columns study, env, group,
run_id, seed, x, value). Uncertainty is drawn the way the tables state it: per-env curves
carry the Student-t 95% CI of the mean over seeds (the per-env tables' interval), across-env
curves and intervals the stratified bootstrap of the aggregate tables. A curve is drawn only
where every one of its seeds has a value, so its tail is never a single seed.
"""

from __future__ import annotations

import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import EngFormatter
from npgbench.analysis.figures.style import (
    axis_label,
    legend_outside,
    merged_n_labels,
    n_label,
    new_ax,
    palette,
    plain,
    save,
    style_of,
    styles,
)
from npgbench.analysis.stats import aggregate
from scipy import stats

__all__ = [
    "aggregate_curve",
    "facet_figure",
    "interval_figure",
    "interval_plot",
    "iqm_name",
    "learning_curve",
    "mean_band",
    "palette",
    "performance_profiles",
    "save",
    "styles",
]
MARKS_PER_CURVE = 8
"""Markers along a curve: enough to tell dashes apart in greyscale, few enough to read."""


def mean_band(values_RX: np.ndarray, level: float = 0.95):
    """(mean_X, lo_X, hi_X, n_X): mean over runs at each grid point with its Student-t CI
    (half-width t_{n-1} * std / sqrt(n), as metrics.mean_ci); NaN band where n < 2."""
    values_RX = np.asarray(values_RX, dtype=float)
    n_X = np.isfinite(values_RX).sum(axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points no run reached
        mean_X = np.nanmean(values_RX, axis=0)
        sem_X = np.nanstd(values_RX, axis=0, ddof=1) / np.sqrt(n_X)
        half_X = stats.t.ppf(0.5 + level / 2, np.maximum(n_X - 1, 1)) * sem_X
    half_X = np.where(n_X >= 2, half_X, np.nan)
    return mean_X, mean_X - half_X, mean_X + half_X, n_X


def learning_curve(
    curves: pd.DataFrame,
    env: str,
    *,
    ax=None,
    style=None,
    value: str = "return",
    xlabel: str = "environment steps",
    run_ends: bool = False,
):
    """Mean return over seeds against x on one env, with a Student-t 95% CI band, drawn
    while every seed of the variant has a value; a legend outside the axes. value: the
    metrics column the curves hold (it words the y label). run_ends: mark where each seed
    stopped (its last value), for x axes such as wall-clock where runs end at different
    places. A group without a style gets the axes' next colour, for its line and its band."""
    ax = new_ax(ax)
    seen = []  # every run's values: the y range, so that a wide band of few seeds is clipped
    for group, df in curves[curves["env"] == env].groupby("group", sort=True):
        wide = df.pivot(index="run_id", columns="x", values="value")
        values_RX = wide.to_numpy(float)
        seen.append(values_RX[np.isfinite(values_RX)])
        mean_X, lo_X, hi_X, n_X = mean_band(values_RX)
        everyone_X = n_X == len(values_RX)
        x_X = wide.columns.to_numpy(float)
        line = style_of(style, group)
        marks = max(1, int(everyone_X.sum()) // MARKS_PER_CURVE)
        mean_X, lo_X, hi_X = (np.where(everyone_X, a, np.nan) for a in (mean_X, lo_X, hi_X))
        (drawn,) = ax.plot(
            x_X, mean_X, label=n_label(group, len(values_RX)), markevery=marks, **line
        )
        colour = drawn.get_color()  # the band shares the line's colour, styled or not
        ax.fill_between(x_X, lo_X, hi_X, alpha=0.2, color=colour, linewidth=0)
        if run_ends:
            last_R = [np.flatnonzero(np.isfinite(v))[-1] for v in values_RX if np.isfinite(v).any()]
            ends = [
                (x_X[i], v[i]) for i, v in zip(last_R, values_RX[np.isfinite(values_RX).any(1)])
            ]
            ax.plot(*zip(*ends), linestyle="none", marker="|", markersize=9, color=colour)
    ax.set(title=plain(env), xlabel=xlabel, ylabel=axis_label(value))
    ax.xaxis.set_major_formatter(EngFormatter())
    _clip_to_runs(ax, np.concatenate(seen) if seen else np.array([]))
    if ax.lines:
        legend_outside(ax)
    return ax


def _clip_to_runs(ax, values: np.ndarray, margin: float = 0.05) -> None:
    """y limits: the runs' own range plus a margin. The Student-t band of 2 seeds (t = 12.7)
    would otherwise set the scale and flatten every curve."""
    if len(values) == 0:
        return
    lo, hi = float(values.min()), float(values.max())
    pad = margin * (hi - lo) if hi > lo else max(abs(hi), 1.0) * margin
    ax.set_ylim(lo - pad, hi + pad)


def facet_figure(envs: list[str], draw, ncols: int = 3, size=(4.5, 3.3), legend: bool = True):
    """One subplot per env, and one legend for the figure (the union of the panels' entries,
    to the right of the grid, so it covers no data)."""
    ncols = min(ncols, max(len(envs), 1))
    nrows = int(np.ceil(len(envs) / ncols)) or 1
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    for ax, env in zip(axes.flat, envs, strict=False):
        draw(env, ax)
    for ax in list(axes.flat)[len(envs) :]:
        ax.set_visible(False)
    drawn = []
    for ax in list(axes.flat)[: len(envs)]:
        drawn += zip(*ax.get_legend_handles_labels())
        if legend and ax.get_legend() is not None:
            ax.get_legend().remove()  # before tight_layout, which would keep its room
    fig.tight_layout()
    if legend:
        merged = merged_n_labels([label for _, label in drawn])
        entries = {}
        for handle, label in drawn:
            entries.setdefault(merged[label], handle)
        if entries:
            fig.legend(
                entries.values(),
                entries.keys(),
                loc="upper left",
                bbox_to_anchor=(1.0, 0.98),
                fontsize="small",
                frameon=False,
            )
    return fig


def iqm_name(scores_counts) -> str:
    """ "IQM", or "mean" where some variant has under 4 scores: the 25% trim then cuts
    nothing (floor(0.25 n) = 0), so the interquartile mean is the plain mean."""
    return "IQM" if min(scores_counts, default=0) >= 4 else "mean"


def _normalised_runs(gdf: pd.DataFrame, envs: list[str], ranges: dict) -> np.ndarray:
    """scores_RTK of one variant: runs x envs x grid points, NaN-padded, min-max normalised."""
    by_env = [
        aggregate.normalise(
            gdf[gdf["env"] == e].pivot(index="run_id", columns="x", values="value").to_numpy(float),
            *ranges[e][:2],
        )
        for e in envs
    ]
    scores_RTK = np.full((max(len(v) for v in by_env), len(envs), by_env[0].shape[1]), np.nan)
    for t, v in enumerate(by_env):
        scores_RTK[: len(v), t, :] = v
    return scores_RTK


def aggregate_curve(
    curves: pd.DataFrame, ranges: dict, *, ax=None, style=None, reps: int = 500, seed: int = 0
):
    """IQM of normalised returns across envs and seeds along training, with a stratified
    bootstrap 95% band (the aggregate table's interval), at grid points every run reached.
    The mean where a variant has under 4 runs in all (iqm_name). x: steps when every env
    shares one grid, else fraction of training."""
    ax = new_ax(ax)
    envs = sorted(curves["env"].unique())
    grids = {env: np.sort(curves[curves["env"] == env]["x"].unique()) for env in envs}
    same = all(np.array_equal(grids[envs[0]], g) for g in grids.values())
    counts = curves.groupby("group")["run_id"].nunique()
    name = iqm_name(counts.to_list())
    for group, gdf in curves.groupby("group", sort=True):
        if set(gdf["env"]) != set(envs):
            continue  # IQM across envs needs the variant on every env
        scores_RTK = _normalised_runs(gdf, envs, ranges)
        points = scores_RTK.shape[2]
        rng = np.random.default_rng(seed)
        iqm_K, lo_K, hi_K = (np.full(points, np.nan) for _ in range(3))
        cells = int(np.isfinite(scores_RTK).any(axis=2).sum())  # (run, env) pairs with data
        full = np.isfinite(scores_RTK).sum(axis=(0, 1)) == cells
        for k in np.flatnonzero(full):
            iqm_K[k] = aggregate.iqm(scores_RTK[:, :, k])
            lo_K[k], hi_K[k] = aggregate.percentile_ci(
                aggregate.iqm(aggregate.resample(scores_RTK[:, :, k], reps, rng))
            )
        x_K = grids[envs[0]] if same else np.linspace(0, 1, points)
        line = style_of(style, group)
        (drawn,) = ax.plot(
            x_K, iqm_K, label=n_label(group, cells), markevery=max(1, points // 8), **line
        )
        ax.fill_between(x_K, lo_K, hi_K, alpha=0.2, color=drawn.get_color(), linewidth=0)
    ax.set(
        xlabel="environment steps" if same else "fraction of training",
        ylabel=f"{name} of normalised return",
        title=f"Aggregate {name} across envs",
    )
    ax.xaxis.set_major_formatter(EngFormatter())
    legend_outside(ax)
    return ax


def performance_profiles(
    score_dict: dict[str, np.ndarray], *, ax=None, style=None, reps: int = 500, seed: int = 0
):
    """Fraction of runs with normalised final score > tau, with bootstrap bands (rliable);
    the legend sits outside the axes."""
    ax = new_ax(ax)
    values = np.concatenate([s[np.isfinite(s)] for s in score_dict.values()])
    taus_K = np.linspace(min(0.0, values.min()), max(1.0, values.max()), 101)
    for group, scores_RT in sorted(score_dict.items()):
        profile_K, ci_2K = aggregate.performance_profile(scores_RT, taus_K, reps, seed=seed)
        line = style_of(style, group)
        n = int(np.isfinite(scores_RT).sum())
        (drawn,) = ax.plot(
            taus_K, profile_K, label=n_label(group, n), drawstyle="steps-post", markevery=12, **line
        )
        colour = drawn.get_color()
        ax.fill_between(
            taus_K, ci_2K[0], ci_2K[1], alpha=0.2, color=colour, step="post", linewidth=0
        )
    ax.set(
        xlabel="normalised final score τ",
        ylabel="fraction of runs with score > τ",
        title="Performance profile",
        ylim=(0, 1.02),
    )
    legend_outside(ax)
    return ax


def interval_plot(estimates: dict, metric: str, *, ax=None, colors=None, counts=None):
    """Point estimate and 95% CI of one aggregate (IQM, median, ...) per variant: a light bar
    for the CI and a full-strength tick of the same colour for the point, visible for any
    colour (black included). colors: {variant: colour}; a variant without one gets the
    colour of the style's cycle. counts: {variant: number of scores} shown as n in the
    tick labels."""
    ax = new_ax(ax, (3.2, 0.5 + 0.45 * len(estimates)))
    names = sorted(estimates)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, group in enumerate(names):
        point, lo, hi = estimates[group][metric]
        color = (colors or {}).get(group) or cycle[i % len(cycle)]
        if np.isfinite(lo):
            ax.barh(i, hi - lo, left=lo, height=0.6, color=color, alpha=0.35, linewidth=0)
        ax.vlines(point, i - 0.3, i + 0.3, color=color, linewidth=2.5)
    ticks = [n_label(g, counts[g]) if counts else plain(g) for g in names]
    ax.set_yticks(range(len(names)), ticks)
    ax.margins(x=0.15)
    ax.set(title=metric, xlabel="normalised score")
    return ax


def interval_figure(estimates: dict, colors=None, counts=None):
    """interval_plot for every aggregate, side by side; with counts, "IQM" is titled
    "IQM (= mean)" where some variant has under 4 scores."""
    metrics_ = list(aggregate.AGGREGATES)
    fig, axes = plt.subplots(
        1,
        len(metrics_),
        sharey=True,
        figsize=(3.2 * len(metrics_), 0.8 + 0.45 * len(estimates)),
    )
    for ax, metric in zip(axes, metrics_, strict=False):
        interval_plot(estimates, metric, ax=ax, colors=colors, counts=counts)
        if metric == "IQM" and counts and iqm_name(counts.values()) != "IQM":
            ax.set_title("IQM (= mean: n < 4)")
    fig.tight_layout()
    return fig
