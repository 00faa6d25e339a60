"""Wall-clock figures: the time split of an iteration and the cost of one update against
the number of policy parameters. Same conventions as plots.py (keyword-only ax, returns it)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from npgbench.analysis.figures import plots
from npgbench.analysis.figures.style import (
    LINESTYLES,
    MARKERS,
    legend_outside,
    n_label,
    new_ax,
    plain,
    style_of,
)
from npgbench.analysis.stats import run_metrics as metrics


def time_split_bars(timing: pd.DataFrame, *, ax=None):
    """Stacked median seconds per iteration by component, one bar per (variant, env).
    timing: timing.per_run (one row per run, per-run medians over iterations); each bar
    stacks the medians over runs."""
    cells = timing[["group", "env"]].drop_duplicates().shape[0]
    ax = new_ax(ax, (6.0, 0.9 + 0.4 * cells))
    parts = [c for c in metrics.TIME_PARTS if c in timing]
    parts += sorted(c for c in timing if c.startswith("time_") and c not in parts)
    split = timing.groupby(["group", "env"], sort=True)[parts].median()
    split = split.dropna(axis=1, how="all").fillna(0.0)
    shades = sns.color_palette("colorblind", len(split.columns))
    left = np.zeros(len(split))
    labels = [f"{plain(g)} / {plain(e)}" for g, e in split.index]
    for shade, col in zip(shades, split.columns, strict=False):
        ax.barh(
            labels, split[col].to_numpy(), left=left, color=shade, label=col[5:].replace("_", " ")
        )
        left += split[col].to_numpy()
    ax.invert_yaxis()
    ax.set(xlabel="seconds per iteration (medians)", title="Time split")
    legend_outside(ax)
    return ax


def wallclock_curve(curves: pd.DataFrame, times: pd.DataFrame, env: str, *, ax=None, style=None):
    """Mean return over seeds (Student-t 95% band) against the median over seeds of the
    wall-clock time at which each step was reached, to the end of training: a curve is not
    cut where its fastest seed ended. Ticks: where each seed ended (its time, its return).
    curves / times: interpolate_curves of the return and of wall_time on one step grid."""
    ax = new_ax(ax)
    here = curves["env"] == env
    for group, df in curves[here].groupby("group", sort=True):
        values_RX = df.pivot(index="run_id", columns="x", values="value")
        time_RX = times[(times["env"] == env) & (times["group"] == group)].pivot(
            index="run_id", columns="x", values="value"
        )
        time_RX = time_RX.reindex(index=values_RX.index, columns=values_RX.columns)
        mean_X, lo_X, hi_X, n_X = plots.mean_band(values_RX.to_numpy(float))
        everyone = n_X == len(values_RX)
        with warnings.catch_warnings():  # grid points no seed reached: NaN, no curve there
            warnings.simplefilter("ignore", RuntimeWarning)
            x_X = np.nanmedian(time_RX.to_numpy(float), axis=0)
        line = style_of(style, group)
        keep = everyone & np.isfinite(x_X)
        ax.plot(
            x_X[keep],
            mean_X[keep],
            label=n_label(group, len(values_RX)),
            markevery=max(1, int(keep.sum()) // 8),
            **line,
        )
        ax.fill_between(
            x_X[keep], lo_X[keep], hi_X[keep], alpha=0.2, color=line.get("color"), linewidth=0
        )
        ends = [
            (t[np.isfinite(t) & np.isfinite(v)][-1], v[np.isfinite(t) & np.isfinite(v)][-1])
            for t, v in zip(time_RX.to_numpy(float), values_RX.to_numpy(float))
            if (np.isfinite(t) & np.isfinite(v)).any()
        ]
        if ends:
            ax.plot(
                *zip(*ends), linestyle="none", marker="|", markersize=9, color=line.get("color")
            )
    ax.set(title=plain(env), xlabel="wall-clock time (s), median over seeds")
    return ax


MIN_SPAN = 4.0
"""A cost-against-size plot of runs alone needs parameter counts at least this far apart
(the envs of one policy size differ by 10-20%: no scaling to read from them)."""


def worth_drawing(points: pd.DataFrame) -> bool:
    """A cost-vs-size plot needs sizes to compare: run parameter counts spanning MIN_SPAN,
    or a fisher-cost benchmark beside them."""
    runs = points.loc[points["source"] == "runs", "num_params"]
    spread = runs.max() / runs.min() if len(runs) and runs.min() > 0 else 1.0
    return spread >= MIN_SPAN or (points["source"] != "runs").any()


def _log_axis(axis, values) -> None:
    """Readable log ticks: decades, or 1-2-5 steps when the data span under two decades;
    no minor labels (they overlapped the major ones)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    subs = (1.0, 2.0, 5.0) if hi / lo < 100 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 10 else f"{v:.3g}"))
    axis.set_minor_formatter(NullFormatter())


def update_cost(points: pd.DataFrame, *, ax=None, style=None):
    """Seconds per policy update against parameter count, log-log. points: columns label,
    num_params, seconds, source ("runs": filled markers, one per variant and env; a
    benchmark CSV: hollow markers joined by a line). Legend entries name variant and source."""
    ax = new_ax(ax, (5.5, 3.8))
    data = points[(points["num_params"] > 0) & (points["seconds"] > 0)]
    bench = sorted(set(data.loc[data["source"] != "runs", "label"]))
    greys = {  # benchmark curves: shades of grey, each its own dash and marker
        label: {
            "color": str(round(0.15 + 0.5 * i / max(len(bench) - 1, 1), 2)),
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "marker": MARKERS[-1 - i % len(MARKERS)],
        }
        for i, label in enumerate(bench)
    }
    for (source, label), df in data.groupby(["source", "label"], sort=True):
        df = df.sort_values("num_params")
        from_runs = source == "runs"
        line = style_of(style if from_runs else greys, label, color="0.3", marker="o")
        marker, color = line.get("marker", "o"), line.get("color")
        ax.plot(
            df["num_params"],
            df["seconds"],
            linestyle="none" if from_runs else line.get("linestyle", "-"),
            marker=marker,
            color=color,
            mfc=color if from_runs else "white",
            alpha=1.0 if from_runs else 0.8,
            label=f"{plain(label)} ({'runs' if from_runs else source})",
        )
    ax.set(xscale="log", yscale="log", xlabel="policy parameters", ylabel="seconds per update")
    ax.set_title("Update cost")
    if not data.empty:
        _log_axis(ax.xaxis, data["num_params"])
        _log_axis(ax.yaxis, data["seconds"])
    legend_outside(ax)
    return ax
