"""`npgbench report RESULTS_PATH [--out DIR] [--suite NAME]`: tables, figures and one report.

Writes DIR/report.md (tables inline, figures linked), DIR/report.html (self-contained),
DIR/figures/*.png|svg and DIR/tables/*.csv. Same input, same output: bootstraps are seeded
and no timestamp is written. Bad input (missing or empty path, no runs, unknown suite) is
one line on stderr and exit code 2; a corrupt run is skipped with a warning naming it.
Runs of several suites in one folder are analysed suite by suite, each in its own section.
Experiment sections (std_param invariance, step-size sensitivity, damping, Fisher fidelity;
fisher-cost scaling when the benchmark CSV is found) appear when the runs support them.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import experiment_plots, experiments, fisher_experiments, plots, published, tables
from analysis.document import markdown_blocks, render_html, render_markdown
from analysis.load import (
    RunSet,
    find_fisher_cost_csv,
    interpolate_curves,
    load_runs,
    read_fisher_cost,
)
from analysis.recorded_suite import study_suite
from analysis.summary import Options, SuiteInfo, load_suite_info, score_matrices, summarise_runs


class ReportError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise ReportError(f"{self.prog}: {message}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="npgbench report", description=__doc__.splitlines()[0])
    p.add_argument("results", help="folder holding run directories (searched recursively)")
    p.add_argument("--out", help="output folder (default RESULTS/report)")
    p.add_argument("--suite", help="suite name or TOML path (default: from meta.json)")
    p.add_argument(
        "--metric",
        choices=["train", "eval"],
        default="train",
        help="score training-episode returns or deterministic evaluation returns",
    )
    p.add_argument("--final-frac", type=float, default=0.1, help="final return: last fraction")
    p.add_argument(
        "--threshold-frac",
        type=float,
        default=0.8,
        help="threshold without a suite value: fraction of the best final return",
    )
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--fisher-cost", help="fisher-cost benchmark CSV (default: found under RESULTS)")
    p.add_argument("--name", default="report", help="basename of the .md and .html files")
    p.add_argument("--preamble", help="markdown file placed after the title (method, budgets)")
    return p.parse_args(argv)


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


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "runs"


def resolve_suite(name: str, cli_suite: str | None, runs: pd.DataFrame, warn) -> SuiteInfo:
    """--suite (a shipped name or a TOML path given on the command line) wins; else the
    shipped suite named in meta.json, or the copy the sweep recorded beside the runs."""
    if cli_suite:
        try:
            return load_suite_info(cli_suite)
        except (ValueError, OSError) as exc:
            raise ReportError(f"cannot load suite {cli_suite!r}: {exc}") from None
    return study_suite(name, runs, warn)[0]


def study_figures(
    study: Study, summary, ranges, opts: Options, figdir: Path, fisher_cost: pd.DataFrame | None
) -> list[tuple[str, str]]:
    """Draw and save every figure of one study; returns [(relative png path, caption)]."""
    frame, p = study.frame, study.prefix
    value = opts.value
    colors = plots.palette(frame["group"].unique())
    envs = sorted(frame["env"].unique())
    out = []

    def keep(fig, name, caption):
        plots.save(fig, figdir, p + name)
        out.append((f"figures/{p}{name}.png", caption))

    steps = interpolate_curves(frame, value, "step", opts.points)
    keep(
        plots.facet_figure(
            envs, lambda e, ax: plots.learning_curve(steps, e, ax, colors, value, seed=opts.seed)
        ),
        "learning_curves",
        "Learning curves: mean over seeds, 95% bootstrap CI band",
    )
    scores, _, _ = score_matrices(summary, ranges)
    if scores:
        ax = plots.aggregate_curve(steps, ranges, None, colors, min(opts.reps, 500), opts.seed)
        keep(ax.figure, "aggregate_iqm", "IQM of normalised return across envs and seeds")
        ax = plots.performance_profiles(scores, None, colors, min(opts.reps, 1000), opts.seed)
        keep(ax.figure, "performance_profiles", "Performance profiles of normalised final return")
        from analysis.aggregate import interval_estimates

        est = interval_estimates(scores, opts.reps, seed=opts.seed)
        keep(
            plots.interval_figure(est, colors),
            "final_intervals",
            "Normalised final return: aggregate point estimates and 95% CIs",
        )
    wall = interpolate_curves(frame, value, "wall_time", opts.points)
    keep(
        plots.facet_figure(
            envs,
            lambda e, ax: plots.learning_curve(
                wall, e, ax, colors, value, "wall-clock seconds", opts.seed
            ),
        ),
        "return_vs_wallclock",
        "Return against wall-clock time",
    )
    keep(
        plots.time_split_bars(summary, None, colors).figure,
        "time_split",
        "Mean seconds per iteration by component",
    )
    refs = published.references(summary, study.runs, study.suite)
    if refs is not None:
        keep(
            plots.published_figure(refs.data, colors),
            "published_comparison",
            "Ours (mean over seeds, Student-t 95% CI) beside published numbers (± std over "
            "their seeds), under the published protocol",
        )
    points = update_cost_points(summary, study.runs, fisher_cost)
    if not points.empty:
        keep(
            plots.update_cost(points, None, colors).figure,
            "update_cost",
            "Seconds per policy update against parameter count (log-log)",
        )
    return out


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


def experiment_sections(study: Study, summary, ranges, opts: Options) -> list[tuple]:
    """(table, draw, figure name, caption) of every experiment section the data supports:
    parameterisation invariance, step-size sensitivity, damping, Fisher fidelity."""
    frame, runs = study.frame, study.runs
    out = []
    table, curves = experiments.invariance(frame, summary, runs, ranges, opts.value, opts.points)
    if table is not None:
        out.append(
            (
                table,
                lambda: experiment_plots.invariance_figure(curves, opts.value, opts.seed),
                "std_param_curves",
                "Learning curves per std_param (mean over seeds, 95% "
                "bootstrap band), one panel per variant and env",
            )
        )
    table, long = experiments.step_size(summary, runs, ranges)
    if table is not None:
        out.append(
            (
                table,
                lambda: experiment_plots.step_size_figure(long),
                "step_size",
                "Final return against step size (log x), mean ± std over seeds; star: best",
            )
        )
    table = fisher_experiments.damping(frame, summary, runs)
    if table is not None:
        data = table.data
        out.append(
            (
                table,
                lambda: experiment_plots.damping_figure(data),
                "damping",
                "Final return against damping (log x) and cond(F + damping I) (log-log)",
            )
        )
    table = fisher_experiments.fidelity(frame)
    if table is not None:
        out.append(
            (
                table,
                lambda: experiment_plots.fidelity_figure(frame),
                "fisher_fidelity",
                "Cosine with the exact natural gradient and KL ratio over training",
            )
        )
    return out


MAX_INLINE_ROWS = 120
"""Longer tables (pairwise comparisons of a large sweep) go to CSV only, not inline."""


def analyse(study: Study, opts: Options, out: Path, fisher_cost) -> list[tables.Table]:
    """Compute the study's tables and figures, append its report blocks; returns tables."""
    summary, ranges, limits = summarise_runs(study.frame, study.suite, opts)
    built = [
        tables.overview(study.runs),
        tables.convergence(summary, limits, opts),
        tables.stability(summary, opts),
        tables.aggregates(summary, ranges, opts),
        tables.improvement(summary, ranges, opts),
        tables.wall_clock(summary),
        published.references(summary, study.runs, study.suite),
        tables.sensitivity(summary, study.runs),
    ]
    built = [t for t in built if t is not None]
    figures = study_figures(study, summary, ranges, opts, out / "figures", fisher_cost)
    b = study.blocks
    level = "h3" if study.prefix else "h2"
    if study.prefix:
        b.append(("h2", f"Suite: {study.name or '(no suite)'}"))
    if study.suite.description:
        b.append(("p", study.suite.description))
    b.append(
        (
            "p",
            "Score ranges (normalisation): "
            + "; ".join(
                f"{e} [{tables.fmt(lo)}, {tables.fmt(hi)}] ({src})"
                for e, (lo, hi, src) in ranges.items()
            ),
        )
    )
    for table in built:
        b.append((level, table.title))
        if len(table.view) > MAX_INLINE_ROWS:  # e.g. 780 pairs of 40 sweep points
            b.append(("p", f"{len(table.view)} rows: see `tables/{study.prefix}{table.name}.csv`."))
        else:
            b.append(("table", table))
    if not any(t.name == "aggregate" for t in built):
        b.append(
            (
                "p",
                "No across-env aggregates: no variant has a finite final score on every "
                "env of this study.",
            )
        )
    b.append((level, "Figures"))
    b.extend(("fig", path, caption) for path, caption in figures)
    for table, draw, name, caption in experiment_sections(study, summary, ranges, opts):
        b += [(level, table.title), ("table", table)]
        plots.save(draw(), out / "figures", study.prefix + name)
        b.append(("fig", f"figures/{study.prefix}{name}.png", caption))
        built.append(table)
    for table in built:
        table.name = study.prefix + table.name
    summary_table = tables.Table(study.prefix + "per_run", "", summary, summary)
    return [*built, summary_table]


def header_blocks(rs: RunSet, root: Path, opts: Options) -> list[tuple]:
    counts = rs.runs["status"].value_counts().to_dict()
    status = ", ".join(
        f"{counts.get(s, 0)} {s}"
        for s in ("complete", "failed", "incomplete", "corrupt")
        if counts.get(s)
    )
    done = rs.complete
    blocks = [
        ("h1", "npg-bench report"),
        (
            "p",
            f"Results: `{root}`. {len(rs.runs)} run directories: {status}. Scored "
            f"column: `{opts.value}`; final return = mean of the last "
            f"{100 * opts.final_frac:g}% of iterations.",
        ),
        (
            "ul",
            [
                f"versions: {v} ({n} runs)"
                for v, n in done["versions"].value_counts().sort_index().items()
                if v
            ],
        ),
    ]
    if rs.notes or rs.warnings:
        blocks += [("h2", "Notes"), ("ul", [*rs.notes, *(f"warning: {w}" for w in rs.warnings)])]
    return blocks


def check_args(args: argparse.Namespace) -> None:
    for name in ("final_frac", "threshold_frac"):
        if not 0 < getattr(args, name) <= 1:
            raise ReportError(
                f"--{name.replace('_', '-')} must be in (0, 1], got {getattr(args, name)}"
            )
    if args.reps < 1:
        raise ReportError(f"--reps must be a positive integer, got {args.reps}")


def build(args: argparse.Namespace) -> dict[str, Path | int]:
    check_args(args)
    root = Path(args.results)
    if not root.exists():
        raise ReportError(f"results path not found: {root}")
    if not root.is_dir():
        raise ReportError(f"results path is not a folder: {root}")
    rs = load_runs(root)
    if rs.runs.empty:
        raise ReportError(f"no run directories (config.json / meta.json) under {root}")
    for message in rs.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if rs.complete.empty:
        counts = rs.runs["status"].value_counts().sort_index()
        found = ", ".join(f"{n} {status}" for status, n in counts.items())
        raise ReportError(f"no complete runs under {root} ({found})")
    opts = Options(
        value="eval_return_mean" if args.metric == "eval" else "return_mean",
        final_frac=args.final_frac,
        threshold_frac=args.threshold_frac,
        reps=args.reps,
        seed=args.seed,
    )
    out = Path(args.out) if args.out else root / "report"
    cost_path = Path(args.fisher_cost) if args.fisher_cost else find_fisher_cost_csv(root)
    fisher_cost = None
    if cost_path is not None:
        try:
            fisher_cost = read_fisher_cost(cost_path)
        except (OSError, ValueError) as exc:
            print(f"warning: fisher-cost CSV skipped: {exc}", file=sys.stderr)
    names = sorted(rs.complete["study"].unique())
    blocks, all_tables = header_blocks(rs, root, opts), []
    if args.preamble:
        try:
            blocks[1:1] = markdown_blocks(Path(args.preamble).read_text())
        except OSError as exc:
            raise ReportError(f"cannot read --preamble {args.preamble}: {exc.strerror}") from None
    for name in names:
        runs = rs.runs[rs.runs["study"] == name]
        study = Study(
            name,
            f"{slug(name)}__" if len(names) > 1 else "",
            resolve_suite(
                name, args.suite, runs, lambda m: print(f"warning: {m}", file=sys.stderr)
            ),
            rs,
            rs.frame[rs.frame["study"] == name],
            runs,
        )
        all_tables += analyse(study, opts, out, fisher_cost)
        blocks += study.blocks
    scaling = fisher_experiments.cost_scaling(fisher_cost)
    if scaling is not None:
        blocks += [("h2", scaling.title), ("table", scaling)]
        all_tables.append(scaling)
    all_tables.append(tables.Table("runs", "", rs.runs, rs.runs))  # every run dir, any status
    excluded = tables.problems(rs.runs)
    if excluded is not None:
        blocks += [("h2", excluded.title), ("table", excluded)]
        all_tables.append(excluded)
    return write_outputs(out, blocks, all_tables, args.name)


def write_outputs(out: Path, blocks: list[tuple], built: list[tables.Table], name: str) -> dict:
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for table in built:
        table.data.to_csv(out / "tables" / f"{table.name}.csv", index=False)
    (out / f"{name}.md").write_text(render_markdown(blocks))
    (out / f"{name}.html").write_text(render_html(blocks, out, "npg-bench report"))
    return {
        "report.md": out / f"{name}.md",
        "report.html": out / f"{name}.html",
        "figures": out / "figures",
        "tables": out / "tables",
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `npgbench report`; returns 0, or 2 on bad input (one line, no traceback)."""
    from harness.config import ConfigError  # stdlib-only module: no torch

    try:
        paths = build(parse_args(sys.argv[1:] if argv is None else list(argv)))
    except (ReportError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the report: {exc}", file=sys.stderr)
        return 2
    for what, path in paths.items():
        extra = f" ({len(list(Path(path).iterdir()))} files)" if Path(path).is_dir() else ""
        print(f"{what + ':':<13}{path}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
