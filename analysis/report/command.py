"""`npgbench report RESULTS_PATH [--out DIR] [--suite NAME] [--figures NAME,...]`.

Writes DIR/report.md (tables inline, figures linked), DIR/report.html (self-contained),
DIR/figures/*.png|svg|pdf and DIR/tables/*.csv|tex (LaTeX: booktabs). Same input, same
output: bootstraps are seeded and no timestamp is written. Bad input (missing or empty path,
no runs, two copies of one run id, unknown suite or figure, a bad option) is one line on
stderr, exit code 2, and nothing written; warnings (a corrupt run, skipped, named) are
printed only when the report is written. Runs of several suites in one folder are analysed
suite by suite, each in its own section. Experiment sections (std_param invariance,
step-size sensitivity, damping, Fisher fidelity; fisher-cost scaling when the benchmark CSV
is found) appear when the runs support them; so do the offline measurements
(analysis/data/offline.py) when the folder holds their CSVs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
from npgbench.analysis.claims import fisher_experiments
from npgbench.analysis.claims.planned import planned_data
from npgbench.analysis.data.fisher_cost_csv import find_fisher_cost_csv, read_fisher_cost
from npgbench.analysis.data.load import RunSet, load_runs
from npgbench.analysis.data.offline import find_offline
from npgbench.analysis.data.table import Table
from npgbench.analysis.report import tables
from npgbench.analysis.report.document import markdown_blocks, write_outputs
from npgbench.analysis.report.offline_section import offline_section
from npgbench.analysis.report.recorded_suite import study_suite
from npgbench.analysis.report.study import (
    FIGURE_NAMES,
    Folder,
    Study,
    analyse,
    compared_across_suites,
    planned_section,
    planned_tables,
    slug,
)
from npgbench.analysis.stats import timing
from npgbench.analysis.stats.summary import Options, SuiteInfo, load_suite_info
from npgbench.harness.core.command import os_error_line
from npgbench.harness.core.run_files import RunStatus


class ReportError(Exception):
    """Bad input: printed as one line, exit code 2."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    from npgbench.harness.core.command import OneLineParser  # stdlib only: no torch

    p = OneLineParser(prog="npgbench report", description=__doc__.splitlines()[0])
    p.add_argument("results", help="folder holding run directories (searched recursively)")
    p.add_argument("--out", help="output folder (default: RESULTS/report)")
    p.add_argument("--suite", help="suite name or TOML path (default: from the runs)")
    p.add_argument(
        "--metric",
        choices=["train", "eval"],
        default="train",
        help="score training-episode returns or mean-action evaluation returns",
    )
    p.add_argument("--final-frac", type=float, default=0.1, help="final return: last fraction")
    p.add_argument(
        "--threshold-frac",
        type=float,
        default=0.8,
        help="threshold without a suite value: fraction of the best final return",
    )
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (>= 0)")
    p.add_argument("--fisher-cost", help="fisher-cost benchmark CSV (default: found under RESULTS)")
    p.add_argument(
        "--bench",
        help="update-cost benchmark CSV (npgbench bench): the cost per update is read from it; "
        "without it the wall-clock table says its times come from the training runs",
    )
    p.add_argument("--name", default="report", help="basename of the .md and .html files")
    p.add_argument("--preamble", help="markdown file placed after the title (method, budgets)")
    p.add_argument(
        "--figures",
        help="comma-separated figures to draw (default: all): " + ", ".join(FIGURE_NAMES),
    )
    return p.parse_args(argv)


def resolve_suite(name: str, cli_suite: str | None, runs, warn) -> SuiteInfo:
    """--suite (a shipped name or a TOML path given on the command line) wins; else the
    shipped suite named in meta.json, or the copy the sweep recorded beside the runs."""
    if cli_suite:
        try:
            return load_suite_info(cli_suite)
        except (ValueError, OSError) as exc:
            raise ReportError(f"cannot load suite {cli_suite!r}: {exc}") from None
    return study_suite(name, runs, warn)[0]


def header_blocks(rs: RunSet, root: Path, opts: Options) -> list[tuple]:
    counts = rs.runs["status"].value_counts().to_dict()
    status = ", ".join(
        f"{counts.get(s, 0)} {s}"
        for s in (RunStatus.COMPLETE, RunStatus.FAILED, RunStatus.INCOMPLETE, RunStatus.CORRUPT)
        if counts.get(s)
    )
    versions = rs.complete["versions"].value_counts().sort_index()
    blocks = [
        ("h1", "npg-bench report"),
        (
            "p",
            f"Results: `{root}`. {len(rs.runs)} run directories: {status}. Scored "
            f"column: `{opts.value}`; final return = mean of the last "
            f"{100 * opts.final_frac:g}% of iterations.",
        ),
        ("ul", [f"versions: {v} ({n} runs)" for v, n in versions.items() if v]),
    ]
    if rs.notes or rs.warnings:
        blocks += [("h2", "Notes"), ("ul", [*rs.notes, *(f"warning: {w}" for w in rs.warnings)])]
    return blocks


MAX_REPS = 100_000
"""Most bootstrap replicates: beyond it the interval does not move, and 10**9 would end in a
MemoryError."""
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_args(args: argparse.Namespace) -> set[str] | None:
    """Refuse bad option values before anything is read or written; returns the selected
    figure names (None: all)."""
    for name in ("final_frac", "threshold_frac"):
        if not 0 < getattr(args, name) <= 1:
            raise ReportError(
                f"--{name.replace('_', '-')} must be in (0, 1], got {getattr(args, name)}"
            )
    if not 1 <= args.reps <= MAX_REPS:
        raise ReportError(f"--reps must be an integer in 1 .. {MAX_REPS:,d}, got {args.reps}")
    if args.seed < 0:  # numpy's default_rng refuses negative seeds
        raise ReportError(f"--seed must be an integer >= 0, got {args.seed}")
    if not NAME_RE.fullmatch(args.name) or ".." in args.name:
        raise ReportError(
            f"--name must be a plain file name (letters, digits, _ . -), got {args.name!r}"
        )
    if args.figures is None:
        return None
    chosen = [f.strip() for f in args.figures.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FIGURE_NAMES]
    if unknown or not chosen:
        raise ReportError(
            f"--figures: unknown figure {', '.join(map(repr, unknown)) or '(none given)'}: "
            f"valid: {', '.join(FIGURE_NAMES)}"
        )
    return set(chosen)


def check_unique_ids(rs: RunSet) -> None:
    """Two directories with one run id (a copied run) would be counted twice: refuse."""
    counts = rs.runs["run_id"].value_counts()
    twice = counts[counts > 1]
    if len(twice):
        run_id = sorted(twice.index)[0]
        paths = sorted(rs.runs.loc[rs.runs["run_id"] == run_id, "path"])
        more = f" (and {len(twice) - 1} more run ids)" if len(twice) > 1 else ""
        raise ReportError(
            f"run id {run_id} is in {len(paths)} directories ({', '.join(paths)}){more}: "
            "report one copy (move the others out of the results folder)"
        )


def load_checked(root: Path) -> RunSet:
    if not root.exists():
        raise ReportError(f"results path not found: {root}")
    if not root.is_dir():
        raise ReportError(f"results path is not a folder: {root}")
    rs = load_runs(root)
    if rs.runs.empty:
        raise ReportError(f"no run directories (config.json / meta.json) under {root}")
    check_unique_ids(rs)
    if rs.complete.empty:
        counts = rs.runs["status"].value_counts().sort_index()
        found = ", ".join(f"{n} {status}" for status, n in counts.items())
        raise ReportError(f"no complete runs under {root} ({found})")
    return rs


def options(args: argparse.Namespace) -> Options:
    return Options(
        value="eval_return_mean" if args.metric == "eval" else "return_mean",
        final_frac=args.final_frac,
        threshold_frac=args.threshold_frac,
        reps=args.reps,
        seed=args.seed,
    )


def fisher_cost_frame(args: argparse.Namespace, root: Path, warn):
    cost_path = Path(args.fisher_cost) if args.fisher_cost else find_fisher_cost_csv(root)
    if cost_path is None:
        return None
    try:
        return read_fisher_cost(cost_path)
    except (OSError, ValueError) as exc:
        warn(f"fisher-cost CSV skipped: {exc}")
        return None


def bench_frame(args: argparse.Namespace):
    """The update-cost benchmark (timing.read_bench) of --bench, or None; a path that does
    not exist or holds no usable columns is bad input."""
    if not args.bench:
        return None
    try:
        return timing.read_bench(Path(args.bench))
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReportError(f"--bench {args.bench}: {exc}") from None


def build(args: argparse.Namespace, warnings: list[str]) -> dict[str, Path]:
    """Read, analyse, write. Warnings are collected (printed by main once it succeeded)."""
    selected = check_args(args)
    root = Path(args.results)
    rs = load_checked(root)
    warnings += rs.warnings
    opts = options(args)
    out = Path(args.out) if args.out else root / "report"
    if not args.out and out.is_symlink():  # planted in the results folder: never followed
        raise ReportError(f"{out} is a symlink: pass --out to write the report elsewhere")
    folder = Folder(
        fisher_cost_frame(args, root, warnings.append),
        bench_frame(args),
        offline=find_offline(root),
    )
    warnings += folder.offline.warnings
    blocks, all_tables = header_blocks(rs, root, opts), []
    if args.preamble:
        try:
            blocks[1:1] = markdown_blocks(Path(args.preamble).read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportError(
                f"cannot read --preamble {args.preamble}: {os_error_line(exc)}"
            ) from None
    names = sorted(rs.complete["study"].unique())
    studies = []
    for name in names:
        runs = rs.runs[rs.runs["study"] == name]
        suite = resolve_suite(name, args.suite, runs, warnings.append)
        prefix = f"{slug(name)}__" if len(names) > 1 else ""
        frame = rs.frame[rs.frame["study"] == name]
        studies.append(Study(name, prefix, suite, rs, frame, runs))
    # Every suite resolved (or refused) before a file is written; the planned tables first,
    # as the claims tables of the studies summarise F4 and F5.
    data = planned_data(rs.frame, rs.runs, [s.suite for s in studies])
    planned = planned_tables(data, rs.frame, opts)
    folder.planned = {t.name: t for t, _ in planned}
    folder.compared_across_suites = compared_across_suites(data)
    for study in studies:
        all_tables += analyse(study, opts, out / "figures", folder, selected)
        blocks += study.blocks
    offline_blocks, offline_tables = offline_section(folder.offline, out / "figures", selected)
    blocks += planned_section(planned, out / "figures", selected) + offline_blocks
    all_tables += [t for t, _ in planned] + offline_tables
    scaling = fisher_experiments.cost_scaling(folder.fisher_cost)
    if scaling is not None:
        blocks += [("h2", scaling.title), ("table", scaling)]
        all_tables.append(scaling)
    all_tables.append(Table("runs", "", rs.runs, rs.runs))  # every run dir, any status
    excluded = tables.problems(rs.runs)
    if excluded is not None:
        blocks += [("h2", excluded.title), ("table", excluded)]
        all_tables.append(excluded)
    return write_outputs(out, blocks, all_tables, args.name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `npgbench report`; returns 0, or 2 on bad input (one line, no traceback)."""
    import matplotlib
    from npgbench.harness.core.config import ConfigError  # stdlib-only module: no torch

    matplotlib.use("Agg")  # files only; chosen here, not on import (notebooks keep theirs)
    warnings: list[str] = []
    try:
        paths = build(parse_args(sys.argv[1:] if argv is None else list(argv)), warnings)
    except (ReportError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the report: {os_error_line(exc)}", file=sys.stderr)
        return 2
    for message in warnings:
        print(f"warning: {message}", file=sys.stderr)
    for what, path in paths.items():
        extra = f" ({len(list(Path(path).iterdir()))} files)" if Path(path).is_dir() else ""
        print(f"{what + ':':<13}{path}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
