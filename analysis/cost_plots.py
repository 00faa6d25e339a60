"""Wall-clock figures: the time split of an iteration and the cost of one update against
the number of policy parameters. Same conventions as plots.py (keyword-only ax, returns it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from npgbench.analysis import metrics
from npgbench.analysis.plot_style import (
    LINESTYLES,
    MARKERS,
    legend_outside,
    new_ax,
    plain,
    style_of,
)


def time_split_bars(summary: pd.DataFrame, *, ax=None):
    """Stacked mean seconds per iteration by component, one bar per (variant, env)."""
    ax = new_ax(ax, (6.0, 0.9 + 0.4 * summary[["group", "env"]].drop_duplicates().shape[0]))
    split = summary.groupby(["group", "env"], sort=True)[
        metrics.time_columns(summary.columns)
    ].mean()
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
    ax.set(xlabel="seconds per iteration", title="Time split")
    legend_outside(ax)
    return ax


def worth_drawing(points: pd.DataFrame) -> bool:
    """A cost-vs-size plot needs sizes to compare: two parameter counts among the runs
    (several envs), or a fisher-cost benchmark beside them."""
    runs = points[points["source"] == "runs"]
    return runs["num_params"].nunique() > 1 or (points["source"] != "runs").any()


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
