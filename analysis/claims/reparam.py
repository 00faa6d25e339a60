"""Parameterisation invariance of the learning curves (docs/analysis-plan.md, family F5).

Two reparameterisation families, each of the same initial policy in other coordinates:
  - policy.param_scale = s feeds every Linear layer of the mean net s x and stores its
    weights as W / s (a linear reparameterisation: 1 vs 10);
  - policy.std_param: sigma = exp(w) (log, the default), softplus(w) or w (identity), from
    the same initial distribution (nonlinear: log vs softplus and vs identity).
Per arm (a variant at the family's default and its twins, equal in every other setting,
found by configuration):
  - the effect of each alternative vs the default on the final return and the AUC of the
    evaluation curve (P(alternative > default), no predicted direction; family "F5 effect",
    see the plan's Changes);
  - the plan's F5 test: the per-seed absolute change of the normalised final return between
    the default and the alternative (same seed: same function at initialisation; with two
    alternatives, the mean of the two changes), each natural-gradient arm against the plain
    gradient at a KL step (smaller = more invariant). One Holm family over both
    reparameterisation families, as the plan's Section 6 names F5.
Beside each arm, the invariance theory predicts (Amari 1998; Kakade 2001; Martens & Grosse
2015, section 10). Which runs pair, and the families' arms: claims/reparam_twins.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.claims import planned
from npgbench.analysis.claims.reparam_twins import (
    BASELINE,
    FAMILIES,
    Family,
    Twins,
    all_paired_tasks,
    found_twins,
)
from npgbench.analysis.claims.rows import decide
from npgbench.analysis.data.curves import interpolate_curves
from npgbench.analysis.data.table import Table, fmt
from npgbench.analysis.stats import inference as stats

EFFECT, CHANGE = "F5 effect", "F5"
EVAL = "eval_return_mean"


def changes(found: Twins, finals: pd.Series) -> dict[str, np.ndarray]:
    """env -> per-seed mean over the alternatives of |final(alternative) - final(default)|,
    over the seeds where every alternative and the default ran with a finite final (a seed
    without one is left out: the row's n shows the seeds counted)."""
    base = found.base
    out = {}
    for env in all_paired_tasks(found):
        b = pd.Series(finals.reindex(base.runs[env]).to_numpy(float), index=base.seeds[env])
        per_alt = [
            (pd.Series(finals.reindex(a.runs[env]).to_numpy(float), index=a.seeds[env]) - b).abs()
            for a in found.arms.values()
        ]
        out[env] = pd.concat(per_alt, axis=1).dropna().mean(axis=1).to_numpy(float)
    return out


def _base_row(family: Family, name: str, prediction: str, test: str, kind) -> dict:
    return {
        "reparameterisation": family.name, "arm": name, "predicted": prediction, "test": test,
        "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "per_task": "",
        "per_task_diff": "", "n": "0", "p": math.nan, "min_runs": 0, "family": kind,
        "directional": kind == CHANGE, "x": "", "y": "", "verdict": None,
    }  # fmt: skip


def _fill(row: dict, cmp: stats.Comparison, tasks: list[str], diffs) -> dict:
    return {
        **row, "value": cmp.statistic, "ci_lo": cmp.ci_lo, "ci_hi": cmp.ci_hi, "p": cmp.p,
        "p_floor": cmp.p_floor, "min_runs": cmp.min_runs,
        "per_task": planned.per_task_text(tasks, cmp.per_task, 2, (cmp.n_x, cmp.n_y)),
        "per_task_diff": planned.per_task_text(tasks, diffs, 2),
        "n": f"{sum(cmp.n_x)} vs {sum(cmp.n_y)} on {len(tasks)} tasks",
    }  # fmt: skip


CHANGE_TEST = "per-seed |change| of final vs vanilla_kl's"


def _change_row(row: dict, tested: bool, mine: Twins, base: Twins, finals, seed: int) -> dict:
    name = row["arm"]
    if not mine.complete:
        why = next(iter(mine.missing.values()), f"no runs of {name}")
        return {**row, "family": None, "verdict": f"not tested ({why})"}
    per_seed = changes(mine, finals)
    means = [float(per_seed[t].mean()) for t in sorted(per_seed) if len(per_seed[t])]
    row["per_task_diff"] = planned.per_task_text(sorted(per_seed), means, 2) if means else ""
    if name == BASELINE or not tested:
        verdict = "reference" if name == BASELINE else "described (plain gradient)"
        return {**row, "family": None, "verdict": verdict}
    if not base.complete:
        why = next(iter(base.missing.values()), f"no runs of {BASELINE}")
        return {**row, "family": None, "verdict": f"not tested ({BASELINE}: {why})"}
    theirs = changes(base, finals)
    tasks = sorted(t for t in set(per_seed) & set(theirs) if len(per_seed[t]) and len(theirs[t]))
    if not tasks:
        return {**row, "family": None, "verdict": f"not tested (no seeds of {name} and {BASELINE})"}
    cmp = stats.compare([-per_seed[t] for t in tasks], [-theirs[t] for t in tasks], seed=seed)
    return _fill(row, cmp, tasks, [float(per_seed[t].mean()) for t in tasks])


def _effect_rows(family: Family, name: str, prediction: str, found: Twins, values, seed) -> list:
    """P(alternative > default) on each metric, per alternative; "not tested" where none."""
    rows, base_label = [], family.label(family.default)
    for value in family.alternatives:
        test = f"{{}}: {family.label(value)} vs {base_label}"
        if value not in found.arms:
            why = found.missing.get(value, f"no runs of {name}")
            row = _base_row(family, name, prediction, test.format("final / AUC"), None)
            rows.append({**row, "verdict": f"not tested ({why})"})
            continue
        for label, series in values.items():
            cmp, tasks, diffs = planned.compare_arms(found.arms[value], found.base, series, seed)
            row = _base_row(family, name, prediction, test.format(label), EFFECT)
            row |= {"x": family.label(value), "y": base_label}
            rows.append(_fill(row, cmp, tasks, diffs))
    return rows


def reparam_rows(data: planned.PlannedData, seed: int):
    """(rows, arms used, a planned arm missing?, finals): one final-return estimator over
    every arm of both families (one analysis)."""
    found = found_twins(data)
    used = [arm for t in found.values() for arm in t.all_arms()]
    finals = planned.finals(data, used)
    values = {"final": finals.values, "AUC": data.per_run["auc_eval"]}
    rows = []
    for family in FAMILIES:
        base = found[(family, BASELINE)]
        for name, _, prediction, tested in family.arms:
            mine = found[(family, name)]
            rows += _effect_rows(family, name, prediction, mine, values, seed)
            row = _base_row(family, name, prediction, CHANGE_TEST, CHANGE)
            rows.append(_change_row(row, tested, mine, base, finals.values, seed))
    missing = not all(t.on_every_task(family.tasks) for (family, _), t in found.items())
    return rows, used, missing, finals


def reparam_curves(frame: pd.DataFrame, data: planned.PlannedData, points: int = 101):
    """family name -> every arm's evaluation curves at the default and its alternatives
    (mean-action returns, the plan's metric), long form: interpolate_curves' columns with
    group = the setting's label and panel = "arm | env". Linear between evaluations (rows
    without one are dropped, not forward-filled); the settings of a panel share one step
    grid although their runs sit in different suites. frame: load.RunSet.frame. A family
    without any twins is absent."""
    out: dict[str, list] = {}
    for (family, name), found in found_twins(data).items():
        if not found.arms:
            continue
        base = found.base
        for env in all_paired_tasks(found):
            label_of = {r: family.label(family.default) for r in base.runs[env]}
            for value, alt in found.arms.items():
                label_of |= {r: family.label(value) for r in alt.runs[env]}
            sub = frame[frame["run_id"].isin(label_of) & frame[EVAL].notna()]
            sub = sub.assign(study=family.name, group=sub["run_id"].map(label_of))
            long = interpolate_curves(sub, EVAL, "step", points)
            out.setdefault(family.name, []).append(long.assign(panel=f"{name} | {env}"))
    return {name: pd.concat(parts, ignore_index=True) for name, parts in out.items()}


NOTE = (
    "Family F5 of docs/analysis-plan.md. Two reparameterisations of the same initial policy: "
    "policy.param_scale 1 vs 10 (every layer's weights stored as W / s and used as s W: "
    "linear) and the std as exp(w) (log, the default) vs softplus(w) and vs w (identity: "
    "nonlinear). Each arm at the default and its twins, equal in every other setting (found "
    "by configuration across suites). 'X vs default' rows (family 'F5 effect'): "
    "P(X > default), per task the Mann-Whitney U / (n_x n_y), averaged over tasks, on the "
    "normalised final return and on the AUC of the evaluation curve; 'mean X - Y' is the "
    "difference of the arms' means; no predicted direction (the verdict names the higher "
    "setting); Holm over these rows. '|change|' rows (the plan's F5 test): per seed, "
    "|final(X) - final(default)| of the normalised final return (with two alternatives, "
    "their mean, over the seeds that ran every setting: 'n' counts them); P that the arm's "
    "change is smaller than the plain gradient's (vanilla_kl "
    "of the same family), Holm over the natural-gradient arms of both families; 'mean X - Y' "
    "there gives the arm's mean |change| per task. p: two-sided stratified permutation test; "
    "95% CI: BCa at Hesterberg's expanded level; no verdict with fewer than 5 runs per arm "
    "and task. Predicted: what theory says of each reparameterisation (param_scale is a "
    "per-parameter and per-layer-input scaling). The std family runs on Hopper-v5 only "
    "(invariance-hopper), param_scale on Hopper-v5 (invariance-scale-1m) and Walker2d-v5 "
    "(invariance-scale-walker2d-1m): 'per task' shows the tasks each row rests on. The "
    "table reads interim until both families are in, since they share one Holm family."
)


def reparam_table(data: planned.PlannedData, seed: int = 0) -> Table:
    """F5, decided: one row per arm, family, alternative and metric (see NOTE)."""
    rows, used, missing, finals = reparam_rows(data, seed)
    interim = planned.interim(data, used, missing)
    table = decide(pd.DataFrame(rows), interim)
    label = "final return" if finals.source.startswith("final_eval") else "final (last 3 evals)"
    view = pd.DataFrame(
        {
            "reparameterisation": table["reparameterisation"],
            "arm": table["arm"],
            "predicted": table["predicted"],
            "test": table["test"].str.replace("final", label, regex=False),
            "P": table["value"].map(fmt),
            **planned.tested_columns(table),
        }
    )
    title = "Parameterisation invariance of learning (F5): param_scale and std parameterisation"
    title += " (interim: planned runs missing)" if interim else ""
    return Table("reparam_invariance", title, table, view, NOTE + finals.note)
