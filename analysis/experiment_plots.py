"""Figures of the experiment sections (experiments.py, fisher_experiments.py).

Same conventions as plots.py (which sets the Agg backend and the SVG hash salt): one fixed
colour per line label across a figure, every function returns a matplotlib Figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import EngFormatter

from analysis import plots


def invariance_figure(curves: pd.DataFrame, value: str = "return", seed: int = 0):
    """Learning curves per (variant, env) panel, one line per std_param (mean over seeds,
    95% bootstrap band). curves: experiments.invariance's (group = std_param, panel)."""
    panels = sorted(curves["panel"].unique())
    colors = plots.palette(curves["group"].unique())
    by_panel = curves.assign(env=curves["panel"])
    return plots.facet_figure(
        panels,
        lambda p, ax: plots.learning_curve(by_panel, p, ax, colors, value, seed=seed, reps=300),
    )


def final_vs_setting(ax, x, df: pd.DataFrame, label: str, color) -> None:
    """Mean final return over seeds against a swept setting x [V], error bars = std over
    seeds; df holds final_mean and final_std [V] in the order of x."""
    ax.errorbar(
        x, df["final_mean"], yerr=df["final_std"], marker="o", capsize=3, label=label, color=color
    )


def step_size_figure(long: pd.DataFrame):
    """Final return against the step size (log x), one panel per (key, env), one line per
    variant, error bars = std over seeds. long: variants.per_value rows of the step keys."""
    colors = plots.palette(long["group"].unique())

    def draw(panel, ax):
        key, env = panel
        mine = long[(long["key"] == key) & (long["env"] == env)]
        for group, df in mine.groupby("group", sort=True):
            df = df.sort_values("value")
            final_vs_setting(ax, df["value"].astype(float), df, group, colors[group])
            if df["final_mean"].notna().any():
                best = df.loc[df["final_mean"].idxmax()]
                ax.plot(
                    best["value"],
                    best["final_mean"],
                    marker="*",
                    markersize=13,
                    color=colors[group],
                    linestyle="none",
                )
        if (mine["value"].astype(float) > 0).all():
            ax.set_xscale("log")
        ax.set(title=env, xlabel=key, ylabel="final return")
        ax.legend(fontsize="small")

    return plots.facet_figure(sorted(long.groupby(["key", "env"]).groups), draw)


def damping_figure(data: pd.DataFrame):
    """Per env: final return vs damping (log x) and fisher_cond vs damping (log-log), one line
    per variant; data: fisher_experiments.damping's table data."""
    envs = sorted(data["env"].unique())
    colors = plots.palette(data["group"].unique())
    fig, axes = plt.subplots(len(envs), 2, figsize=(9.0, 3.3 * len(envs)), squeeze=False)
    for (ax_ret, ax_cond), env in zip(axes, envs):
        for group, df in data[data["env"] == env].groupby("group", sort=True):
            df = df.sort_values("damping")
            final_vs_setting(ax_ret, df["damping"], df, group, colors[group])
            cond = df[df["cond_mean"] > 0]
            if not cond.empty:
                ax_cond.plot(
                    cond["damping"],
                    cond["cond_mean"],
                    marker="o",
                    label=f"{group} mean",
                    color=colors[group],
                )
                ax_cond.plot(
                    cond["damping"],
                    cond["cond_max"],
                    marker="^",
                    linestyle="--",
                    label=f"{group} max",
                    color=colors[group],
                    alpha=0.6,
                )
        positive = (data["damping"] > 0).all()
        ax_ret.set(
            title=f"{env}: final return",
            xlabel="damping",
            ylabel="final return",
            xscale="log" if positive else "linear",
        )
        ax_ret.legend(fontsize="small")
        ax_cond.set(
            title=f"{env}: cond(F + damping I)",
            xlabel="damping",
            ylabel="condition number",
            xscale="log" if positive else "linear",
        )
        if ax_cond.lines:
            ax_cond.set_yscale("log")
            ax_cond.legend(fontsize="small")
        else:
            ax_cond.text(
                0.5,
                0.5,
                "fisher_cond not recorded",
                ha="center",
                va="center",
                transform=ax_cond.transAxes,
            )
    fig.tight_layout()
    return fig


def fidelity_figure(frame: pd.DataFrame):
    """Per env: cosine(x, x*) over training (top) and the KL ratio (bottom, log y when
    positive), one line per variant, mean over seeds at each logged step."""
    data = frame[frame["fidelity_cosine"].notna()]
    envs = sorted(data["env"].unique())
    colors = plots.palette(data["group"].unique())
    fig, axes = plt.subplots(
        2, len(envs), figsize=(4.8 * len(envs), 6.2), squeeze=False, sharex="col"
    )
    has_ratio = "fidelity_kl_ratio" in data
    for col, env in enumerate(envs):
        ax_cos, ax_ratio = axes[0, col], axes[1, col]
        for group, df in data[data["env"] == env].groupby("group", sort=True):
            mean = df.groupby("step", sort=True)[
                ["fidelity_cosine", *(["fidelity_kl_ratio"] if has_ratio else [])]
            ].mean()
            ax_cos.plot(
                mean.index, mean["fidelity_cosine"], marker=".", label=group, color=colors[group]
            )
            if has_ratio:
                ax_ratio.plot(
                    mean.index,
                    mean["fidelity_kl_ratio"],
                    marker=".",
                    label=group,
                    color=colors[group],
                )
        ax_cos.set(title=env, ylabel="cos(x, x*)")
        ax_cos.legend(fontsize="small")
        ax_ratio.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        ratios = data["fidelity_kl_ratio"] if has_ratio else pd.Series(dtype=float)
        if ratios.notna().any() and (ratios.dropna() > 0).all():
            ax_ratio.set_yscale("log")
        ax_ratio.set(xlabel="environment steps", ylabel="KL ratio x^T F x / x*^T F x*")
        ax_ratio.xaxis.set_major_formatter(EngFormatter())
    fig.tight_layout()
    return fig
