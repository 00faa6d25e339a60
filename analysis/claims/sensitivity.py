"""Step-size sensitivity, like for like (docs/analysis-plan.md, family F4).

Each method's own step-size knob over a 10x range around its default: kl_delta 0.003 / 0.01
/ 0.03 for the KL-step methods, Adam's lr for vanilla with Adam and for PPO. The unit is the
seed: on each task, one seed's runs at the three step sizes give one spread (max - min of the
normalised final return) and one worst case (min). Each KL-step natural-gradient method is
tested against the plain gradient at a KL step on both (a smaller spread and a larger worst
case are better); the Adam-lr methods turn a different knob and are described, not tested.
A method's runs are found by configuration (arms.py): arms under the common protocol that
differ only in the knob, at the planned values, whatever suite ran them (the middle points
are controlled-1m's runs).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from npgbench.analysis.claims import planned
from npgbench.analysis.claims.rows import decide, fmt_p
from npgbench.analysis.data.arms import Arm, same, select, setting
from npgbench.analysis.data.table import Table, fmt, fmt_ci
from npgbench.analysis.stats import inference as stats
from npgbench.analysis.stats.aggregate import interval_estimate, mean

KL_VALUES = (0.003, 0.01, 0.03)


@dataclass(frozen=True)
class Sweep:
    """A method: its arms' common settings, the knob and its planned values."""

    name: str
    where: dict
    key: str = "update.kl_delta"
    values: tuple[float, ...] = KL_VALUES
    tested: bool = True


BASELINE = Sweep("vanilla_kl", {"algo": "vanilla", "update.step_rule": "kl"}, tested=False)
SWEEPS = (
    BASELINE,
    Sweep("npg_exact", {"algo": "npg_exact", "update.damping": 0.01, "update.step_rule": "kl"}),
    Sweep(
        "npg_cg",
        {"algo": "npg_cg", "update.damping": 0.1, "update.cg_iters": 10, "update.cg_rtol": 0.0},
    ),
    Sweep("npg_kfac", {"algo": "npg_kfac", "update.damping": 0.01, "update.kfac_stat_decay": 0.95}),
    Sweep("trpo", {"algo": "trpo", "update.damping": 0.1, "update.cg_iters": 10}),
    Sweep(
        "vanilla_adam",
        {"algo": "vanilla", "update.step_rule": "adam"},
        "update.lr",
        (3e-3, 1e-2, 3e-2),
        False,
    ),
    Sweep("ppo", {"algo": "ppo"}, "update.lr", (1e-4, 3e-4, 1e-3), False),
)
FAMILY = "F4"


def sweep_arms(arms: list[Arm], sweep: Sweep) -> list[Arm] | str:
    """The method's arms at the planned values: those under the protocol with its settings
    that are equal in everything but the knob; the family with the most runs when several
    exist; each cut to the tasks where two of them have runs. A reason string when there
    are none."""
    found = [
        a
        for a in select(arms, {**planned.PROTOCOL, **sweep.where})
        if any(same(setting(a.settings, sweep.key), v) for v in sweep.values)
    ]
    families: dict[str, list[Arm]] = {}
    for a in found:
        rest = {k: v for k, v in a.settings.items() if k != sweep.key}
        families.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(a)
    if not families:
        return "no runs"
    best = max(families.values(), key=lambda f: (len(f), sum(map(_count, f))))
    # Only tasks with runs at two step sizes or more are compared (controlled-1m's middle
    # arms run on HalfCheetah too): the estimator and interim state then see those alone.
    tasks = [e for e in {e for a in best for e in a.runs} if sum(e in a.runs for a in best) > 1]
    if not tasks:
        return "no task with runs at two step sizes"
    return [a.on_tasks(tasks) for a in best]


def _count(arm: Arm) -> int:
    return sum(len(r) for r in arm.runs.values())


def per_seed(arms: list[Arm], sweep: Sweep, finals: pd.Series) -> dict[str, pd.DataFrame]:
    """env -> per-seed spread and worst case (columns seed, spread, worst) over the seeds that
    have a finite final return at every planned value."""
    by_value = {}
    for a in arms:
        value = next(v for v in sweep.values if same(setting(a.settings, sweep.key), v))
        by_value[value] = a
    out = {}
    envs = sorted({e for a in arms for e in a.runs})
    for env in envs:
        cols = {
            v: pd.Series(
                finals.reindex(a.runs.get(env, [])).to_numpy(float),
                index=a.seeds.get(env, []),
                dtype=float,
            )
            for v, a in by_value.items()
        }
        full = pd.DataFrame(cols).reindex(columns=list(sweep.values)).dropna()
        spread, worst = full.max(axis=1) - full.min(axis=1), full.min(axis=1)
        out[env] = pd.DataFrame({"seed": full.index, "spread": spread, "worst": worst})
    return out


def _matrix(tables: dict[str, pd.DataFrame], tasks: list[str], column: str) -> np.ndarray:
    """values_RT: seeds (NaN-padded) x tasks of one per-seed column."""
    cols = [tables[t][column].to_numpy(float) if t in tables else np.empty(0) for t in tasks]
    out = np.full((max([len(c) for c in cols] + [1]), len(tasks)), np.nan)
    for t, col in enumerate(cols):
        out[: len(col), t] = col
    return out


def _row(sweep: Sweep, statistic: str, tables, reps: int, seed: int) -> dict:
    """The described part of a row: per-task means over seeds and the task-averaged mean
    with a stratified bootstrap percentile interval."""
    column = "spread" if statistic == "spread" else "worst"
    tasks = sorted(t for t, df in tables.items() if len(df))
    row = {
        "method": sweep.name, "knob": f"{sweep.key} {'/'.join(map(str, sweep.values))}",
        "statistic": statistic, "per_task_mean": "", "aggregate": math.nan,
        "aggregate_lo": math.nan, "aggregate_hi": math.nan, "value": math.nan,
        "ci_lo": math.nan, "ci_hi": math.nan, "per_task": "", "n": "0", "p": math.nan,
        "min_runs": 0, "family": None, "directional": True, "verdict": None,
    }  # fmt: skip
    if tasks:
        m = _matrix(tables, tasks, column)
        counts = np.isfinite(m).sum(axis=0)
        row["per_task_mean"] = ", ".join(
            f"{t.split('-v')[0]} {fmt(v, 2)} ({n})"
            for t, v, n in zip(tasks, np.nanmean(m, axis=0), counts, strict=True)
        )
        point, lo, hi = interval_estimate(m, mean, reps, seed=seed)
        row.update(aggregate=point, aggregate_lo=lo, aggregate_hi=hi)
    return row


def _test(row: dict, mine, base, higher: bool, seed: int) -> dict:
    """Fill the test columns: this method against the plain gradient on shared tasks."""
    tasks = sorted(t for t in set(mine) & set(base) if len(mine[t]) and len(base[t]))
    column = "spread" if row["statistic"] == "spread" else "worst"
    sign = 1.0 if higher else -1.0
    xs = stats.finite_tasks(sign * _matrix(mine, tasks, column))
    ys = stats.finite_tasks(sign * _matrix(base, tasks, column))
    if not tasks:
        return {**row, "verdict": f"not tested (no seed with every step size of {BASELINE.name})"}
    cmp = stats.compare(xs, ys, seed=seed)
    return {
        **row, "value": cmp.statistic, "ci_lo": cmp.ci_lo, "ci_hi": cmp.ci_hi, "p": cmp.p,
        "p_floor": cmp.p_floor, "min_runs": cmp.min_runs, "family": FAMILY,
        "per_task": planned.per_task_text(tasks, cmp.per_task, 2, (cmp.n_x, cmp.n_y)),
        "n": f"{sum(cmp.n_x)} vs {sum(cmp.n_y)} seeds on {len(tasks)} tasks",
    }  # fmt: skip


def found_sweeps(data: planned.PlannedData):
    """(method name -> its arms or why none, arms used, their finals: one estimator)."""
    found = {s.name: sweep_arms(data.arms, s) for s in SWEEPS}
    used = [a for f in found.values() if not isinstance(f, str) for a in f]
    return found, used, planned.finals(data, used)


RELATIVE = "step size / the method's default"


def step_size_points(data: planned.PlannedData) -> pd.DataFrame:
    """Mean and std over seeds of the normalised final return per method, task and step
    size, in the columns experiment_plots.step_size_figure reads: group (method), key
    (RELATIVE: every method's knob over its middle value, so kl_delta and Adam lr share an
    axis), env, value (0.3 / 1 / 3 for kl_delta and vanilla's Adam lr, 1/3 / 1 / 10/3 for
    ppo's), final_mean, final_std (NaN with one seed), seeds."""
    found, _, finals = found_sweeps(data)
    rows = []
    for s in SWEEPS:
        arms = found[s.name]
        for arm in [] if isinstance(arms, str) else arms:
            value = float(setting(arm.settings, s.key))
            for env, ids in arm.runs.items():
                v = finals.values.reindex(ids).dropna()
                rows.append(
                    {"group": s.name, "key": RELATIVE, "env": env,
                     "value": value / s.values[1], "final_mean": v.mean(),
                     "final_std": v.std(), "seeds": len(v)}
                )  # fmt: skip
    return pd.DataFrame(rows)


def sensitivity_rows(data: planned.PlannedData, reps: int, seed: int):
    """(rows, arms used, a planned method missing?)."""
    found, used, finals = found_sweeps(data)
    tables = {
        s.name: {} if isinstance(found[s.name], str) else per_seed(found[s.name], s, finals.values)
        for s in SWEEPS
    }
    rows, missing = [], False
    for s in SWEEPS:
        for statistic, higher in (("spread", False), ("worst case", True)):
            row = _row(s, statistic, tables[s.name], reps, seed)
            has_seeds = any(len(df) for df in tables[s.name].values())
            if not has_seeds:
                missing = True
                row["verdict"] = "not tested (no runs at every step size)"
            elif s is BASELINE:
                row["verdict"] = "reference (plain gradient, KL step)"
            elif not s.tested:
                row["verdict"] = "described (Adam lr: a different knob, not tested)"
            else:
                row = _test(row, tables[s.name], tables[BASELINE.name], higher, seed)
            rows.append(row)
    return rows, used, missing, finals


NOTE = (
    "Family F4 of docs/analysis-plan.md. Per method, its own step-size knob over a 10x range "
    "(kl_delta 0.003 / 0.01 / 0.03; Adam lr for vanilla with Adam and PPO); runs found by "
    "configuration across suites (arms equal in every other setting). Per seed and task: "
    "spread = max - min and worst case = min over the three step sizes of the normalised "
    "final return (a seed enters only with a run at every step size). Mean per task over "
    "seeds (n seeds) and across tasks with a 95% stratified bootstrap percentile interval "
    "(descriptive). P(better than vanilla_kl): probability that the method's per-seed "
    "spread is smaller (worst case larger) than the plain gradient's at a KL step, per task "
    "the Mann-Whitney U / (n_x n_y), averaged over tasks; p: two-sided stratified permutation "
    "test, Holm over the family (the KL-step natural-gradient methods x 2 statistics); 95% "
    "CI: BCa at Hesterberg's expanded level. Verdict: supported / contradicted (lower "
    "sensitivity) when the Holm p < 0.05; no verdict with fewer than 5 seeds per arm and task."
)


def sensitivity_table(data: planned.PlannedData, reps: int = 2000, seed: int = 0) -> Table:
    rows, used, missing, finals = sensitivity_rows(data, reps, seed)
    interim = planned.interim(data, used, missing)
    table = decide(pd.DataFrame(rows), interim)
    label = "final return" if finals.source.startswith("final_eval") else "final (last 3 evals)"
    view = pd.DataFrame(
        {
            "method": table["method"],
            "knob": table["knob"],
            "statistic": table["statistic"] + f" of normalised {label}",
            "mean per task (seeds)": table["per_task_mean"],
            "mean [95% CI]": [
                fmt_ci(v, lo, hi)
                for v, lo, hi in zip(
                    table["aggregate"], table["aggregate_lo"], table["aggregate_hi"]
                )
            ],
            "P(better than vanilla_kl)": table["value"].map(fmt),
            "95% CI": planned.ci_text(table),
            "per task (seeds)": table["per_task"],
            "p": table["p"].map(fmt_p),
            "p (Holm)": table["p_holm"].map(fmt_p),
            "verdict": table["verdict"],
        }
    )
    title = "Step-size sensitivity" + (" (interim: planned runs missing)" if interim else "")
    return Table("step_size_family", title, table, view, NOTE + finals.note)
