"""Figures of the experiment sections (experiments.py, fisher_experiments.py).

Same conventions as plots.py: every panel function draws on a keyword-only `ax` (a new
figure when None) and returns it; `*_figure` composes panels and returns the Figure. One
fixed style per line label across a figure; labels are shown literally (plot_style.plain).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import EngFormatter
from npgbench.analysis.figures import plots
from npgbench.analysis.figures.style import new_ax, palette, plain, styles


def invariance_figure(curves: pd.DataFrame, value: str = "return"):
    """Learning curves per panel, one line per parameterisation (mean over seeds, Student-t
    95% band). curves: experiments.invariance's (group = std_param, panel = "variant | env")
    or reparam.reparam_curves' (group = "s=1" / "s=10", panel = "arm | env")."""
    panels = sorted(curves["panel"].unique())
    style = styles(curves["group"].unique())
    by_panel = curves.assign(env=curves["panel"])
    return plots.facet_figure(
        panels,
        lambda p, ax: plots.learning_curve(by_panel, p, ax=ax, style=style, value=value),
    )


def final_vs_setting(x, df: pd.DataFrame, label: str, color, *, ax=None):
    """Mean final return over seeds against a swept setting x [V], error bars = std over
    seeds; df holds final_mean and final_std [V] in the order of x."""
    ax = new_ax(ax)
    ax.errorbar(
        x,
        df["final_mean"],
        yerr=df["final_std"],
        marker="o",
        capsize=3,
        label=plain(label),
        color=color,
    )
    return ax


def step_size_panel(
    long: pd.DataFrame, key: str, env: str, *, ax=None, colors=None, ylabel="final return"
):
    """Final return against one step-size key on one env (log x when positive), one line
    per variant, a star on each variant's best value."""
    ax = new_ax(ax)
    colors = colors or palette(long["group"].unique())
    mine = long[(long["key"] == key) & (long["env"] == env)]
    for group, df in mine.groupby("group", sort=True):
        df = df.sort_values("value")
        final_vs_setting(df["value"].astype(float), df, group, colors[group], ax=ax)
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
    ax.set(title=plain(env), xlabel=key, ylabel=ylabel)
    ax.legend(fontsize="small")
    return ax


def step_size_figure(long: pd.DataFrame, ylabel: str = "final return"):
    """step_size_panel per (key, env). long: variants.per_value rows of the step keys (or
    sensitivity.step_size_points')."""
    colors = palette(long["group"].unique())
    return plots.facet_figure(
        sorted(long.groupby(["key", "env"]).groups),
        lambda panel, ax: step_size_panel(long, *panel, ax=ax, colors=colors, ylabel=ylabel),
        legend=False,
    )


def damping_return(data: pd.DataFrame, env: str, *, ax=None, colors=None):
    """Final return against damping (log x when positive), one line per variant."""
    ax = new_ax(ax)
    colors = colors or palette(data["group"].unique())
    for group, df in data[data["env"] == env].groupby("group", sort=True):
        df = df.sort_values("damping")
        final_vs_setting(df["damping"], df, group, colors[group], ax=ax)
    positive = (data["damping"] > 0).all()
    ax.set(
        title=f"{plain(env)}: final return",
        xlabel="damping",
        ylabel="final return",
        xscale="log" if positive else "linear",
    )
    ax.legend(fontsize="small")
    return ax


def damping_cond(data: pd.DataFrame, env: str, *, ax=None, colors=None):
    """cond(F + damping I) against damping (log-log), mean and max per variant."""
    ax = new_ax(ax)
    colors = colors or palette(data["group"].unique())
    for group, df in data[data["env"] == env].groupby("group", sort=True):
        cond = df.sort_values("damping")
        cond = cond[cond["cond_mean"] > 0]
        if cond.empty:
            continue
        ax.plot(
            cond["damping"],
            cond["cond_mean"],
            marker="o",
            label=f"{plain(group)} mean",
            color=colors[group],
        )
        ax.plot(
            cond["damping"],
            cond["cond_max"],
            marker="^",
            linestyle="--",
            label=f"{plain(group)} max",
            color=colors[group],
            alpha=0.6,
        )
    positive = (data["damping"] > 0).all()
    ax.set(
        title=f"{plain(env)}: cond(F + damping I)",
        xlabel="damping",
        ylabel="condition number",
        xscale="log" if positive else "linear",
    )
    if ax.lines:
        ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        ax.text(
            0.5, 0.5, "fisher_cond not recorded", ha="center", va="center", transform=ax.transAxes
        )
    return ax


def damping_figure(data: pd.DataFrame):
    """Per env: damping_return and damping_cond side by side; data: the damping table's."""
    envs = sorted(data["env"].unique())
    colors = palette(data["group"].unique())
    fig, axes = plt.subplots(len(envs), 2, figsize=(9.0, 3.3 * len(envs)), squeeze=False)
    for (ax_ret, ax_cond), env in zip(axes, envs):
        damping_return(data, env, ax=ax_ret, colors=colors)
        damping_cond(data, env, ax=ax_cond, colors=colors)
    fig.tight_layout()
    return fig


def _fidelity_means(frame: pd.DataFrame, env: str, column: str):
    """(group, mean over seeds of column per logged step) for one env."""
    data = frame[(frame["env"] == env) & frame[column].notna()]
    for group, df in data.groupby("group", sort=True):
        yield group, df.groupby("step", sort=True)[column].mean()


def _plot_fidelity(
    ax, frame: pd.DataFrame, env: str, column: str, colors, damping=None
) -> list[float]:
    """One solid line per variant of `column`, plus a dashed one against the variant's own
    damping model (`column`_own) where that differs (npg_kfac); returns the plotted means."""
    plotted, own_column = [], f"{column}_own"
    own = dict(_fidelity_means(frame, env, own_column)) if own_column in frame else {}
    differs = set()
    if own:  # compared row by row: runs that predate the own column do not count
        both = frame[(frame["env"] == env) & frame[own_column].notna() & frame[column].notna()]
        gap = (both[own_column] - both[column]).abs() > 1e-12 * both[column].abs().clip(lower=1)
        differs = set(both.loc[gap, "group"])
    for group, mean in _fidelity_means(frame, env, column):
        lam = (damping or {}).get(group)
        label = plain(group) + (f" (lambda {lam:g})" if lam is not None else "")
        ax.plot(mean.index, mean.to_numpy(), marker=".", label=label, color=colors[group])
        plotted.extend(mean.dropna().to_list())
        other = own.get(group)
        if group in differs:
            label = f"{plain(group)} (own damping)"
            ax.plot(other.index, other.to_numpy(), linestyle="--", label=label, color=colors[group])
            plotted.extend(other.dropna().to_list())
    return plotted


def fidelity_cosine(frame: pd.DataFrame, env: str, *, ax=None, colors=None, damping=None):
    """cos(x, x*) with the exact natural gradient (F + lambda I)^-1 g over training, one line
    per variant, lambda its own damping (damping: variant -> lambda, named in the legend;
    dashed: against the variant's own damping model, where it differs)."""
    ax = new_ax(ax)
    colors = colors or palette(frame["group"].unique())
    _plot_fidelity(ax, frame, env, "fidelity_cosine", colors, damping)
    ax.set(title=plain(env), ylabel="cos(x, x*), x* = (F + lambda I)^-1 g")
    ax.legend(fontsize="small")
    return ax


def fidelity_kl_ratio(frame: pd.DataFrame, env: str, *, ax=None, colors=None):
    """KL ratio x^T F x / x*^T F x* over training (log y when positive)."""
    ax = new_ax(ax)
    colors = colors or palette(frame["group"].unique())
    ratios = []
    if "fidelity_kl_ratio" in frame:
        ratios = _plot_fidelity(ax, frame, env, "fidelity_kl_ratio", colors)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    if ratios and min(ratios) > 0:
        ax.set_yscale("log")
    ax.set(xlabel="environment steps", ylabel="KL ratio x^T F x / x*^T F x*")
    ax.xaxis.set_major_formatter(EngFormatter())
    return ax


def fidelity_figure(frame: pd.DataFrame, damping: dict[str, float] | None = None):
    """Per env: fidelity_cosine (top) and fidelity_kl_ratio (bottom); damping: variant ->
    the lambda of its reference."""
    data = frame[frame["fidelity_cosine"].notna()]
    envs = sorted(data["env"].unique())
    colors = palette(data["group"].unique())
    fig, axes = plt.subplots(
        2, len(envs), figsize=(4.8 * len(envs), 6.2), squeeze=False, sharex="col"
    )
    for col, env in enumerate(envs):
        fidelity_cosine(data, env, ax=axes[0, col], colors=colors, damping=damping)
        fidelity_kl_ratio(data, env, ax=axes[1, col], colors=colors)
    fig.tight_layout()
    return fig
