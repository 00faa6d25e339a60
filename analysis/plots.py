"""Seaborn figures. Every plotting function draws on `ax` (a new figure when None) and returns
the Axes; `*_figure` helpers compose several axes. Colours: seaborn's colorblind palette, one
fixed colour per variant across all figures (`palette`).

Curve inputs are the long frames of load.interpolate_curves (columns study, env, group,
run_id, seed, x, value); bands are seeded bootstrap 95% CIs of the mean over seeds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from analysis import aggregate, metrics  # noqa: E402

# Same input, same bytes: SVG ids come from this salt instead of a random one.
matplotlib.rcParams["svg.hashsalt"] = "npgbench"


def palette(groups) -> dict[str, tuple]:
    """One colorblind-palette colour per variant (sorted, so stable across figures)."""
    names = sorted(set(groups))
    colours = sns.color_palette("colorblind", max(len(names), 1))
    return {g: colours[i % len(colours)] for i, g in enumerate(names)}


def _ax(ax, size=(5.0, 3.5)):
    return ax if ax is not None else plt.subplots(figsize=size)[1]


def mean_band(values_RX: np.ndarray, reps: int = 1000, seed: int = 0, level: float = 0.95):
    """(mean_X, lo_X, hi_X): mean over runs at each grid point and a percentile bootstrap
    band, runs resampled with replacement (vectorised: seaborn's per-point loop is slow)."""
    values_RX = np.asarray(values_RX, dtype=float)
    idx_BR = np.random.default_rng(seed).integers(0, len(values_RX), (reps, len(values_RX)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points no run reached
        mean_X = np.nanmean(values_RX, axis=0)
        means_BX = np.nanmean(values_RX[idx_BR], axis=1)
        tail = 100 * (1 - level) / 2
        lo_X, hi_X = np.nanpercentile(means_BX, [tail, 100 - tail], axis=0)
    return mean_X, lo_X, hi_X


def learning_curve(
    curves: pd.DataFrame,
    env: str,
    ax=None,
    colors=None,
    value: str = "return",
    xlabel: str = "environment steps",
    seed: int = 0,
    reps: int = 1000,
):
    """Mean return over seeds against x on one env, with a 95% bootstrap CI band."""
    ax = _ax(ax)
    for group, df in curves[curves["env"] == env].groupby("group", sort=True):
        wide = df.pivot(index="run_id", columns="x", values="value")
        mean_X, lo_X, hi_X = mean_band(wide.to_numpy(float), reps, seed)
        color = None if colors is None else colors.get(group)
        ax.plot(wide.columns, mean_X, label=group, color=color)
        ax.fill_between(wide.columns, lo_X, hi_X, alpha=0.2, color=color, linewidth=0)
    ax.set(title=env, xlabel=xlabel, ylabel=value)
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.legend(fontsize="small")
    return ax


def facet_figure(envs: list[str], draw, ncols: int = 3, size=(4.5, 3.3)):
    """One subplot per env (a facet grid that still hands each draw call its own ax)."""
    ncols = min(ncols, max(len(envs), 1))
    nrows = int(np.ceil(len(envs) / ncols)) or 1
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    for ax, env in zip(axes.flat, envs, strict=False):
        draw(env, ax)
    for ax in list(axes.flat)[len(envs) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def aggregate_curve(
    curves: pd.DataFrame, ranges: dict, ax=None, colors=None, reps: int = 500, seed: int = 0
):
    """IQM of normalised returns across envs and seeds along training, with a stratified
    bootstrap 95% band. x: steps when every env shares one grid, else fraction of training."""
    ax = _ax(ax)
    envs = sorted(curves["env"].unique())
    grids = {env: np.sort(curves[curves["env"] == env]["x"].unique()) for env in envs}
    same = all(np.array_equal(grids[envs[0]], g) for g in grids.values())
    for group, gdf in curves.groupby("group", sort=True):
        if set(gdf["env"]) != set(envs):
            continue  # IQM across envs needs the variant on every env
        by_env = [
            (
                gdf[gdf["env"] == e]
                .pivot(index="run_id", columns="x", values="value")
                .to_numpy(float)
                - ranges[e][0]
            )
            / (ranges[e][1] - ranges[e][0])
            for e in envs
        ]
        points = by_env[0].shape[1]
        scores_RTK = np.full((max(len(v) for v in by_env), len(envs), points), np.nan)
        for t, v in enumerate(by_env):
            scores_RTK[: len(v), t, :] = v
        rng = np.random.default_rng(seed)
        iqm_K, lo_K, hi_K = (np.full(points, np.nan) for _ in range(3))
        for k in range(points):
            if np.isfinite(scores_RTK[:, :, k]).any(axis=0).all():
                iqm_K[k] = aggregate.iqm(scores_RTK[:, :, k])
                lo_K[k], hi_K[k] = aggregate.percentile_ci(
                    aggregate.iqm(aggregate.resample(scores_RTK[:, :, k], reps, rng))
                )
        x_K = grids[envs[0]] if same else np.linspace(0, 1, points)
        color = None if colors is None else colors.get(group)
        ax.plot(x_K, iqm_K, label=group, color=color)
        ax.fill_between(x_K, lo_K, hi_K, alpha=0.2, color=color)
    ax.set(
        xlabel="environment steps" if same else "fraction of training",
        ylabel="IQM normalised return",
        title="Aggregate IQM",
    )
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.legend(fontsize="small")
    return ax


def performance_profiles(
    score_dict: dict[str, np.ndarray], ax=None, colors=None, reps: int = 500, seed: int = 0
):
    """Fraction of runs with normalised final score > tau, with bootstrap bands (rliable)."""
    ax = _ax(ax)
    values = np.concatenate([s[np.isfinite(s)] for s in score_dict.values()])
    taus_K = np.linspace(min(0.0, values.min()), max(1.0, values.max()), 101)
    for group, scores_RT in sorted(score_dict.items()):
        profile_K, ci_2K = aggregate.performance_profile(scores_RT, taus_K, reps, seed=seed)
        color = None if colors is None else colors.get(group)
        ax.plot(taus_K, profile_K, label=group, color=color, drawstyle="steps-post")
        ax.fill_between(taus_K, ci_2K[0], ci_2K[1], alpha=0.2, color=color, step="post")
    ax.set(
        xlabel="normalised final score τ",
        ylabel="fraction of runs with score > τ",
        title="Performance profile",
        ylim=(0, 1.02),
    )
    ax.legend(fontsize="small")
    return ax


def interval_plot(estimates: dict, metric: str, ax=None, colors=None):
    """Point estimate and 95% CI of one aggregate (IQM, median, ...) per variant."""
    ax = _ax(ax, (3.2, 0.5 + 0.45 * len(estimates)))
    for i, (group, by_metric) in enumerate(sorted(estimates.items())):
        point, lo, hi = by_metric[metric]
        color = None if colors is None else colors.get(group)
        ax.barh(i, hi - lo, left=lo, height=0.6, color=color, alpha=0.75)
        ax.vlines(point, i - 0.3, i + 0.3, color="black", linewidth=1.5)
    ax.set_yticks(range(len(estimates)), sorted(estimates))
    ax.margins(x=0.15)
    ax.set(title=metric, xlabel="normalised score")
    return ax


def interval_figure(estimates: dict, colors=None):
    fig, axes = plt.subplots(
        1,
        len(aggregate.AGGREGATES),
        sharey=True,
        figsize=(3.2 * len(aggregate.AGGREGATES), 0.8 + 0.45 * len(estimates)),
    )
    for ax, metric in zip(axes, aggregate.AGGREGATES, strict=False):
        interval_plot(estimates, metric, ax, colors)
    fig.tight_layout()
    return fig


def time_split_bars(summary: pd.DataFrame, ax=None, colors=None):
    """Stacked mean seconds per iteration by component, one bar per (variant, env)."""
    ax = _ax(ax, (6.0, 0.9 + 0.4 * summary[["group", "env"]].drop_duplicates().shape[0]))
    split = summary.groupby(["group", "env"], sort=True)[
        metrics.time_columns(summary.columns)
    ].mean()
    split = split.dropna(axis=1, how="all").fillna(0.0)
    shades = sns.color_palette("colorblind", len(split.columns))
    left = np.zeros(len(split))
    labels = [f"{g} / {e}" for g, e in split.index]
    for shade, col in zip(shades, split.columns, strict=False):
        ax.barh(
            labels, split[col].to_numpy(), left=left, color=shade, label=col[5:].replace("_", " ")
        )
        left += split[col].to_numpy()
    ax.invert_yaxis()
    ax.set(xlabel="seconds per iteration", title="Time split")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def update_cost(points: pd.DataFrame, ax=None, colors=None):
    """Seconds per policy update against parameter count, log-log. points: columns label,
    num_params, seconds, source (runs | fisher-cost CSV)."""
    ax = _ax(ax)
    data = points[(points["num_params"] > 0) & (points["seconds"] > 0)]
    sns.scatterplot(
        data=data,
        x="num_params",
        y="seconds",
        hue="label",
        style="source",
        ax=ax,
        palette=None if colors is None or not set(data["label"]) <= set(colors) else colors,
    )
    for label, df in data.groupby("label", sort=True):
        if df["num_params"].nunique() > 1:
            df = df.sort_values("num_params")
            ax.plot(
                df["num_params"],
                df["seconds"],
                alpha=0.4,
                color=None if colors is None else colors.get(label),
            )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="policy parameters",
        ylabel="seconds per update",
        title="Update cost",
    )
    return ax


def published_comparison(data: pd.DataFrame, env: str, *, ax=None, colors=None):
    """Ours (mean over seeds, 95% CI) beside the published number (± std over their seeds)
    for every reference on one env; data: published.references' table data."""
    ax = _ax(ax)
    rows = data[data["env"] == env].reset_index(drop=True)
    for i, row in rows.iterrows():
        if np.isfinite(row["ours"]):
            half = row["ours_ci95"] if np.isfinite(row["ours_ci95"]) else None
            color = (colors or {}).get(row["group"], "black")
            ax.errorbar(
                row["ours"],
                i - 0.15,
                xerr=half,
                fmt="o",
                color=color,
                capsize=3,
                label="ours (95% CI)" if i == 0 else None,
            )
        std = row["theirs_std"] if pd.notna(row["theirs_std"]) else None
        ax.errorbar(
            row["theirs"],
            i + 0.15,
            xerr=std,
            fmt="D",
            color="0.4",
            mfc="white",
            capsize=3,
            label="published (± std)" if i == 0 else None,
        )
    names = [f"{r.group or r.ref_label or r.algo} (n={r.n})" for r in rows.itertuples()]
    ax.set_yticks(range(len(rows)), names)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set(title=env, xlabel="return under the published protocol")
    ax.legend(fontsize="small", loc="lower left", bbox_to_anchor=(0, 1.08), ncol=2, frameon=False)
    return ax


def published_figure(data: pd.DataFrame, colors=None):
    """One published_comparison panel per env."""
    envs = sorted(data["env"].unique())
    per_env = int(data.groupby("env").size().max())
    return facet_figure(
        envs,
        lambda e, ax: published_comparison(data, e, ax=ax, colors=colors),
        size=(4.8, 1.3 + 0.5 * per_env),
    )


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write name.png and name.svg (no timestamps, so reruns give the same files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths
