"""Parameterisation invariance of the learning curves (docs/analysis-plan.md, family F5).

policy.param_scale = s feeds every Linear layer of the mean net s x and stores its weights as
W / s: the same function at initialisation in other coordinates. Per arm (a variant at
s = 1 and its twin at s = 10, equal in every other setting, found by configuration):
  - the effect of s = 10 vs s = 1 on the final return and the AUC of the evaluation curve
    (P(s10 > s1), no predicted direction; its own Holm family, see the plan's Changes);
  - the plan's F5 test: the per-seed absolute change |final(s=10) - final(s=1)| of the
    normalised final return (same seed: same function at initialisation), each
    natural-gradient arm against the plain gradient at a KL step (smaller = more invariant).
Beside each arm, the invariance theory predicts (Amari 1998; Kakade 2001; Martens & Grosse
2015, section 10).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.claims import planned
from npgbench.analysis.claims.rows import decide
from npgbench.analysis.data.arms import Arm, ArmSpec, pair
from npgbench.analysis.data.curves import interpolate_curves
from npgbench.analysis.data.table import Table, fmt
from npgbench.analysis.stats import inference as stats

KEY = "policy.param_scale"
SCALES = (1.0, 10.0)
KL = {"update.step_rule": "kl", "update.kl_delta": 0.01}
BASELINE = "vanilla_kl"
ARMS = (
    # (name, settings, prediction, tested against the plain gradient in F5)
    ("vanilla_kl", {"algo": "vanilla", **KL}, "not invariant (plain gradient)", False),
    ("vanilla_sgd", {"algo": "vanilla", "update.step_rule": "sgd", "update.lr": 0.1},
     "not invariant (plain gradient)", False),
    ("npg_exact", {"algo": "npg_exact", "update.damping": 0.01, **KL},
     "invariant up to damping (exact natural gradient)", True),
    ("exact_d0.1", {"algo": "npg_exact", "update.damping": 0.1, **KL},
     "invariant up to damping (exact natural gradient; 10x npg_exact's damping)", True),
    ("npg_cg", {"algo": "npg_cg", "update.damping": 0.1, "update.cg_iters": 10,
                "update.cg_rtol": 0.0, **KL},
     "invariant up to damping and CG truncation (10 iterations)", True),
    ("npg_kfac", {"algo": "npg_kfac", "update.damping": 0.01, "update.kfac_stat_decay": 0.95,
                  **KL},
     "invariant to per-layer input scaling, up to damping (K-FAC)", True),
    ("npg_diag", {"algo": "npg_diag", "update.damping": 0.01, **KL},
     "invariant to per-parameter scaling, up to damping (diagonal Fisher)", True),
)  # fmt: skip
COMMON = {k: v for k, v in planned.PROTOCOL.items() if k != KEY}
EFFECT, CHANGE = "F5 effect", "F5"


def twins(arms: list[Arm], name: str, where: dict) -> tuple[Arm, Arm] | str:
    """(s = 10 arm, s = 1 arm) of one variant, or why there is none."""
    ten = ArmSpec(f"{name} at s=10", {**where, KEY: SCALES[1]})
    one = ArmSpec(f"{name} at s=1", {**where, KEY: SCALES[0]})
    return pair(arms, ten, one, frozenset({KEY}), COMMON)


def changes(ten: Arm, one: Arm, finals: pd.Series) -> dict[str, np.ndarray]:
    """env -> per-seed |final(s=10) - final(s=1)| over the seeds both arms ran."""
    out = {}
    for env in sorted(set(ten.runs) & set(one.runs)):
        a = pd.Series(finals.reindex(ten.runs[env]).to_numpy(float), index=ten.seeds[env])
        b = pd.Series(finals.reindex(one.runs[env]).to_numpy(float), index=one.seeds[env])
        diff = (a - b).abs().dropna()
        out[env] = diff.to_numpy(float)
    return out


def _base_row(name: str, prediction: str, test: str, family) -> dict:
    return {
        "arm": name, "predicted": prediction, "test": test, "value": math.nan,
        "ci_lo": math.nan, "ci_hi": math.nan, "per_task": "", "per_task_diff": "", "n": "0",
        "p": math.nan, "min_runs": 0, "family": family, "directional": family == CHANGE,
        "x": "s=10", "y": "s=1", "verdict": None,
    }  # fmt: skip


def _fill(row: dict, cmp: stats.Comparison, tasks: list[str], diffs) -> dict:
    return {
        **row, "value": cmp.statistic, "ci_lo": cmp.ci_lo, "ci_hi": cmp.ci_hi, "p": cmp.p,
        "min_runs": cmp.min_runs,
        "per_task": planned.per_task_text(tasks, cmp.per_task, 2, (cmp.n_x, cmp.n_y)),
        "per_task_diff": planned.per_task_text(tasks, diffs, 2),
        "n": f"{sum(cmp.n_x)} vs {sum(cmp.n_y)} on {len(tasks)} tasks",
    }  # fmt: skip


def _change_row(name, prediction, tested, mine, base, seed) -> dict:
    row = _base_row(name, prediction, "per-seed |change| of final vs vanilla_kl's", CHANGE)
    tasks = sorted(t for t in set(mine) & set(base or {}) if len(mine[t]) and len(base[t]))
    means = [float(mine[t].mean()) for t in sorted(mine) if len(mine[t])]
    row["per_task_diff"] = planned.per_task_text(sorted(mine), means, 2) if means else ""
    if name == BASELINE or not tested:
        verdict = "reference" if name == BASELINE else "described (plain gradient)"
        return {**row, "family": None, "verdict": verdict}
    if not tasks:
        return {**row, "family": None, "verdict": f"not tested (no seeds of {name} and {BASELINE})"}
    xs = [-mine[t] for t in tasks]
    ys = [-base[t] for t in tasks]
    cmp = stats.compare(xs, ys, seed=seed)
    return {**_fill(row, cmp, tasks, [float(mine[t].mean()) for t in tasks]), "x": "", "y": ""}


def found_twins(data: planned.PlannedData) -> dict[str, tuple[Arm, Arm] | str]:
    """ARMS name -> its (s = 10, s = 1) arms, or why there are none."""
    return {name: twins(data.arms, name, where) for name, where, _, _ in ARMS}


def reparam_rows(data: planned.PlannedData, seed: int):
    """(rows, arms used, a planned arm missing?, finals)."""
    found = found_twins(data)
    used = [a for f in found.values() if not isinstance(f, str) for a in f]
    finals = planned.finals(data, used)
    values = {"final": finals.values, "AUC (evaluation)": data.per_run["auc_eval"]}
    per_seed = {n: changes(*f, finals.values) for n, f in found.items() if not isinstance(f, str)}
    rows, missing = [], False
    for name, _, prediction, tested in ARMS:
        pair_or_why = found[name]
        if isinstance(pair_or_why, str):
            missing = True
            for test in ("final: s=10 vs s=1", "AUC: s=10 vs s=1", "per-seed |change|"):
                row = _base_row(name, prediction, test, None)
                rows.append({**row, "verdict": f"not tested ({pair_or_why})"})
            continue
        ten, one = pair_or_why
        for label, series in values.items():
            cmp, tasks, diffs = planned.compare_arms(ten, one, series, seed)
            label = label.split(" ")[0]
            rows.append(_fill(_base_row(name, prediction, f"{label}: s=10 vs s=1", EFFECT), cmp, tasks, diffs))  # fmt: skip
        rows.append(_change_row(name, prediction, tested, per_seed[name], per_seed.get(BASELINE), seed))  # fmt: skip
    return rows, used, missing, finals


EVAL = "eval_return_mean"


def reparam_curves(frame: pd.DataFrame, data: planned.PlannedData, points: int = 101):
    """Every arm's evaluation curves at s = 1 and s = 10 (mean-action returns, the plan's
    metric), long form: interpolate_curves' columns with group = "s=1" / "s=10" and
    panel = "arm | env". Linear between evaluations (rows without one are dropped, not
    forward-filled); both scales of a panel share one step grid although their runs sit in
    different suites. frame: load.RunSet.frame. Empty without a pair of twins."""
    out = []
    for name, found in found_twins(data).items():
        if isinstance(found, str):
            continue
        for env in sorted(set(found[0].runs) & set(found[1].runs)):
            scale_of = {r: f"s={SCALES[1]:g}" for r in found[0].runs[env]}
            scale_of |= {r: f"s={SCALES[0]:g}" for r in found[1].runs[env]}
            sub = frame[frame["run_id"].isin(scale_of) & frame[EVAL].notna()]
            sub = sub.assign(study="param_scale", group=sub["run_id"].map(scale_of))
            long = interpolate_curves(sub, EVAL, "step", points)
            out.append(long.assign(panel=f"{name} | {env}"))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


NOTE = (
    "Family F5 of docs/analysis-plan.md (policy.param_scale; the std-parameterisation family "
    "is described in its own table). Each arm at param_scale 1 and its twin at 10, equal in "
    "every other setting (found by configuration across suites). 's=10 vs s=1' rows: "
    "P(s10 > s1), per task the Mann-Whitney U / (n_x n_y), averaged over tasks, on the "
    "normalised final return and on the AUC of the evaluation curve; 'mean X - Y' is the "
    "difference of the arms' means; no predicted direction (the verdict names the higher "
    "scale); Holm over these rows. '|change|' rows (the plan's F5 test): per seed, "
    "|final(s=10) - final(s=1)| of the normalised final return; P that the arm's change is "
    "smaller than the plain gradient's (vanilla_kl), Holm over the natural-gradient arms; "
    "'mean X - Y' there gives the arm's mean |change| per task. p: two-sided stratified "
    "permutation test; 95% CI: BCa at Hesterberg's expanded level; no verdict with fewer than "
    "5 runs per arm and task. Predicted: what theory says of a reparameterisation that "
    "scales each layer's weights (a per-parameter and per-layer-input scaling)."
)


def reparam_table(data: planned.PlannedData, seed: int = 0) -> Table:
    rows, used, missing, finals = reparam_rows(data, seed)
    interim = planned.interim(data, used, missing)
    table = decide(pd.DataFrame(rows), interim)
    label = "final return" if finals.source.startswith("final_eval") else "final (last 3 evals)"
    view = pd.DataFrame(
        {
            "arm": table["arm"],
            "predicted": table["predicted"],
            "test": table["test"].str.replace("final", label, regex=False),
            "P": table["value"].map(fmt),
            **planned.tested_columns(table),
        }
    )
    title = "Parameterisation invariance: param_scale 10 vs 1" + (
        " (interim: planned runs missing)" if interim else ""
    )
    return Table("param_scale_invariance", title, table, view, NOTE + finals.note)
