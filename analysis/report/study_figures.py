"""The figures of one study, defined lazily (Figure.draw runs only for selected figures):
learning curves against steps and wall-clock, across-env aggregates, wall-clock costs, the
published comparison, and the experiment sections' figures with their tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import pandas as pd
from npgbench.analysis.claims import experiments, fisher_experiments
from npgbench.analysis.data import variants
from npgbench.analysis.data.curves import interpolate_curves
from npgbench.analysis.data.table import Table
from npgbench.analysis.figures import cost as cost_plots
from npgbench.analysis.figures import experiments as experiment_plots
from npgbench.analysis.figures import plots
from npgbench.analysis.figures import published as published_plots
from npgbench.analysis.figures.style import axis_label, palette, styles
from npgbench.analysis.stats import timing
from npgbench.analysis.stats.aggregate import interval_estimates
from npgbench.analysis.stats.summary import Options, score_matrices
from scipy import stats

if TYPE_CHECKING:  # study.py imports this module
    from npgbench.analysis.report.study import Study


@dataclass
class Figure:
    name: str
    caption: str
    draw: Callable
    """() -> matplotlib Figure; called only when the figure is selected."""


def curve_figures(study: Study, summary, ranges, opts: Options) -> list[Figure]:
    """Learning curves against steps and wall-clock, and the across-env aggregates."""
    frame = study.frame
    style, colors = styles(frame["group"].unique()), palette(frame["group"].unique())
    out = _learning_curve_figures(frame, opts, style)
    scores, _, _ = score_matrices(summary, ranges)
    if not scores:
        return out
    return out + _aggregate_figures(frame, scores, ranges, opts, style, colors)


def _learning_curve_figures(frame, opts: Options, style) -> list[Figure]:
    """The per-env learning curves against environment steps and against wall-clock time."""
    value = opts.value
    envs = sorted(frame["env"].unique())
    band = "mean over seeds, Student-t 95% CI band (the tables' interval), n in the legend"
    band += seed_count_notes(frame)

    def facets(x: str, xlabel: str, run_ends: bool):
        curves = interpolate_curves(frame, value, x, opts.points)
        return plots.facet_figure(
            envs,
            lambda e, ax: plots.learning_curve(
                curves, e, ax=ax, style=style, value=value, xlabel=xlabel, run_ends=run_ends
            ),
        )

    def wallclock():
        curves = interpolate_curves(frame, value, "step", opts.points)
        times = interpolate_curves(frame, "wall_time", "step", opts.points)
        draw = lambda e, ax: cost_plots.wallclock_curve(curves, times, e, ax=ax, style=style)  # noqa: E731
        fig = plots.facet_figure(envs, draw)
        for ax in fig.axes[: len(envs)]:
            ax.set_ylabel(axis_label(value))
        return fig

    return [
        Figure(
            "learning_curves",
            f"Learning curves of the {axis_label(value)}: {band}; a curve stops where its "
            "shortest run stops",
            lambda: facets("step", "environment steps", False),
        ),
        Figure(
            "return_vs_wallclock",
            f"{axis_label(value).capitalize()} against wall-clock time, to the end of "
            f"training: {band}, at the median over seeds of the time each step was reached "
            "(shared machine: a run's time includes waits for a core); ticks mark where each "
            "seed ended",
            wallclock,
        ),
    ]


def seed_count_notes(frame: pd.DataFrame) -> str:
    """Caption notes on the seeds behind the curves: a band of n = 2 spans ±12.7 standard
    errors (t with 1 degree of freedom), and curves of unequal n are not equally certain."""
    n = frame.groupby(["group", "env"])["run_id"].nunique()
    notes = ""
    if n.min() == 2:
        t = stats.t.ppf(0.975, 1)
        notes += f"; where n = 2 the band is ±{t:.1f} standard errors wide and says little"
    if n.nunique() > 1:
        notes += f"; seed counts differ between curves (n = {n.min()} to {n.max()})"
    return notes


def _aggregate_figures(frame, scores: dict, ranges, opts: Options, style, colors) -> list[Figure]:
    """Across-env aggregates of the normalised final scores (score_matrices: group ->
    scores_RT, seeds x envs): the IQM curve along training, the final-return intervals and
    the performance profiles."""
    value = opts.value
    counts = {g: int(pd.notna(s).sum()) for g, s in scores.items()}
    name = plots.iqm_name(counts.values())

    def aggregate_curve():
        curves = interpolate_curves(frame, value, "step", opts.points)
        reps = min(opts.reps, 500)
        return plots.aggregate_curve(curves, ranges, style=style, reps=reps, seed=opts.seed).figure

    def profiles():
        reps = min(opts.reps, 1000)
        return plots.performance_profiles(scores, style=style, reps=reps, seed=opts.seed).figure

    def intervals():
        est = interval_estimates(scores, opts.reps, seed=opts.seed)
        return plots.interval_figure(est, colors, counts)

    boot = "stratified bootstrap 95% CI (the aggregate table's)"
    return [
        Figure(
            "aggregate_iqm",
            f"{name} of normalised return across envs and seeds along training, {boot}",
            aggregate_curve,
        ),
        Figure(
            "final_intervals",
            f"Normalised final return: aggregate point estimates (ticks) and {boot}; n = runs",
            intervals,
        ),
        Figure(
            "performance_profiles",
            f"Performance profiles of normalised final return, {boot}",
            profiles,
        ),
    ]


def update_cost_points(timing_runs: pd.DataFrame, runs, fisher_cost) -> pd.DataFrame:
    """Update-cost points: one per (variant, env) of the runs (median s / update over runs,
    each run's median over iterations), and the fisher-cost benchmark's rows when given."""
    params = runs.set_index("run_id")["num_params"]
    df = timing_runs.assign(num_params=timing_runs["run_id"].map(params).astype(float))
    pts = (
        df.groupby(["group", "env"], sort=True)
        .agg(num_params=("num_params", "median"), seconds=("update_s", "median"))
        .reset_index()
    )
    pts = pts.rename(columns={"group": "label"}).assign(source="runs")[
        ["label", "num_params", "seconds", "source"]
    ]
    parts = [pts, fisher_cost] if fisher_cost is not None else [pts]
    out = pd.concat(parts, ignore_index=True)
    return out[(out["num_params"] > 0) & (out["seconds"] > 0)]


def cost_figures(study: Study, summary, refs: Table | None, fisher_cost) -> list[Figure]:
    """Time split, update cost (when there are sizes to compare) and the published figure."""
    groups = study.frame["group"].unique()
    style, colors = styles(groups), palette(groups)
    timing_runs = timing.per_run(study.frame)
    out = [
        Figure(
            "time_split",
            "Seconds per iteration by component: per run the median over iterations, then "
            "the median over runs (shared machine)",
            lambda: cost_plots.time_split_bars(timing_runs).figure,
        )
    ]
    points = update_cost_points(timing_runs, study.runs, fisher_cost)
    if not points.empty and cost_plots.worth_drawing(points):
        hollow = (
            "; hollow, joined: fisher-cost benchmark" if (points["source"] != "runs").any() else ""
        )
        out.append(
            Figure(
                "update_cost",
                "Seconds per policy update against parameter count (log-log); filled: runs "
                f"(median per variant and env, shared machine){hollow}",
                lambda: cost_plots.update_cost(points, style=style).figure,
            )
        )
    if refs is not None:
        out.append(
            Figure(
                "published_comparison",
                "Ours (filled) beside the published number (hollow), each under the "
                "publisher's estimator (named in the table), ± std over seeds on both sides; "
                "rows: variant, publisher, our seeds",
                lambda: published_plots.published_figure(refs.data, colors),
            )
        )
    return out


REPARAM_FIGURES = {
    "param_scale": ("param_scale_curves", "policy.param_scale 1 and 10"),
    "std_param": ("std_param_f5_curves", "the std as exp(w) (log), softplus(w) and w (identity)"),
}
"""F5 family -> (figure name, what its lines are)."""


def reparam_figures(curves: dict[str, pd.DataFrame]) -> list[Figure]:
    """One figure per F5 family with curves (reparam.reparam_curves): evaluation return
    against steps, one panel per arm, one line per setting."""
    out = []
    for family, (name, lines) in REPARAM_FIGURES.items():
        if family not in curves:
            continue
        caption = (
            f"Evaluation return (mean action) against steps at {lines} (the same policy at "
            "initialisation in other coordinates), mean over seeds with a Student-t 95% band, "
            "one panel per arm: an invariant update draws one curve"
        )
        draw = partial(experiment_plots.invariance_figure, curves[family], "eval_return_mean")
        out.append(Figure(name, caption, draw))
    return out


def sensitivity_figures(points: pd.DataFrame) -> list[Figure]:
    """F4's normalised final return against step size (sensitivity.step_size_points), one
    panel per task; none until some method has runs at two step sizes."""
    points = points.dropna(subset=["final_mean"]) if len(points) else points
    if points.empty or points.groupby("group")["value"].nunique().max() < 2:
        return []
    caption = (
        "Normalised final return (the step-size table's estimator, named in its note) against "
        "each method's step size over its default (kl_delta 0.003 / 0.01 / 0.03; Adam lr for "
        "vanilla_adam and ppo), mean ± std over seeds, one panel per task; star: the best "
        "step size"
    )
    ylabel = "normalised final return"
    draw = partial(experiment_plots.step_size_figure, points, ylabel)
    return [Figure("step_size_f4", caption, draw)]


def reference_damping(runs: pd.DataFrame) -> dict[str, float]:
    """variant -> lambda of its fidelity reference: its update.damping when positive, else
    FIDELITY_DEFAULT_DAMPING (what the harness compares a variant without damping with)."""
    from npgbench.harness.core.config import FIDELITY_DEFAULT_DAMPING  # stdlib only

    settings = variants.run_settings(runs)
    out = {}
    for rid, group in zip(runs["run_id"], runs["group"]):
        value = settings.get(rid, {}).get("update.damping")
        lam = float(value) if isinstance(value, (int, float)) and value > 0 else None
        out.setdefault(group, lam if lam is not None else FIDELITY_DEFAULT_DAMPING)
    return out


def experiment_sections(
    study: Study, summary, ranges, opts: Options, elsewhere: frozenset[str] = frozenset()
) -> list[tuple]:
    """(table, Figure) of every experiment section the data supports: parameterisation
    invariance, step-size sensitivity, damping, Fisher fidelity. elsewhere: run ids F4 and
    F5 compare across suites on evaluation returns (study.compared_across_suites); the
    std_param and step-size sections here leave them out."""
    frame, runs = study.frame, study.runs
    out = []
    own = runs[~runs["run_id"].isin(elsewhere)]
    table, curves = experiments.invariance(frame, summary, own, ranges, opts.value, opts.points)
    if table is not None:
        caption = (
            "Learning curves per std_param (mean over seeds, Student-t 95% band), one panel "
            "per variant and env"
        )
        draw = lambda: experiment_plots.invariance_figure(curves, opts.value)  # noqa: E731
        out.append((table, Figure("std_param_curves", caption, draw)))
    table, long = experiments.step_size(summary, own, ranges)
    if table is not None:
        caption = "Final return against step size (log x), mean ± std over seeds; star: best"
        draw = lambda: experiment_plots.step_size_figure(long)  # noqa: E731
        out.append((table, Figure("step_size", caption, draw)))
    table = fisher_experiments.damping(frame, summary, runs)
    if table is not None:
        data = table.data
        caption = "Final return against damping (log x) and cond(F + damping I) (log-log)"
        draw = lambda: experiment_plots.damping_figure(data)  # noqa: E731
        out.append((table, Figure("damping", caption, draw)))
    lam = reference_damping(runs)
    table = fisher_experiments.fidelity(frame, lam)
    if table is not None:
        caption = (
            "Cosine with the exact natural gradient (F + lambda I)^-1 g and KL ratio over "
            "training; lambda is each variant's own damping (in the legend), so variants "
            "with different lambda are compared with different references"
        )
        draw = lambda: experiment_plots.fidelity_figure(frame, lam)  # noqa: E731
        out.append((table, Figure("fisher_fidelity", caption, draw)))
    return out
