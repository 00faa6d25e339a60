"""The published-comparison figure: ours (mean over seeds, Student-t 95% CI) beside each
published number (± std over their seeds), one panel per env. Data: published.references'
table data. Same conventions as plots.py (keyword-only ax, returns it)."""

from __future__ import annotations

import pandas as pd
from npgbench.analysis.plot_style import new_ax, plain
from npgbench.analysis.plots import facet_figure


def published_comparison(data: pd.DataFrame, env: str, *, ax=None, colors=None):
    """Every reference on one env: ours (circle, CI bar) above theirs (hollow diamond, ±
    std bar), rows labelled by variant and our n."""
    ax = new_ax(ax)
    rows = data[data["env"] == env].reset_index(drop=True)
    for i, row in rows.iterrows():
        if pd.notna(row["ours"]):
            half = row["ours_ci95"] if pd.notna(row["ours_ci95"]) else None
            color = (colors or {}).get(row["group"], "black")
            ax.errorbar(
                row["ours"],
                i - 0.15,
                xerr=half,
                fmt="o",
                color=color,
                capsize=3,
                label="ours (95% CI)",
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
            label="published (± std)",
        )
    names = [
        f"{plain(r.group if isinstance(r.group, str) else r.ref_label or r.algo)} (n={r.n})"
        for r in rows.itertuples()
    ]
    ax.set_yticks(range(len(rows)), names)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set(title=plain(env), xlabel="return under the published protocol")
    return ax


def published_figure(data: pd.DataFrame, colors=None):
    """One published_comparison panel per env, one legend for the figure."""
    envs = sorted(data["env"].unique())
    per_env = int(data.groupby("env").size().max())
    return facet_figure(
        envs,
        lambda e, ax: published_comparison(data, e, ax=ax, colors=colors),
        size=(4.8, 1.3 + 0.5 * per_env),
    )
