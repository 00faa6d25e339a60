"""One study of a report (the runs of one suite): its tables, its figures and its blocks.

Every figure belongs to a table and is placed right after it (numbered by document.py);
a figure whose table is absent goes to a closing "Figures" section. `FIGURE_NAMES` lists
every figure a report can draw (`npgbench report --figures` picks among them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from npgbench.analysis.claims import (
    ablation,
    decomposition,
    experiments,
    heldout,
    planned,
    published,
    reparam,
    reparam_twins,
    sensitivity,
)
from npgbench.analysis.claims import method as claims
from npgbench.analysis.claims.experiment_claims import experiment_claim_rows
from npgbench.analysis.data.arms import select
from npgbench.analysis.data.load import RunSet
from npgbench.analysis.data.offline import OfflineData
from npgbench.analysis.data.table import Table, fmt
from npgbench.analysis.figures.style import save
from npgbench.analysis.report import hyperparams, tables
from npgbench.analysis.report.study_figures import (
    Figure,
    cost_figures,
    curve_figures,
    experiment_sections,
    reparam_figures,
    sensitivity_figures,
)
from npgbench.analysis.stats import timing
from npgbench.analysis.stats.summary import Options, SuiteInfo, summarise_runs
from npgbench.harness.core.run_files import RunStatus

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
    "param_scale_curves": "reparam_invariance",
    "std_param_f5_curves": "reparam_invariance",
    "step_size": "step_size_sensitivity",
    "step_size_f4": "step_size_family",
    "damping": "damping",
    "fisher_fidelity": "fisher_fidelity",
    "fidelity_64": "fisher_fidelity_64",
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
class Folder:
    """What every study of a report reads besides its own runs: the benchmarks' CSVs, the
    planned cross-suite tables and the offline measurements of the results folder."""

    fisher_cost: pd.DataFrame | None = None
    """fisher-cost benchmark points (analysis/data/fisher_cost_csv.py), or None."""
    bench: pd.DataFrame | None = None
    """The update-cost benchmark (timing.read_bench), or None."""
    planned: dict[str, Table] = field(default_factory=dict)
    """planned_tables(...): table name -> the decided F3 / F4 / F5 / held-out table."""
    compared_across_suites: frozenset[str] = frozenset()
    """Run ids F4 and F5 compare (compared_across_suites(...)): the per-suite step-size and
    std_param analyses leave them to those tables."""
    offline: OfflineData = field(default_factory=OfflineData)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "runs"


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
    study: Study,
    opts: Options,
    figdir: Path,
    folder: Folder,
    selected: set[str] | None = None,
) -> list[Table]:
    """Compute the study's tables and figures (only `selected` ones, all when None), save
    the figures, append the study's report blocks; returns its tables."""
    bench = folder.bench
    summary, ranges, limits = summarise_runs(study.frame, study.suite, opts, study.runs)
    refs, not_compared = published.references(study.frame, study.runs, study.suite, opts)
    built = [
        tables.overview(study.runs),
        hyperparams.hyperparameters(study.runs),
        tables.convergence(summary, limits, opts),
        tables.stability(summary, opts),
        tables.aggregates(summary, ranges, opts),
        tables.improvement(summary, ranges, opts),
        claims_table(study, summary, ranges, opts, folder),
        timing.wall_clock(study.frame, summary, bench),
        None if bench is None else timing.bench_table(bench),
        refs,
        tables.sensitivity(summary, study.runs),
    ]
    pairs = [(t, None) for t in built if t is not None]
    pairs += experiment_sections(study, summary, ranges, opts, folder.compared_across_suites)
    figures = curve_figures(study, summary, ranges, opts) + cost_figures(
        study, summary, refs, folder.fisher_cost
    )
    figures += [f for _, f in pairs if f is not None]
    chosen = [f for f in figures if selected is None or f.name in selected]
    study.blocks += intro_blocks(study, ranges)
    study.blocks += section_blocks(study, [t for t, _ in pairs], chosen, figdir)
    if not_compared:  # no table: say why the suite's published numbers are not beside ours
        study.blocks += [("h3" if study.prefix else "h2", "Published results"), ("p", not_compared)]
    for table, _ in pairs:
        table.name = study.prefix + table.name
    return [t for t, _ in pairs] + [Table(study.prefix + "per_run", "", summary, summary)]


def section_blocks(
    study: Study, built: list[Table], chosen: list[Figure], figdir: Path
) -> list[tuple]:
    """Every table with its figures after it (saved as they are placed), then a "Figures"
    section for the chosen figures whose table is absent."""
    homes = {t.name for t in built}
    b, level = [], ("h3" if study.prefix else "h2")
    for table in built:
        b += table_blocks(table, level, study.prefix)
        if table.name == "convergence" and not any(t.name == "aggregate" for t in built):
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
    return b


def claims_table(study: Study, summary, ranges, opts: Options, folder: Folder) -> Table | None:
    """The claims at equal KL; sensitivity and invariance rows from the folder's planned
    tables (F4, F5), its offline one-step test and its one-task suites (their runs may
    belong to other suites that share this one's protocol); the cost rows from the
    update-cost benchmark when one is given."""
    if claims.equal_kl_groups(summary, study.runs)[0] is None:
        return None
    everything = study.set.frame
    everything = everything[everything["env"].isin(list(ranges))]
    summary_all, ranges_all, _ = summarise_runs(everything, study.suite, opts, study.set.runs)
    runs_all = study.set.runs
    runs_all = runs_all[~runs_all["run_id"].isin(folder.compared_across_suites)]
    step, _ = experiments.step_size(summary_all, runs_all, ranges_all)
    inv, _ = experiments.invariance(everything, summary_all, runs_all, ranges_all, opts.value)
    f4, f5 = (folder.planned.get(name) for name in ("step_size_family", "reparam_invariance"))
    extra = experiment_claim_rows(
        f4=None if f4 is None else f4.data,
        f5=None if f5 is None else f5.data,
        one_step=folder.offline.one_step,
        step_sizes=None if step is None else step.data,
        invariance=None if inv is None else inv.data,
    )
    return claims.claims(
        summary, study.runs, ranges, opts.reps, opts.seed, extra_rows=extra, bench=folder.bench
    )


def fig_block(figure: Figure, prefix: str, figdir: Path) -> tuple:
    save(figure.draw(), figdir, prefix + figure.name)
    return ("fig", f"figures/{prefix}{figure.name}.png", figure.caption)


def data_text(runs: pd.DataFrame) -> str:
    """What the study's complete runs hold: tasks, variants, seeds per cell, budget."""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    envs, groups = sorted(done["env"].unique()), sorted(done["group"].unique())
    seeds = done.groupby(["env", "group"])["seed"].nunique()
    per_cell = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    budgets = sorted({fmt(float(b)) for b in done["total_steps"]})
    plural = lambda k, word: f"{k} {word}{'s' if k != 1 else ''}"  # noqa: E731
    return (
        f"Data in this section: {len(done)} complete runs, {plural(len(envs), 'task')} "
        f"({', '.join(envs)}) x {plural(len(groups), 'variant')} ({', '.join(groups)}), "
        f"{per_cell} seeds per task and variant, {' / '.join(budgets)} steps per run."
    )


def intro_blocks(study: Study, ranges: dict) -> list[tuple]:
    """The suite heading, what its data holds (from the runs, not the suite file), the suite
    file's own description (its design, which the data may cover only in part), ranges."""
    out = [("h2", f"Suite: {study.name or '(no suite)'}")] if study.prefix else []
    out.append(("p", data_text(study.runs)))
    if study.suite.description:
        out.append(("p", f"Suite file, as designed: {study.suite.description}."))
    normalisation = "; ".join(
        f"{e} [{fmt(lo)}, {fmt(hi)}] ({src})" for e, (lo, hi, src) in ranges.items()
    )
    return out + [("p", f"Score ranges (normalisation): {normalisation}")]


PLANNED_INTRO = (
    "The analyses docs/analysis-plan.md fixes for the matched-regularisation ablation (F3), "
    "step-size sensitivity (F4) and parameterisation invariance (F5), and the held-out step "
    "measures. They pair runs across suites by configuration (controlled-1m's runs are the "
    "reference arms), so they read every run of this folder; a comparison whose runs are not "
    "in yet says 'not tested'."
)


def compared_across_suites(data: planned.PlannedData) -> frozenset[str]:
    """The run ids of every arm F4 and F5 compare (found by configuration in any suite)."""
    _, f4, _ = sensitivity.found_sweeps(data)
    f5 = [arm for found in reparam_twins.found_twins(data).values() for arm in found.all_arms()]
    return frozenset(planned.arm_runs([*f4, *f5]))


def planned_tables(data: planned.PlannedData, frame: pd.DataFrame, opts: Options) -> list[tuple]:
    """(table, its Figures) of the planned cross-suite analyses (F3, F4, F5, held-out
    measures), decided; empty when no run of the folder is under their protocol (a folder
    of unrelated runs gets none). F5's table carries its families' learning curves.
    data: planned.planned_data of the report's RunSet; frame: its RunSet.frame."""
    common = planned.protocol_without(reparam_twins.KEYS)
    if not select(data.arms, common):
        return []
    curves = reparam.reparam_curves(frame, data, opts.points)
    return [
        (ablation.factor_table(data, opts.seed), []),
        (decomposition.decomposition_table(data, opts.reps, opts.seed), []),
        (
            sensitivity.sensitivity_table(data, opts.reps, opts.seed),
            sensitivity_figures(sensitivity.step_size_points(data)),
        ),
        (reparam.reparam_table(data, opts.seed), reparam_figures(curves)),
        (heldout.heldout_table(data), []),
    ]


def planned_section(
    built: list[tuple], figdir: Path, selected: set[str] | None = None
) -> list[tuple]:
    """Blocks of the planned tables, each with its selected figures after it (none without
    tables)."""
    if not built:
        return []
    blocks = [("h2", "Planned experiments across suites"), ("p", PLANNED_INTRO)]
    for table, figures in built:
        blocks += table_blocks(table, "h3", "")
        blocks += [fig_block(f, "", figdir) for f in figures if selected is None or f.name in selected]  # fmt: skip
    return blocks
