"""One study of a report (the runs of one suite): its tables, its figures and its blocks.

Every figure belongs to a table and is placed right after it (numbered by document.py);
a figure whose table is absent goes to a closing "Figures" section. `FIGURE_NAMES` lists
every figure a report can draw (`npgbench report --figures` picks among them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import (
    cost_plots,
    experiment_plots,
    experiments,
    fisher_experiments,
    hyperparams,
    plots,
    published,
    published_plots,
    tables,
)
from analysis.aggregate import interval_estimates
from analysis.formatting import Table, fmt
from analysis.load import RunSet, interpolate_curves
from analysis.plot_style import axis_label, palette, save, styles
from analysis.summary import Options, SuiteInfo, score_matrices, summarise_runs

FIGURE_HOMES = {
    "learning_curves": "convergence",
    "aggregate_iqm": "aggregate",
    "final_intervals": "aggregate",
    "performance_profiles": "aggregate",
    "published_comparison": "references",
    "return_vs_wallclock": "wall_clock",
    "time_split": "wall_clock",
    "update_cost": "wall_clock",
    "std_param_curves": "std_param_invariance",
    "step_size": "step_size_sensitivity",
    "damping": "damping",
    "fisher_fidelity": "fisher_fidelity",
}
"""Figure name -> the table it is shown with."""
FIGURE_NAMES = tuple(FIGURE_HOMES)
MAX_INLINE_ROWS = 120
"""Longer tables (pairwise comparisons of a large sweep) go to CSV only, not inline."""
MAX_INLINE_COLUMNS = 14
"""Wider tables (the hyperparameters of a 40-point sweep) go to CSV only."""


@dataclass
class Study:
    """The runs of one suite (or of no suite) and everything computed from them."""

    name: str
    prefix: str
    suite: SuiteInfo
    set: RunSet
    frame: pd.DataFrame
    runs: pd.DataFrame
    blocks: list[tuple] = field(default_factory=list)


@dataclass
class Figure:
    name: str
    caption: str
    draw: Callable
    """() -> matplotlib Figure; called only when the figure is selected."""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "runs"


def curve_figures(study: Study, summary, ranges, opts: Options) -> list[Figure]:
    """Learning curves against steps and wall-clock, and the across-env aggregates."""
    frame, value = study.frame, opts.value
    style, colors = styles(frame["group"].unique()), palette(frame["group"].unique())
    envs = sorted(frame["env"].unique())
    band = "mean over seeds, Student-t 95% CI band (the tables' interval), n in the legend"

    def facets(x: str, xlabel: str, run_ends: bool):
        curves = interpolate_curves(frame, value, x, opts.points)
        return plots.facet_figure(
            envs,
            lambda e, ax: plots.learning_curve(
                curves, e, ax=ax, style=style, value=value, xlabel=xlabel, run_ends=run_ends
            ),
        )

    out = [
        Figure(
            "learning_curves",
            f"Learning curves of the {axis_label(value)}: {band}; a curve stops where its "
            "shortest run stops",
            lambda: facets("step", "environment steps", False),
        ),
        Figure(
            "return_vs_wallclock",
            f"{axis_label(value).capitalize()} against wall-clock time: {band}; each curve "
            "stops where its shortest run stops, ticks mark where every seed ended",
            lambda: facets("wall_time", "wall-clock time (s)", True),
        ),
    ]
    scores, _, _ = score_matrices(summary, ranges)
    if not scores:
        return out
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
    return out + [
        Figure(
            "aggregate_iqm",
            f"{name} of normalised return across envs and seeds along training, {boot}",
            aggregate_curve,
        ),
        Figure(
            "final_intervals",
            f"Normalised final return: aggregate point estimates (black) and {boot}; n = runs",
            intervals,
        ),
        Figure(
            "performance_profiles",
            f"Performance profiles of normalised final return, {boot}",
            profiles,
        ),
    ]


def update_cost_points(summary, runs, fisher_cost) -> pd.DataFrame:
    params = runs.set_index("run_id")["num_params"]
    df = summary.assign(num_params=summary["run_id"].map(params).astype(float))
    pts = (
        df.groupby(["group", "env"], sort=True)
        .agg(num_params=("num_params", "mean"), seconds=("seconds_per_update", "mean"))
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
    out = [
        Figure(
            "time_split",
            "Mean seconds per iteration by component",
            lambda: cost_plots.time_split_bars(summary).figure,
        )
    ]
    points = update_cost_points(summary, study.runs, fisher_cost)
    if not points.empty and cost_plots.worth_drawing(points):
        out.append(
            Figure(
                "update_cost",
                "Seconds per policy update against parameter count (log-log); filled: "
                "runs (one point per variant and env), hollow: fisher-cost benchmark",
                lambda: cost_plots.update_cost(points, style=style).figure,
            )
        )
    if refs is not None:
        out.append(
            Figure(
                "published_comparison",
                "Ours (mean over seeds, Student-t 95% CI, n in the labels) beside published "
                "numbers (± std over their seeds), under the published protocol",
                lambda: published_plots.published_figure(refs.data, colors),
            )
        )
    return out


def experiment_sections(study: Study, summary, ranges, opts: Options) -> list[tuple]:
    """(table, Figure) of every experiment section the data supports: parameterisation
    invariance, step-size sensitivity, damping, Fisher fidelity."""
    frame, runs = study.frame, study.runs
    out = []
    table, curves = experiments.invariance(frame, summary, runs, ranges, opts.value, opts.points)
    if table is not None:
        caption = (
            "Learning curves per std_param (mean over seeds, Student-t 95% band), one panel "
            "per variant and env"
        )
        draw = lambda: experiment_plots.invariance_figure(curves, opts.value)  # noqa: E731
        out.append((table, Figure("std_param_curves", caption, draw)))
    table, long = experiments.step_size(summary, runs, ranges)
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
    table = fisher_experiments.fidelity(frame)
    if table is not None:
        caption = "Cosine with the exact natural gradient and KL ratio over training"
        draw = lambda: experiment_plots.fidelity_figure(frame)  # noqa: E731
        out.append((table, Figure("fisher_fidelity", caption, draw)))
    return out


def table_blocks(table: Table, level: str, prefix: str) -> list[tuple]:
    """Heading and table, or a pointer to its CSV when too long or wide to read inline."""
    out = [(level, table.title)]
    rows, cols = table.view.shape
    if rows > MAX_INLINE_ROWS or cols > MAX_INLINE_COLUMNS:  # e.g. 780 pairs of a sweep
        out.append(("p", f"{rows} rows x {cols} columns: see `tables/{prefix}{table.name}.csv`."))
    else:
        out.append(("table", table))
    return out


def analyse(
    study: Study, opts: Options, figdir: Path, fisher_cost, selected: set[str] | None = None
) -> list[Table]:
    """Compute the study's tables and figures (only `selected` ones, all when None), save
    the figures, append the study's report blocks; returns its tables."""
    summary, ranges, limits = summarise_runs(study.frame, study.suite, opts)
    refs = published.references(summary, study.runs, study.suite)
    built = [
        tables.overview(study.runs),
        hyperparams.hyperparameters(study.runs),
        tables.convergence(summary, limits, opts),
        tables.stability(summary, opts),
        tables.aggregates(summary, ranges, opts),
        tables.improvement(summary, ranges, opts),
        tables.wall_clock(summary),
        refs,
        tables.sensitivity(summary, study.runs),
    ]
    pairs = [(t, None) for t in built if t is not None]
    pairs += experiment_sections(study, summary, ranges, opts)
    figures = curve_figures(study, summary, ranges, opts) + cost_figures(
        study, summary, refs, fisher_cost
    )
    figures += [f for _, f in pairs if f is not None]
    chosen = [f for f in figures if selected is None or f.name in selected]
    homes = {t.name for t, _ in pairs}
    b, level = study.blocks, ("h3" if study.prefix else "h2")
    b += intro_blocks(study, ranges)
    for table, _ in pairs:
        b += table_blocks(table, level, study.prefix)
        if table.name == "convergence" and not any(t.name == "aggregate" for t, _ in pairs):
            b.append(
                (
                    "p",
                    "No across-env aggregates: no variant has a finite final score "
                    "on every env of this study.",
                )
            )
        b += [
            fig_block(f, study.prefix, figdir) for f in chosen if FIGURE_HOMES[f.name] == table.name
        ]
    orphans = [f for f in chosen if FIGURE_HOMES[f.name] not in homes]
    if orphans:
        b.append((level, "Figures"))
        b += [fig_block(f, study.prefix, figdir) for f in orphans]
    for table, _ in pairs:
        table.name = study.prefix + table.name
    return [t for t, _ in pairs] + [Table(study.prefix + "per_run", "", summary, summary)]


def fig_block(figure: Figure, prefix: str, figdir: Path) -> tuple:
    save(figure.draw(), figdir, prefix + figure.name)
    return ("fig", f"figures/{prefix}{figure.name}.png", figure.caption)


def intro_blocks(study: Study, ranges: dict) -> list[tuple]:
    out = [("h2", f"Suite: {study.name or '(no suite)'}")] if study.prefix else []
    if study.suite.description:
        out.append(("p", study.suite.description))
    normalisation = "; ".join(
        f"{e} [{fmt(lo)}, {fmt(hi)}] ({src})" for e, (lo, hi, src) in ranges.items()
    )
    return out + [("p", f"Score ranges (normalisation): {normalisation}")]
