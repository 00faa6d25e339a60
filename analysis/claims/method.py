"""The method's claims, tested as docs/analysis-plan.md fixes: statistic, per-task values,
interval, raw and Holm-adjusted permutation p, and a verdict by the plan's rule.

Natural policy gradient (Kakade 2001; Peters & Schaal 2008) claims, against the plain
gradient at the same step length in KL (the equal-KL family, one Holm family per study):
  - faster convergence: P(final return) (50 mean-action evaluation episodes of the final
    policy) and P(AUC of the evaluation curve);
  - more stable convergence (Chan et al. 2020, ICLR): P(smaller dispersion across time) and
    P(smaller CVaR of drawdown) on the evaluation curve;
each a probability of improvement (Agarwal et al. 2021) tested by a stratified permutation
test (stats.py), with the training-return version beside it as a secondary column.
The step claim is its own family: the first-order gain of the step on half a batch that the
direction did not see ("held-out"), shown beside the in-sample gain beta g^T x, which is
larger for any exact preconditioner by Cauchy-Schwarz and so is described, not tested.
The baseline is found in the data (family vanilla with update.step_rule kl); the natural-gradient
groups are those whose runs' family is "natural" (recorded by the registry in meta.json,
harness/core/families.py) with the kl step rule at the baseline's kl_delta: no list of
variants here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.claims.experiment_claims import experiment_claim_rows
from npgbench.analysis.claims.rows import (
    NOTE,
    bench_cost_rows,
    comparison_row,
    cost_rows,
    finish,
    is_interim,
)
from npgbench.analysis.data.table import Table
from npgbench.analysis.data.variants import run_families, run_settings
from npgbench.analysis.stats import inference as stats

PRIMARY = (
    # (claim, column, higher is better, label, training-return twin)
    ("faster convergence", "final_eval", True, "final return", "final"),
    ("faster convergence", "auc_eval", True, "AUC (evaluation)", "auc"),
    ("more stable convergence", "dispersion_time", False, "dispersion across time", None),
    ("more stable convergence", "drawdown_cvar", False, "CVaR of drawdown", "drawdown_norm"),
)
IN_SAMPLE = "in-sample first-order gain per update"
HELD_OUT = "held-out first-order gain per update"
__all__ = ["claims", "equal_kl_groups", "matrix", "shared_envs", "NOTE"]


def equal_kl_groups(summary: pd.DataFrame, runs: pd.DataFrame) -> tuple[str | None, list[str]]:
    """(baseline group, natural-gradient groups) at one KL budget, read from the configs and
    the recorded families (vanilla with step rule kl; every "natural" group at its kl_delta)."""
    settings, families = run_settings(runs), run_families(runs)
    by_group: dict[str, dict] = {}
    for run_id, group in zip(summary["run_id"], summary["group"]):
        by_group.setdefault(group, {**settings.get(run_id, {}), "family": families.get(run_id)})
    base = [
        g
        for g, s in by_group.items()
        if s.get("family") == "vanilla" and s.get("update.step_rule") == "kl"
    ]
    if len(base) != 1:
        return None, []
    delta = by_group[base[0]].get("update.kl_delta")
    natural = [
        g
        for g, s in sorted(by_group.items())
        if s.get("family") == "natural"
        and s.get("update.step_rule") == "kl"
        and s.get("update.kl_delta") == delta
    ]
    return base[0], natural


def matrix(summary: pd.DataFrame, group: str, envs: list[str], column: str) -> np.ndarray:
    """values_RT of one group: seeds (sorted, NaN-padded) x tasks."""
    cols = []
    for env in envs:
        df = summary[(summary["group"] == group) & (summary["env"] == env)]
        cols.append(df.sort_values("seed")[column].to_numpy(float))
    out = np.full((max([len(c) for c in cols] + [1]), len(envs)), np.nan)
    for t, col in enumerate(cols):
        out[: len(col), t] = col
    return out


def shared_envs(summary: pd.DataFrame, a: str, b: str, envs: list[str]) -> list[str]:
    """The tasks both groups have runs on (a comparison uses only those)."""
    have = summary.groupby("group")["env"].agg(set)
    return [e for e in envs if e in have.get(a, set()) and e in have.get(b, set())]


def compare_column(summary, a, b, tasks, column, higher, seed) -> stats.Comparison | None:
    """X = group a, Y = group b on `tasks`; values negated where lower is better, so the
    statistic > 0.5 always means "a is better". None when the column was not measured."""
    if column not in summary or not summary[column].notna().any():
        return None
    sign = 1.0 if higher else -1.0
    xs = stats.finite_tasks(sign * matrix(summary, a, tasks, column))
    ys = stats.finite_tasks(sign * matrix(summary, b, tasks, column))
    return stats.compare(xs, ys, seed=seed)


def final_label(summary: pd.DataFrame) -> str:
    """'final return', or its fallback's name when the study has no final_eval.json."""
    source = summary["final_eval_source"].iloc[0] if len(summary) else ""
    return "final return" if source.startswith("final_eval.json") else f"final: {source}"


def primary_rows(summary, envs, base, natural, seed) -> list[dict]:
    """The equal-KL family: every natural-gradient group x every primary metric."""
    rows = []
    for group in natural:
        tasks = shared_envs(summary, group, base, envs)
        for claim, column, higher, label, twin in PRIMARY:
            label = final_label(summary) if column == "final_eval" else label
            main = compare_column(summary, group, base, tasks, column, higher, seed)
            train = (
                compare_column(summary, group, base, tasks, twin, higher, seed) if twin else None
            )
            rows.append(
                comparison_row(claim, f"{group} vs {base}", label, main, tasks, "equal KL", train)
            )
    return rows


def step_rows(summary, envs, base, natural, seed) -> list[dict]:
    """The in-sample gain (described) beside the held-out gain (its own family)."""
    rows = []
    for group in natural:
        tasks = shared_envs(summary, group, base, envs)
        cmp_in = compare_column(summary, group, base, tasks, "gain_insample_batch", True, seed)
        row = comparison_row(IN_SAMPLE, f"{group} vs {base}", "beta g^T x", cmp_in, tasks, None)
        row["verdict"] = "described, not tested (larger by construction in-sample)"
        rows.append(row)
        cmp_out = compare_column(summary, group, base, tasks, "step_gain_heldout", True, seed)
        label = "g_B^T (beta_A x_A), held-out half"
        rows.append(comparison_row(HELD_OUT, f"{group} vs {base}", label, cmp_out, tasks, "step"))
    return rows


def claims(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    ranges: dict,
    reps: int = 2000,
    seed: int = 0,
    extra_rows: list[dict] | None = None,
    bench: pd.DataFrame | None = None,
) -> Table | None:
    """The claims table for one study's complete runs (None without an equal-KL baseline).

    runs: the study's runs table (every status: an incomplete run makes the verdicts interim).
    extra_rows: experiment_claims.experiment_claim_rows(...), the sensitivity and invariance
    rows, which come from other studies and offline measurements; appended as they are.
    bench: the update-cost benchmark (timing.read_bench): the cost rows come from it, else
    from the runs' wall times."""
    base, natural = equal_kl_groups(summary, runs)
    if base is None or not natural:
        return None
    envs = sorted(summary["env"].unique())
    summary = summary.assign(drawdown_norm=drawdown_norm(summary, ranges))
    rows = primary_rows(summary, envs, base, natural, seed)
    rows += step_rows(summary, envs, base, natural, seed)
    if bench is not None and not bench.empty:
        rows += bench_cost_rows(bench, base, natural, envs)
    else:
        rows += cost_rows(summary, envs, base, natural, reps, seed, matrix, shared_envs)
    rows += extra_rows if extra_rows is not None else experiment_claim_rows()
    return finish(pd.DataFrame(rows), is_interim(summary, runs), final_eval_note(summary))


def final_eval_note(summary: pd.DataFrame) -> str:
    """Which runs lack a valid final_eval.json, and why (empty when none does)."""
    reasons = summary.get("final_eval_file_reason", pd.Series(dtype=str)).fillna("")
    missing = summary[reasons != ""]
    if missing.empty:
        return ""
    why = "; ".join(
        f"{r} ({n})" for r, n in missing["final_eval_file_reason"].value_counts().items()
    )
    return (
        f" final_eval.json missing or not used for {len(missing)} of {len(summary)} runs "
        f"({why}), so every final return here is the mean of the last 3 evaluation points."
    )


def drawdown_norm(summary: pd.DataFrame, ranges: dict) -> pd.Series:
    """Largest drawdown over each run's env score range (NaN where the range is empty)."""
    span = summary["env"].map(lambda e: ranges[e][1] - ranges[e][0])
    return summary["drawdown"] / span.where(span > 0, math.nan)
