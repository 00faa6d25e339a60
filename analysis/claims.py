"""The method's claims, each with a statistic, its 95% CI and a verdict by a stated rule.

Natural policy gradient (Kakade 2001; Peters & Schaal 2008) claims, against the plain
gradient at the same step length in KL:
  - faster convergence in iterations: P(AUC_npg > AUC_vanilla) (normalised area under the
    learning curve) and P(final_npg > final_vanilla), probability of improvement (Agarwal et
    al. 2021) with a stratified bootstrap CI;
  - more stable convergence: P(drawdown_npg < drawdown_vanilla) (largest fall below the
    running best, normalised by the score range), and collapse counts;
  - larger effective steps: at equal predicted KL every direction x moves the policy as far,
    and the first-order gain per update is beta g^T x = sqrt(2 delta) g^T x / sqrt(x^T F x),
    largest for x = F^-1 g (Cauchy-Schwarz in the F inner product): P(gain_npg > gain_vanilla)
    over each run's median gain per update;
  - cost per update: mean seconds per policy update relative to vanilla's, bootstrap CI;
  - lower hyperparameter sensitivity and parameterisation invariance: from the step-size and
    std-parameterisation comparisons (experiments.py) when those runs exist.
Verdict rule for a probability of improvement: "supported" when the CI lies above 0.5,
"contradicted" below, "not separable" when it contains 0.5. The baseline is found in the
data (vanilla with update.step_rule kl); the natural-gradient groups are those with a Fisher
damping setting and the kl step rule at the baseline's kl_delta: no list of variants here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.aggregate import improvement_estimate, percentile_ci, resample
from npgbench.analysis.formatting import Table, fmt
from npgbench.analysis.variants import run_settings

NULL = 0.5


def verdict(lo: float, hi: float, null: float = NULL) -> str:
    """The rule every probability-of-improvement row is judged by."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not separable (too few runs)"
    if lo > null:
        return "supported"
    if hi < null:
        return "contradicted"
    return f"not separable (CI contains {null:g})"


def equal_kl_groups(summary: pd.DataFrame, runs: pd.DataFrame) -> tuple[str | None, list[str]]:
    """(baseline group, natural-gradient groups) at one KL budget, read from the configs."""
    settings = run_settings(runs)
    by_group: dict[str, dict] = {}
    for run_id, group in zip(summary["run_id"], summary["group"]):
        by_group.setdefault(group, settings.get(run_id, {}))
    base = [
        g
        for g, s in by_group.items()
        if s.get("algo") == "vanilla" and s.get("update.step_rule") == "kl"
    ]
    if len(base) != 1:
        return None, []
    delta = by_group[base[0]].get("update.kl_delta")
    natural = [
        g
        for g, s in sorted(by_group.items())
        if "update.damping" in s
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


def step_gain(frame: pd.DataFrame) -> pd.Series:
    """run_id -> median over updates of beta * g^T x (first-order surrogate gain per update)."""
    if not {"beta", "g_dot_x"} <= set(frame.columns):
        return pd.Series(dtype=float)
    gain = frame["beta"].astype(float) * frame["g_dot_x"].astype(float)
    return gain.groupby(frame["run_id"]).median()


def shared_envs(summary: pd.DataFrame, a: str, b: str, envs: list[str]) -> list[str]:
    """The tasks both groups have runs on (a comparison uses only those)."""
    have = summary.groupby("group")["env"].agg(set)
    return [e for e in envs if e in have.get(a, set()) and e in have.get(b, set())]


def _improvement_rows(summary, envs, base, natural, claim, column, reps, seed, higher=True):
    rows = []
    for group in natural:
        tasks = shared_envs(summary, group, base, envs)
        x, y = matrix(summary, group, tasks, column), matrix(summary, base, tasks, column)
        if not tasks or not (np.isfinite(x).any(axis=0).all() and np.isfinite(y).any(axis=0).all()):
            continue
        if not higher:
            x, y = -x, -y
        p, lo, hi = improvement_estimate(x, y, reps=reps, seed=seed)
        n = f"{int(np.isfinite(x).sum())} vs {int(np.isfinite(y).sum())} on {len(tasks)} tasks"
        rows.append(_row(claim, f"{group} vs {base}", f"P({column})", p, lo, hi, n))
    return rows


def _row(claim, comparison, statistic, value, lo, hi, n, judged=None) -> dict:
    return {
        "claim": claim,
        "comparison": comparison,
        "statistic": statistic,
        "value": value,
        "ci_lo": lo,
        "ci_hi": hi,
        "n": n,
        "verdict": judged if judged is not None else verdict(lo, hi),
    }


def cost_rows(summary, envs, base, groups, reps, seed) -> list[dict]:
    """Mean seconds per update relative to the baseline's, bootstrap percentile CI."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in groups:
        tasks = shared_envs(summary, group, base, envs)
        if not tasks:
            continue
        y = matrix(summary, base, tasks, "seconds_per_update")
        y_B = np.nanmean(resample(y, reps, rng), axis=(1, 2))
        x = matrix(summary, group, tasks, "seconds_per_update")
        ratio = float(np.nanmean(x) / np.nanmean(y))
        lo, hi = percentile_ci(np.nanmean(resample(x, reps, rng), axis=(1, 2)) / y_B)
        n = f"{int(np.isfinite(x).sum())} vs {int(np.isfinite(y).sum())}"
        rows.append(
            _row("cost per update", f"{group} / {base}", "time ratio", ratio, lo, hi, n, "measured")
        )
    return rows


def phase_c_rows(step_sizes: pd.DataFrame | None, invariance: pd.DataFrame | None) -> list[dict]:
    """Rows for sensitivity and invariance from experiments.step_size / .invariance data."""
    rows = []
    for claim, data, what in (
        ("lower hyperparameter sensitivity", step_sizes, "step size"),
        ("parameterisation invariance", invariance, "std parameterisation"),
    ):
        if data is None or data.empty:
            why = f"not separable (no runs that differ only in {what})"
            rows.append(_row(claim, "-", "-", math.nan, math.nan, math.nan, "0", why))
    for r in [] if step_sizes is None else step_sizes.itertuples(index=False):
        rows.append(
            _row(
                "lower hyperparameter sensitivity",
                f"{r.group} on {r.env} ({r.key}, {r.values} values, {r.seeds} seeds)",
                "orders of magnitude within 10% of best",
                r.orders,
                math.nan,
                math.nan,
                str(r.values * r.seeds),
                "measured (one task)",
            )
        )
    for r in [] if invariance is None else invariance.itertuples(index=False):
        noise = r.final_range_norm <= r.seed_std_norm
        rows.append(
            _row(
                "parameterisation invariance",
                f"{r.group} on {r.env} ({r.parameterisations})",
                "final range / seed std (normalised)",
                r.final_range_norm / r.seed_std_norm if r.seed_std_norm > 0 else math.nan,
                math.nan,
                math.nan,
                str(r.runs),
                ("within" if noise else "beyond") + " seed noise (one task)",
            )
        )
    return rows


def claims(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    frame: pd.DataFrame,
    ranges: dict,
    reps: int = 2000,
    seed: int = 0,
    extra_rows: list[dict] | None = None,
) -> Table | None:
    """The claims table for one study's complete runs (None without an equal-KL baseline).

    extra_rows: phase_c_rows(...) of the sensitivity and invariance comparisons, which live
    in other studies; they are appended as they are."""
    base, natural = equal_kl_groups(summary, runs)
    if base is None or not natural:
        return None
    envs = sorted(summary["env"].unique())
    summary = summary.assign(
        step_gain=summary["run_id"].map(step_gain(frame)),
        drawdown_norm=drawdown_norm(summary, ranges),
    )
    rows = []
    for claim, column, higher in (
        ("faster convergence", "auc", True),
        ("faster convergence", "final", True),
        ("more stable convergence", "drawdown_norm", False),
        ("larger effective steps", "step_gain", True),
    ):
        rows += _improvement_rows(summary, envs, base, natural, claim, column, reps, seed, higher)
    rows += cost_rows(summary, envs, base, natural, reps, seed)
    rows += extra_rows if extra_rows is not None else phase_c_rows(None, None)
    data = pd.DataFrame(rows)
    view = data.assign(
        value=data["value"].map(fmt),
        **{"95% CI": [f"[{fmt(a)}, {fmt(b)}]" for a, b in zip(data["ci_lo"], data["ci_hi"])]},
    )[["claim", "comparison", "statistic", "value", "95% CI", "n", "verdict"]]
    return Table("claims", "The method's claims at equal KL", data, view, NOTE)


NOTE = (
    "Each natural-gradient variant against the plain gradient (vanilla, step rule kl) at the "
    "same predicted KL per update, over every task of the suite. P(m): probability of "
    "improvement on per-run metric m (for drawdown: of a smaller one), the Mann-Whitney "
    "statistic per task averaged over tasks, with a stratified bootstrap 95% percentile CI; "
    "supported when the CI lies above 0.5, contradicted below, not separable otherwise. auc: "
    "normalised area under the learning curve (return per iteration: fewer iterations to the "
    "same return give a larger area); final: mean of the last 10% of iterations; "
    "drawdown_norm: largest fall below the running best over the score range; step_gain: "
    "median over updates of beta g^T x. Time ratio: mean seconds per policy update over "
    "vanilla's, bootstrap CI over runs. n: runs compared. Sensitivity and invariance rows "
    "come from every run of the results folder that differs only in a step size or in "
    "policy.std_param (the step-size and invariance tables), without a CI: they rest on the "
    "tasks those runs cover."
)


def drawdown_norm(summary: pd.DataFrame, ranges: dict) -> pd.Series:
    """Largest drawdown over each run's env score range (NaN where the range is empty)."""
    span = summary["env"].map(lambda e: ranges[e][1] - ranges[e][0])
    return summary["drawdown"] / span.where(span > 0, math.nan)
