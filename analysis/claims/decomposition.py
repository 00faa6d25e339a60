"""How much of "exact vs CG" is damping, estimator and CG truncation: the gap between
npg_cg and npg_exact in mean normalised score, split into the ablation's single-factor steps.

Two paths lead from npg_exact (sampled dense Fisher, damping 0.01) to npg_cg (analytic
Fisher-vector products, 10 CG iterations, damping 0.1), each through arms of the ablation
(claims/ablation.py), each step one factor:

    damping first:   npg_exact -> exact_d0.1 -> cgexact_d0.1 -> npg_cg
    estimator first: npg_exact -> cgexact_d0.01 -> cg10_d0.01 -> npg_cg

A step's effect is the difference of the two arms' mean normalised scores on a task, averaged
over the tasks on which every arm of the path has runs, so a path's steps add up to its total
exactly; the 95% interval is a percentile bootstrap that resamples each arm's runs within each
task (rliable's stratified bootstrap), one draw per arm shared by the steps it is in.
Descriptive (docs/analysis-plan.md, Changes): the tests of each step are F3's rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.claims import ablation, planned
from npgbench.analysis.data.arms import Arm, pair
from npgbench.analysis.data.table import Table, fmt, fmt_ci
from npgbench.analysis.stats.aggregate import percentile_ci, resample

Step = tuple[str, str, bool, str]
"""(X, Y of an ablation.FACTORS comparison, X is the step's destination?, the step's name)."""
PATHS: tuple[tuple[str, tuple[Step, ...]], ...] = (
    ("damping first", (
        ("exact_d0.1", "npg_exact", True, "damping 0.01 -> 0.1 (sampled dense F)"),
        ("cgexact_d0.1", "exact_d0.1", True,
         "estimator: sampled dense F -> analytic F, converged CG (damping 0.1)"),
        ("cgexact_d0.1", "npg_cg", False, "CG truncation: converged -> 10 iterations (damping 0.1)"),
    )),
    ("estimator first", (
        ("cgexact_d0.01", "npg_exact", True,
         "estimator: sampled dense F -> analytic F, converged CG (damping 0.01)"),
        ("cgexact_d0.01", "cg10_d0.01", False,
         "CG truncation: converged -> 10 iterations (damping 0.01)"),
        ("cg10_d0.01", "npg_cg", False, "damping 0.01 -> 0.1 (10 CG iterations)"),
    )),
)  # fmt: skip


def factor(x: str, y: str) -> ablation.Factor:
    """The ablation comparison of X against Y (by arm name, not position)."""
    found = [f for f in ablation.FACTORS if f.x_name == x and f.y.name == y]
    if len(found) != 1:
        raise KeyError(f"{len(found)} ablation comparisons of {x} against {y}, not one")
    return found[0]


def path_arms(data: planned.PlannedData, steps) -> list[tuple[str, Arm]] | str:
    """[(name, arm)] from npg_exact to npg_cg along the steps, or why not."""
    chain: list[tuple[str, Arm]] = []
    for x_name, y_name, x_is_next, _ in steps:
        f = factor(x_name, y_name)
        found = pair(data.arms, f.x, f.y, f.keys, planned.PROTOCOL, f.own_settings)
        if isinstance(found, str):
            return found
        (x, y), (xn, yn) = found, (f.x.name, f.y.name)
        here, there = ((yn, y), (xn, x)) if x_is_next else ((xn, x), (yn, y))
        if chain and chain[-1][1] is not here[1]:  # each step starts where the last ended
            return f"{chain[-1][0]} and {here[0]} are different arms: no path"
        chain += [here, there] if not chain else [there]
    return chain


def _matrix(arm: Arm, tasks: list[str], values: pd.Series) -> np.ndarray:
    """scores_RT of one arm on the tasks (NaN-padded)."""
    cols = planned.arm_values(arm, tasks, values)
    out = np.full((max(len(c) for c in cols), len(tasks)), np.nan)
    for t, col in enumerate(cols):
        out[: len(col), t] = col
    return out


def _replicates(arms, tasks, values, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(task means per arm [A, T], bootstrap task means per arm [A, B, T])."""
    rng = np.random.default_rng(seed)
    mats = [_matrix(arm, tasks, values) for _, arm in arms]
    point = np.stack([np.nanmean(m, axis=0) for m in mats])
    boot = np.stack([np.nanmean(resample(m, reps, rng), axis=1) for m in mats])
    return point, boot


def path_rows(name: str, arms, metric: str, values: pd.Series, reps: int, seed: int) -> list:
    """One row per step and one for the total (npg_cg - npg_exact) of one path and metric."""
    shared = sorted(set.intersection(*(set(a.runs) for _, a in arms)))
    tasks = [t for t in shared if all(len(planned.arm_values(a, [t], values)[0]) for _, a in arms)]
    if not tasks:
        return [_row(name, "total", "", metric, why="no task with runs of every arm")]
    point, boot = _replicates(arms, tasks, values, reps, seed)
    total = float((point[-1] - point[0]).mean())
    counts = [[len(v) for v in planned.arm_values(a, tasks, values)] for _, a in arms]
    runs = ", ".join(
        f"{t.split('-v')[0]} {'/'.join(str(c[i]) for c in counts)}" for i, t in enumerate(tasks)
    )
    names = [step[3] for step in dict(PATHS)[name]]
    spans = [(k, k + 1, names[k]) for k in range(len(arms) - 1)] + [(0, len(arms) - 1, "total")]
    out = []
    for first, last, step in spans:
        diff = point[last] - point[first]
        lo, hi = percentile_ci((boot[last] - boot[first]).mean(axis=1))
        if min(min(c) for c in counts) < 2:  # one run has no spread to resample
            lo, hi = math.nan, math.nan
        mean = float(diff.mean())
        out.append(
            _row(name, step, f"{arms[first][0]} -> {arms[last][0]}", metric,
                 per_task=planned.per_task_text(tasks, diff, 2), value=mean, ci_lo=lo,
                 ci_hi=hi, share=mean / total if total else math.nan, runs=runs)
        )  # fmt: skip
    return out


def _row(path, step, arms, metric, why="", **numbers) -> dict:
    row = {"path": path, "step": step, "arms": arms, "metric": metric, "per_task": "",
           "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "share": math.nan,
           "runs": "", "note": f"not yet: {why}" if why else ""}  # fmt: skip
    return {**row, **numbers}


NOTE = (
    "Descriptive; the test of each step is its row of the ablation's factor table (F3). The "
    "gap npg_cg - npg_exact in mean normalised score, split along two paths of single-factor "
    "steps through the ablation's arms. Per step: the difference of the two arms' mean "
    "normalised scores per task, and its mean over the tasks on which every arm of the path "
    "has runs (so a path's steps add up to its total), with a 95% percentile bootstrap "
    "interval (each arm's runs resampled within each task, one draw per arm shared by its "
    "steps; none while an arm has a single run on a task); share: the step's mean over the "
    "total's (a share can exceed 100% or be negative when steps pull in opposite "
    "directions). Runs: per task, each arm's runs along the path. "
    "Final return and AUC as in the factor table."
)


def decomposition_table(data: planned.PlannedData, reps: int = 2000, seed: int = 0) -> Table:
    rows, used, missing = [], [], False
    finals = planned.finals(data, ablation.factor_arms(data))  # F3's estimator, one for all
    values = {"final": finals.values, "auc_eval": data.per_run["auc_eval"]}
    for name, steps in PATHS:
        arms = path_arms(data, steps)
        if isinstance(arms, str):
            missing = True
            rows += [_row(name, "total", "", m, why=arms) for m, _ in ablation.METRICS]
            continue
        used += [a for _, a in arms]
        missing |= len({frozenset(a.runs) for _, a in arms}) > 1  # a task not run by every arm
        for metric, column in ablation.METRICS:
            rows += path_rows(name, arms, metric, values[column], reps, seed)
    table = pd.DataFrame(rows)
    view = pd.DataFrame(
        {
            "path": table["path"],
            "step": table["step"],
            "arms": table["arms"],
            "metric": table["metric"],
            "per task (mean difference)": table["per_task"],
            "mean over tasks [95% CI]": [
                fmt_ci(v, a, b) for v, a, b in zip(table["value"], table["ci_lo"], table["ci_hi"])
            ],
            "share of total": table["share"].map(
                lambda s: fmt(100 * s, 2) + "%" if np.isfinite(s) else "-"
            ),  # fmt: skip
            "runs per arm": table["runs"],
            "note": table["note"],
        }
    )
    interim = planned.interim(data, used, missing)
    title = "Exact vs CG, decomposed" + (" (interim: planned runs missing)" if interim else "")
    return Table("ablation_decomposition", title, table, view, NOTE + finals.note)
