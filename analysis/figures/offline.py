"""Figures of the offline measurements: Fisher fidelity at the benchmark's size.

They draw the per-task rows of claims/offline.fidelity_frame (one row per stage, direction
and task: means over policies and batch seeds, the cosine's range over policies).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
from npgbench.analysis.figures.style import new_ax, palette, plain

OFFSET = 0.22
"""Horizontal spread of the tasks' markers around each direction."""


def _tasks(rows: pd.DataFrame) -> list[str]:
    return sorted(t for t in rows["env"].unique() if t != "all tasks")


def fidelity_panel(rows: pd.DataFrame, column: str, *, ax=None, colors=None, ranges=None):
    """One marker per task and direction of `column` (a fidelity_frame column), tasks side by
    side around each direction; ranges: (low, high) columns drawn as a bar through it."""
    ax = new_ax(ax, (6.5, 3.5))
    tasks = _tasks(rows)
    colors = colors or palette(tasks)
    directions = list(dict.fromkeys(rows["direction"]))
    for k, task in enumerate(tasks):
        mine = rows[rows["env"] == task].set_index("direction").reindex(directions)
        x = np.arange(len(directions)) + OFFSET * (k - (len(tasks) - 1) / 2)
        y = mine[column].to_numpy(float)
        if ranges is not None:
            lo, hi = (mine[c].to_numpy(float) for c in ranges)
            ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="none", color=colors[task], lw=1)
        ax.plot(x, y, "o", color=colors[task], label=plain(task.split("-v")[0]))
    ax.set_xticks(np.arange(len(directions)), [plain(d) for d in directions], rotation=30)
    ax.tick_params(axis="x", labelsize="small")
    return ax


def fidelity64_figure(rows: pd.DataFrame):
    """Two panels over the directions, per task: cosine with x*(0.01) (range over policies)
    and the KL of a step on a fresh batch over its budget (log scale)."""
    rows = rows[rows["env"] != "all tasks"]
    colors = palette(_tasks(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 3.8))
    fidelity_panel(rows, "cos", ax=left, colors=colors, ranges=("cos_lo", "cos_hi"))
    left.set(ylabel="cos(x, x*(0.01))", ylim=(0, 1.05))
    left.legend(fontsize="small")
    fidelity_panel(rows, "kl_E", ax=right, colors=colors)
    right.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    right.set(ylabel="KL on a fresh batch / KL budget", yscale="log")
    right.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(ScalarFormatter())  # 0.5, 1, 2, 5, not 2 x 10^0
    right.yaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return fig
