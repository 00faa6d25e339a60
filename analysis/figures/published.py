"""The published-comparison figure: ours (filled) beside each published number (hollow),
both under the publisher's estimator with ± std over seeds, one panel per env. Data:
published.references' table data. Same conventions as plots.py (keyword-only ax, returns it)."""

from __future__ import annotations

import pandas as pd
from npgbench.analysis.figures.plots import facet_figure
from npgbench.analysis.figures.style import new_ax, plain


def row_name(row) -> str:
    """A row's label: variant, publisher and our seed count ("ppo vs Tianshou (n=5)"), so
    two references of one variant (Tianshou's and CleanRL's PPO) are told apart."""
    return f"{plain(row.group)} vs {plain(row.publisher)} (n={row.n})"


def published_comparison(data: pd.DataFrame, env: str, *, ax=None, colors=None):
    """Every reference on one env: ours (circle, ± std) above theirs (hollow diamond, ± std),
    one row per (variant, publisher)."""
    ax = new_ax(ax)
    rows = data[data["env"] == env].reset_index(drop=True)
    for i, row in rows.iterrows():
        if pd.notna(row["ours"]):
            ax.errorbar(
                row["ours"],
                i - 0.15,
                xerr=row["ours_std"] if pd.notna(row["ours_std"]) else None,
                fmt="o",
                color=(colors or {}).get(row["group"], "black"),
                capsize=3,
                label="ours (± std)",
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
    ax.set_yticks(range(len(rows)), [row_name(r) for r in rows.itertuples()])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set(title=plain(env), xlabel="return under the publisher's estimator")
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
