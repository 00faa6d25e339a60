"""The matched-regularisation ablation: which single factor of "exact vs CG vs K-FAC" moves
the result (docs/analysis-plan.md, family F3).

controlled-1m changes damping, Fisher estimator, CG truncation, K-FAC's running average and
TRPO's realised KL together with the approximation; every comparison below changes one of
them. Arms are found by configuration (arms.py), whatever suite ran them, so controlled-1m's
runs serve as the reference arms; a pair is used only if the two arms' experiment settings
differ in the factor's keys alone. Each comparison is tested on the final return and on the
AUC of the evaluation curve, with no predicted direction: the verdict says which arm is
higher, or that the factor's effect is not separable from zero. For arms that solve with
CG, the median logged relative residual |g - (F + lambda I) x| / |g| is shown; an arm meant
to converge (update.cg_rtol set) must show <= 0.01 in every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from npgbench.analysis.claims import planned
from npgbench.analysis.claims.rows import decide
from npgbench.analysis.data.arms import Arm, ArmSpec, pair, setting
from npgbench.analysis.data.table import Table, fmt

CONVERGED = 0.01
"""Largest per-run median CG residual for an arm that is meant to converge."""
KL = {"update.step_rule": "kl", "update.kl_delta": 0.01}
NO_RTOL = {"update.cg_rtol": 0.0}
NPG_EXACT = ArmSpec("npg_exact", {"algo": "npg_exact", "update.damping": 0.01, **KL})
EXACT_D01 = ArmSpec("exact_d0.1", {"algo": "npg_exact", "update.damping": 0.1, **KL})
CG_CONV = {"algo": "npg_cg", "update.cg_rtol": 0.005, **KL}
CGEXACT_D001 = ArmSpec("cgexact_d0.01", {**CG_CONV, "update.damping": 0.01, "update.cg_iters": 600})
CGEXACT_D01 = ArmSpec("cgexact_d0.1", {**CG_CONV, "update.damping": 0.1, "update.cg_iters": 300})
CG10 = {"algo": "npg_cg", "update.cg_iters": 10, **NO_RTOL, **KL}
NPG_CG = ArmSpec("npg_cg", {**CG10, "update.damping": 0.1})
CG10_D001 = ArmSpec("cg10_d0.01", {**CG10, "update.damping": 0.01})
CG_KL = ArmSpec("cg_kl0.0065", {**CG10, "update.damping": 0.1, "update.kl_delta": 0.0065})
KFAC = {"algo": "npg_kfac", "update.damping": 0.01, **KL}
NPG_KFAC = ArmSpec("npg_kfac", {**KFAC, "update.kfac_stat_decay": 0.95})
KFAC_NODECAY = ArmSpec("kfac_nodecay", {**KFAC, "update.kfac_stat_decay": 0.0})
TRPO = ArmSpec("trpo", {"algo": "trpo", "update.damping": 0.1, "update.cg_iters": 10, **KL})


@dataclass(frozen=True)
class Factor:
    """One comparison: X differs from Y in `keys` only (own_settings: X and Y are different
    algorithms, whose own settings may differ too). x None: no harness setting runs X."""

    factor: str
    x: ArmSpec | None
    y: ArmSpec
    keys: frozenset[str]
    own_settings: bool = False
    x_name: str = ""


def _f(factor, x, y, *keys, own=False, x_name="") -> Factor:
    return Factor(factor, x, y, frozenset(keys), own, x_name or (x.name if x else ""))


DAMPING, ITERS, RTOL = "update.damping", "update.cg_iters", "update.cg_rtol"
FACTORS = (
    _f("damping, sampled exact Fisher", EXACT_D01, NPG_EXACT, DAMPING),
    _f("estimator at damping 0.01 (analytic F by converged CG vs sampled dense F)",
       CGEXACT_D001, NPG_EXACT, "algo", own=True),
    _f("estimator at damping 0.1", CGEXACT_D01, EXACT_D01, "algo", own=True),
    # The iteration caps (600 / 300) differ too; both arms run CG to the same tolerance.
    _f("damping, analytic natural gradient", CGEXACT_D01, CGEXACT_D001, DAMPING, ITERS),
    _f("CG truncation at damping 0.01 (converged vs 10 iterations)",
       CGEXACT_D001, CG10_D001, ITERS, RTOL),
    _f("CG truncation at damping 0.1", CGEXACT_D01, NPG_CG, ITERS, RTOL),
    _f("damping under truncation (10 CG iterations)", CG10_D001, NPG_CG, DAMPING),
    _f("K-FAC running average (stat decay 0 vs 0.95)", KFAC_NODECAY, NPG_KFAC,
       "update.kfac_stat_decay"),
    _f("TRPO's line search at its realised KL (npg_cg at delta 0.0065 vs trpo)", CG_KL, TRPO,
       "algo", "update.kl_delta", "update.max_backtracks", own=True),
    _f("TRPO's realised KL (trpo accepting KL <= 1.5 delta vs trpo)", None, TRPO,
       x_name="trpo_kl1.5"),
    _f("step size at TRPO's realised KL (npg_cg, delta 0.0065 vs 0.01)", CG_KL, NPG_CG,
       "update.kl_delta"),
)  # fmt: skip
METRICS = (("final return", "final"), ("AUC (evaluation)", "auc_eval"))
FAMILY = "F3"


def residual(data: planned.PlannedData, arm: Arm) -> tuple[float, float, bool | None]:
    """(median over runs of the per-run median CG residual, worst per-run median, converged?)
    converged is None for an arm that does not use CG or is not meant to converge."""
    ids = [r for ids in arm.runs.values() for r in ids]
    res = data.per_run["cg_residual"].reindex(ids).to_numpy(float)
    res = res[np.isfinite(res)]
    if not len(res):
        return math.nan, math.nan, None
    target = setting(arm.settings, RTOL) or 0.0
    ok = bool(res.max() <= CONVERGED) if target > 0 else None
    return float(np.median(res)), float(res.max()), ok


def _differs(f: Factor, x: Arm, y: Arm) -> str:
    keys = sorted(k for k in f.keys if k != "algo")
    parts = [f"algo {x.settings['algo']} vs {y.settings['algo']}"] if "algo" in f.keys else []
    parts += [f"{k} {setting(x.settings, k)} vs {setting(y.settings, k)}" for k in keys]
    return "; ".join(parts)


def _empty_row(f: Factor, metric: str, why: str) -> dict:
    return {
        "factor": f.factor, "x": f.x_name, "y": f.y.name, "metric": metric, "differs": "",
        "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "per_task": "",
        "per_task_diff": "", "n": "0", "p": math.nan, "min_runs": 0, "family": None,
        "directional": False, "verdict": f"not tested ({why})", "residual_x": "-",
        "residual_y": "-", "suffix": "",
    }  # fmt: skip


def _residual_text(data, arm: Arm) -> tuple[str, str]:
    """(shown residual, verdict suffix when an arm meant to converge did not)."""
    med, worst, ok = residual(data, arm)
    if not np.isfinite(med):
        return "-", ""
    if ok is None:
        return fmt(med, 2), ""
    if ok:
        return f"{fmt(med, 2)} (converged: every run <= {CONVERGED})", ""
    return f"{fmt(med, 2)} (NOT converged: worst run {fmt(worst, 2)})", "; CG not converged"


def factor_rows(data: planned.PlannedData, finals: pd.Series, seed: int) -> tuple[list, bool]:
    """Rows of every comparison x metric; and whether a planned arm is missing."""
    rows, missing = [], False
    values = {"final": finals, "auc_eval": data.per_run["auc_eval"]}
    for f in FACTORS:
        found = (
            "no arm: no harness setting runs it"
            if f.x is None
            else pair(data.arms, f.x, f.y, f.keys, planned.PROTOCOL, f.own_settings)
        )
        if isinstance(found, str):
            missing |= f.x is not None
            rows += [_empty_row(f, m, found) for m, _ in METRICS]
            continue
        x, y = found
        # Every arm is planned on the reference arms' tasks: a pair on fewer tasks than one of
        # its arms has is a partial comparison, so the family is interim (its Holm set and
        # p-values change as the other tasks land).
        missing |= set(x.runs) != set(y.runs)
        (res_x, bad_x), (res_y, bad_y) = _residual_text(data, x), _residual_text(data, y)
        for metric, column in METRICS:
            cmp, tasks, diffs = planned.compare_arms(x, y, values[column], seed)
            row = _empty_row(f, metric, "")
            row.update(
                differs=_differs(f, x, y), value=cmp.statistic, ci_lo=cmp.ci_lo,
                ci_hi=cmp.ci_hi, p=cmp.p, p_floor=cmp.p_floor, min_runs=cmp.min_runs, family=FAMILY,
                per_task=planned.per_task_text(tasks, cmp.per_task, 2, (cmp.n_x, cmp.n_y)),
                per_task_diff=planned.per_task_text(tasks, diffs, 2),
                n=f"{sum(cmp.n_x)} vs {sum(cmp.n_y)} on {len(tasks)} tasks", verdict=None,
                residual_x=res_x, residual_y=res_y, suffix=bad_x + bad_y,
            )  # fmt: skip
            rows.append(row)
    return rows, missing


NOTE = (
    "Family F3 of docs/analysis-plan.md. Each row: arm X against arm Y, which differ in one "
    "factor only (the settings named under 'differs'; every other experiment setting equal, "
    "checked on the runs' configs). Arms are matched by configuration across suites, so "
    "controlled-1m's runs are the reference arms. P(X > Y): probability of improvement, per "
    "task the Mann-Whitney U / (n_x n_y), averaged over the tasks both arms have runs on; "
    "'per task' gives each task's value (runs X vs Y) and 'mean X - Y' the difference of the "
    "arms' mean normalised scores per task. Final return: 50 mean-action evaluation episodes "
    "of the final policy (final_eval.json), or where any run here lacks a valid one, the mean "
    "of the last 3 evaluation points for every run; AUC: area under the evaluation curve; "
    "both min-max normalised by the task's score range. p: two-sided stratified permutation "
    "test, Holm-adjusted over the family. 95% CI: BCa bootstrap at Hesterberg's expanded "
    "level. No predicted direction: the verdict names the higher arm when the Holm p < 0.05, "
    "otherwise 'not separable'; no verdict with fewer than 5 runs per arm and task. CG "
    "residual: median over runs of each run's median relative residual of the CG solve; an "
    "arm meant to converge must stay <= 0.01 in every run."
)


def factor_table(data: planned.PlannedData, seed: int = 0) -> Table:
    """The ablation's factor table (every planned comparison, tested or not)."""
    arms = factor_arms(data)
    finals = planned.finals(data, arms)
    rows, missing = factor_rows(data, finals.values, seed)
    interim = planned.interim(data, arms, missing)
    table = decide(pd.DataFrame(rows), interim)
    table["verdict"] = table["verdict"] + table["suffix"]
    label = "final return" if finals.source.startswith("final_eval") else "final (last 3 evals)"
    view = pd.DataFrame(
        {
            "factor": table["factor"],
            "X vs Y": table["x"] + " vs " + table["y"],
            "differs": table["differs"],
            "metric": table["metric"].replace("final return", label),
            "P(X > Y)": table["value"].map(fmt),
            **planned.tested_columns(table),
            "CG residual X / Y": table["residual_x"] + " / " + table["residual_y"],
        }
    )
    title = "Ablation: one factor at a time" + (
        " (interim: planned runs missing)" if interim else ""
    )
    return Table("ablation_factors", title, table, view, NOTE + finals.note)


def factor_arms(data: planned.PlannedData) -> list[Arm]:
    """Every arm of every planned comparison found (F3's runs: one final-return estimator)."""
    return [a for f in FACTORS for a in _arms_of(data, f)]


def _arms_of(data: planned.PlannedData, f: Factor) -> list[Arm]:
    if f.x is None:
        return []
    found = pair(data.arms, f.x, f.y, f.keys, planned.PROTOCOL, f.own_settings)
    return [] if isinstance(found, str) else list(found)
