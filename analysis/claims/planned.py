"""Shared ground of the planned cross-suite analyses (docs/analysis-plan.md F3, F4, F5 and the
held-out step table): per-run metrics of every complete run, arms matched by configuration
(arms.py), the study-wide choice of final-return estimator, and arm-vs-arm comparisons.

These analyses pair runs of different suites (an ablation arm with its controlled-1m
reference), so they read every run of the report's folder, not one suite's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from npgbench.analysis.claims.heldout import step_ratios
from npgbench.analysis.claims.rows import fmt_p
from npgbench.analysis.data.arms import Arm, build_arms
from npgbench.analysis.data.curves import run_frames
from npgbench.analysis.data.table import fmt
from npgbench.analysis.stats import inference as stats
from npgbench.analysis.stats import reliability
from npgbench.analysis.stats.aggregate import normalise
from npgbench.analysis.stats.summary import SuiteInfo, score_ranges, with_final_eval
from npgbench.harness.core.run_files import RunStatus

PROTOCOL = {
    "total_steps": 1_000_000,
    "sampler.num_envs": 16,
    "sampler.steps_per_update": 2048,
    "policy.hidden_sizes": [64, 64],
    "policy.init_std": 1.0,
    "policy.std_param": "log",
    "policy.param_scale": 1.0,
}
"""Settings every arm of these analyses shares (controlled-1m's budget, batch, policy,
initial std and parameterisation), so that an arm of another protocol (a param_scale 10 twin,
a 16x16 fidelity run, tianshou-mujoco's batches, the older `invariance` suite's exp(-0.5)
initial std) never stands in for the planned one. The invariance analysis (F5) varies
policy.param_scale and policy.std_param and so leaves each out in turn (reparam_twins.KEYS)."""


def protocol_without(leave_out: tuple[str, ...] = ()) -> dict:
    """PROTOCOL but for the keys left out (those an analysis varies, e.g. reparam_twins.KEYS)."""
    return {k: v for k, v in PROTOCOL.items() if k not in leave_out}


@dataclass
class PlannedData:
    """Every complete run's metrics (per_run, indexed by run_id) and its arms."""

    runs: pd.DataFrame
    """load.RunSet.runs: every run directory, any status, with its path."""
    per_run: pd.DataFrame
    ranges: dict[str, tuple[float, float, str]]
    arms: list[Arm]


def run_metrics(df: pd.DataFrame, lo: float, hi: float) -> dict[str, float]:
    """One run's metrics used here: evaluation final (last 3 points) and AUC, median CG
    residual, and the medians of the held-out step ratios (heldout.step_ratios)."""
    out = reliability.eval_summary(df, lo, hi)
    out["cg_residual"] = (
        reliability.median_finite(df["cg_residual"]) if "cg_residual" in df else math.nan
    )
    return {**out, **step_ratios(df)}


def planned_data(frame: pd.DataFrame, runs: pd.DataFrame, suites: list[SuiteInfo]) -> PlannedData:
    """frame, runs: load.RunSet's; suites: every study's suite (score ranges: the first suite
    that names an env, else the observed range)."""
    merged: dict = {}
    for suite in suites:
        for env, rng in suite.score_ranges.items():
            merged.setdefault(env, rng)
    ranges = score_ranges(frame, SuiteInfo(score_ranges=merged), "return_mean")
    rows = []
    for run_id, df in run_frames(frame):
        env = df["env"].iloc[0]
        ids = {"run_id": run_id, "env": env, "seed": int(df["seed"].iloc[0])}
        rows.append({**ids, **run_metrics(df, *ranges[env][:2])})
    per_run = pd.DataFrame(rows, columns=None if rows else ["run_id", "env", "seed"])
    return PlannedData(runs, per_run.set_index("run_id", drop=False), ranges, build_arms(runs))


def arm_runs(arms: list[Arm]) -> list[str]:
    return sorted({r for arm in arms for ids in arm.runs.values() for r in ids})


@dataclass(frozen=True)
class Finals:
    """Normalised final return per run, and which estimator gave it (one per analysis)."""

    values: pd.Series
    source: str
    note: str


def finals(data: PlannedData, arms: list[Arm]) -> Finals:
    """The plan's final return of every run of these arms, normalised by its env's score
    range: final_eval.json's mean when every one of them has a valid file, otherwise the mean
    of the last 3 evaluation points for all (one estimator per analysis)."""
    ids = arm_runs(arms)
    if not ids:
        return Finals(pd.Series(dtype=float), "", "")
    sub = with_final_eval(data.per_run.loc[ids].reset_index(drop=True), data.runs)
    lo = sub["env"].map(lambda e: data.ranges[e][0])
    hi = sub["env"].map(lambda e: data.ranges[e][1])
    values = pd.Series(normalise(sub["final_eval"], lo, hi).to_numpy(), index=ids)
    missing = (sub["final_eval_file_reason"] != "").sum()
    note = (
        f" final_eval.json missing or invalid for {missing} of {len(sub)} runs, so every "
        "final return here is the mean of the last 3 evaluation points."
        if missing
        else ""
    )
    return Finals(values, str(sub["final_eval_source"].iloc[0]), note)


def arm_values(arm: Arm, tasks: list[str], values: pd.Series) -> list[np.ndarray]:
    """The arm's finite per-run values on each task (by seed)."""
    out = []
    for env in tasks:
        v = values.reindex(arm.runs.get(env, [])).to_numpy(float)
        out.append(v[np.isfinite(v)])
    return out


def shared_tasks(x: Arm, y: Arm) -> list[str]:
    return sorted(set(x.runs) & set(y.runs))


def compare_arms(x: Arm, y: Arm, values: pd.Series, seed: int = 0):
    """(stats.Comparison of X against Y on their shared tasks, those tasks, per-task mean
    differences X - Y). values: one number per run id (higher = better)."""
    tasks = shared_tasks(x, y)
    xs, ys = arm_values(x, tasks, values), arm_values(y, tasks, values)
    diffs = tuple(
        float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
        for a, b in zip(xs, ys, strict=True)
    )
    return stats.compare(xs, ys, seed=seed), tasks, diffs


def interim(data: PlannedData, arms: list[Arm], missing_planned: bool) -> bool:
    """True while these arms' planned runs are not all in: a planned arm is missing, a run
    directory of a suite they come from, on a task they are compared on, is not complete,
    or a (arm, task) cell has fewer seeds than the fullest cell."""
    if missing_planned:
        return True
    ids = set(arm_runs(arms))
    places = set(map(tuple, data.runs.loc[data.runs["run_id"].isin(ids), ["study", "env"]].values))
    mine = data.runs[[cell in places for cell in zip(data.runs["study"], data.runs["env"])]]
    if (mine["status"] != RunStatus.COMPLETE).any():
        return True
    cells = [len(r) for arm in arms for r in arm.runs.values()]
    return bool(cells) and min(cells) < max(cells)


def per_task_text(tasks: list[str], values, digits: int = 2, counts=None) -> str:
    """'HalfCheetah 0.52, Hopper 0.28'; counts (n_x, n_y per task) appended where given."""
    parts = []
    for i, (env, v) in enumerate(zip(tasks, values, strict=True)):
        extra = f" ({counts[0][i]} vs {counts[1][i]})" if counts is not None else ""
        parts.append(f"{env.split('-v')[0]} {fmt(v, digits)}{extra}")
    return ", ".join(parts)


def tested_columns(table: pd.DataFrame) -> dict:
    """The view columns every tested row shows, in order: interval, per-task values and
    differences, raw and Holm p, verdict (after stats-style decide())."""
    return {
        "95% CI": ci_text(table),
        "per task (runs)": table["per_task"],
        "mean X - Y (normalised)": table["per_task_diff"],
        "p": table["p"].map(fmt_p),
        "p (Holm)": table["p_holm"].map(fmt_p),
        "verdict": table["verdict"],
    }


def ci_text(data: pd.DataFrame) -> list[str]:
    """'[lo, hi]' of every row's ci_lo / ci_hi; '-' where there is none (degenerate, n < 2)."""
    return [
        f"[{fmt(a)}, {fmt(b)}]" if np.isfinite(a) else "-"
        for a, b in zip(data["ci_lo"], data["ci_hi"], strict=True)
    ]
