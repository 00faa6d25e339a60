"""The README's headline tables, built from the CSV tables `npgbench report` writes.

    python -m npgbench.analysis.report.headline docs/tables             # print the block
    python -m npgbench.analysis.report.headline docs/tables --readme README.md   # replace it there

Three tables, each one row per task: ours beside the published numbers (a suite's
`references` table: under the reference's protocol, with the ratio), the controlled
comparison (a suite's `convergence` table: final return per variant, mean +- 95% CI and the
seed count) and the claims (a suite's `claims` table); then, where the folder has it, the
ablation's factor table (one row per single-factor comparison). The README holds them between
BEGIN/END markers and a test checks that they equal what this module builds from
docs/tables, so the headline can never drift from the committed dataset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from npgbench.analysis.data.table import fmt, fmt_ci, fmt_pm, markdown_text
from npgbench.harness.core.run_files import RunStatus

BEGIN, END = (
    "<!-- headline:begin (python -m npgbench.analysis.report.headline) -->",
    "<!-- headline:end -->",
)
PUBLISHED_SUITE, CONTROLLED_SUITE = "tianshou-mujoco", "controlled-1m"
FACTORS = "ablation_factors"
"""The planned ablation table (analysis/claims/ablation.py), when the folder has one."""
NAMES = {"npg": "NPG", "trpo": "TRPO", "ppo": "PPO"}


def _task(env: str) -> str:
    return env.split("-v")[0]


def published_table(references: pd.DataFrame) -> str:
    """Ours vs theirs per (task, algorithm): references.csv -> markdown rows. Tables written
    under each publisher's estimator (an ours_std and a comparison column) show ours ± std
    over seeds, as theirs is, and the comparison; older ones ours ± 95% CI."""
    new = "comparison" in references
    head = "| task | algo | ours (seeds) | theirs | ours / theirs |"
    lines = [head + " ours vs theirs |" if new else head, "|---" * (6 if new else 5) + "|"]
    ours = references[references["n"] > 0]  # a reference with no runs of ours (yet) is left out
    for _, r in ours.sort_values(["group", "env"]).iterrows():
        ratio = fmt_ci(r["ratio"], r["ratio_lo"], r["ratio_hi"])
        spread = r["ours_std"] if new else r["ours_ci95"]
        lines.append(
            f"| {_task(r['env'])} | {NAMES.get(r['group'], r['group'])} | "
            f"{fmt_pm(r['ours'], spread)} ({int(r['n'])}) | "
            f"{fmt_pm(r['theirs'], r['theirs_std'])} | {ratio} |"
            + (f" {r['comparison']} |" if new else "")
        )
    return "\n".join(lines)


def controlled_table(convergence: pd.DataFrame, order: list[str] | None = None) -> str:
    """Evaluation final return per task x variant (mean +- 95% CI, seeds in brackets when
    < 5)."""
    groups = order or list(dict.fromkeys(convergence["group"]))
    lines = ["| task | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for env, rows in convergence.groupby("env", sort=True):
        by = rows.set_index("group")
        cells = []
        for g in groups:
            if g not in by.index:
                cells.append("-")
                continue
            r = by.loc[g]
            seeds = int(r["seeds"])
            cell = fmt_pm(r["final_eval_mean"], r["final_eval_ci95"])
            cells.append(cell + (f" ({seeds})" * (seeds < 5)))
        lines.append(f"| {_task(env)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims_table(claims: pd.DataFrame) -> str:
    """Claim, comparison, statistic with its CI, the runs it rests on, verdict."""
    lines = [
        "| claim | comparison | statistic | value [95% CI] | runs | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in claims.iterrows():
        value = (
            fmt_ci(r["value"], r["ci_lo"], r["ci_hi"]) if pd.notna(r["ci_lo"]) else fmt(r["value"])
        )
        cells = [r["claim"], r["comparison"], r["statistic"], value]
        cells += [r["n"] if pd.notna(r["n"]) else "-", r["verdict"]]
        # '|' in a statistic ("per-seed |change|") would end its cell early.
        lines.append("| " + " | ".join(markdown_text(c) for c in cells) + " |")
    return "\n".join(lines)


def factor_table(factors: pd.DataFrame) -> str:
    """The ablation (F3) one row per single-factor comparison: P(X > Y) with its CI on each
    metric, the runs, and the verdicts in the metrics' order (ablation_factors.csv)."""
    tested = factors[factors["value"].notna()]
    metrics = list(dict.fromkeys(tested["metric"]))
    head = "| factor | X vs Y | " + " | ".join(f"P({m})" for m in metrics) + " | runs | verdict |"
    lines = [head, "|---" * (len(metrics) + 4) + "|"]
    for (factor, x, y), rows in tested.groupby(["factor", "x", "y"], sort=False):
        by = rows.set_index("metric")
        cells = [factor, f"{x} vs {y}"]
        cells += [
            fmt_ci(by.loc[m, "value"], by.loc[m, "ci_lo"], by.loc[m, "ci_hi"])
            if m in by.index
            else "-"
            for m in metrics
        ]
        verdicts = "; ".join(f"{m}: {by.loc[m, 'verdict']}" for m in metrics if m in by.index)
        cells += [rows["n"].iloc[0], verdicts]
        lines.append("| " + " | ".join(markdown_text(c) for c in cells) + " |")
    return "\n".join(lines)


def headline(tables: Path) -> str:
    """The block between the README's markers, from a report's tables/ folder."""
    tables = Path(tables)
    read = lambda suite, name: pd.read_csv(tables / f"{suite}__{name}.csv")  # noqa: E731
    runs = pd.read_csv(tables / "runs.csv") if (tables / "runs.csv").exists() else None
    counted = "" if runs is None else f" ({_counts(runs)} in docs/data)"
    refs = read(PUBLISHED_SUITE, "references")
    intro = (
        f"Ours beside the published numbers{counted}, each under its publisher's estimator "
        "(Tianshou: max over time of the seed-mean test-return curve); mean ± std over seeds "
        "on both sides; 'above' / 'below' only where the ratio's 95% CI excludes 1. The max "
        "over time of a seed-mean curve is biased upward, the more so the fewer the seeds, so "
        "a ratio above 1 with fewer seeds than theirs is no sign of better learning:"
        if "comparison" in refs
        else f"Ours beside the published numbers{counted}, under the reference's protocol; "
        "ours: mean ± 95% CI (seeds), theirs: mean ± std:"
    )
    parts = [
        intro,
        published_table(refs),
        "The controlled comparison: final return of the final policy (mean-action evaluation "
        "episodes; training returns carry each variant's exploration noise), mean ± 95% CI "
        "over seeds, seed count in brackets where below 5:",
        controlled_table(read(CONTROLLED_SUITE, "convergence")),
        "The method's claims on these runs (Holm-corrected verdicts; a row marked interim is "
        "no finding until its planned runs are in):",
        claims_table(read(CONTROLLED_SUITE, "claims")),
    ]
    if (tables / f"{FACTORS}.csv").exists():  # the ablation (docs/analysis-plan.md, F3)
        parts += [
            "Why npg_exact and npg_cg differ: the ablation changes one factor at a time "
            "against controlled-1m's arms. P(X > Y) on the normalised final evaluation return "
            "and on the evaluation curve's AUC, 95% CI; a verdict only where the Holm-adjusted "
            "p (over the family) is below 0.05; untested comparisons are on the results page:",
            factor_table(pd.read_csv(tables / f"{FACTORS}.csv")),
        ]
    return "\n\n".join([BEGIN, *parts, END])


def _counts(runs: pd.DataFrame) -> str:
    """Complete runs of the two headline suites, e.g. "45 tianshou-mujoco + 86 controlled-1m
    runs" (other suites of the dataset, such as fisher-fidelity, are not headline runs)."""
    done = runs[runs["status"] == RunStatus.COMPLETE]["study"].value_counts()
    suites = (PUBLISHED_SUITE, CONTROLLED_SUITE)
    return " + ".join(f"{int(done.get(s, 0))} {s}" for s in suites) + " runs"


def replace_block(text: str, block: str) -> str:
    """text with the BEGIN..END block replaced (ValueError when the markers are missing)."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"no {BEGIN!r} ... {END!r} block")
    return text[:start] + block + text[stop + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m npgbench.analysis.report.headline")
    parser.add_argument("tables", type=Path, help="a report's tables/ folder, e.g. docs/tables")
    parser.add_argument("--readme", type=Path, help="replace the block in this file")
    args = parser.parse_args(argv)
    try:
        block = headline(args.tables)
        if args.readme is None:
            print(block)
            return 0
        args.readme.write_text(replace_block(args.readme.read_text(), block))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
