"""Held-out step measures per arm (docs/analysis-plan.md, Section 2 item 4; descriptive).

Runs with diagnostics.heldout_every log, every K updates: the step of the direction fitted on
half A of the batch, its first-order surrogate gain and KL on A (in-sample) and on the other
half B (held-out), and the KL between the policies before and after the previous update on
this iteration's new states. Per run, the median over the updates that carry them of
  - gain ratio  step_gain_heldout / step_gain_insample  (share of the in-sample gain that
    survives on states the direction did not see; 1 = none lost, < 0 = the step loses),
  - step_kl_heldout / kl_delta and step_kl_insample / kl_delta (KL budget used, held out and
    in-sample), and prev_step_kl_fresh / kl_delta (the realised step on fresh states),
each update's ratio first, then the median. The table gives, per arm and task, the median
of those per-run medians over runs with its interquartile range. The tested claim on the
held-out gain itself (the plan's step family) is in the claims table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from npgbench.analysis.data.table import Table, fmt
from npgbench.analysis.stats.reliability import median_finite

if TYPE_CHECKING:
    from npgbench.analysis.claims.planned import PlannedData

RATIOS = {
    # column: (numerator, denominator, shown as)
    "gain_ratio": ("step_gain_heldout", "step_gain_insample", "held-out / in-sample gain"),
    "kl_heldout_ratio": ("step_kl_heldout", "kl_delta", "held-out KL / δ"),
    "kl_insample_ratio": ("step_kl_insample", "kl_delta", "in-sample KL / δ"),
    "kl_fresh_ratio": ("prev_step_kl_fresh", "kl_delta", "previous step's KL on new states / δ"),
}


def step_ratios(run_df: pd.DataFrame) -> dict[str, float]:
    """Per-run medians over updates of each ratio in RATIOS (NaN: not measured)."""
    out = {}
    for name, (num, den, _) in RATIOS.items():
        if num not in run_df or den not in run_df:
            out[name] = math.nan
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = run_df[num].to_numpy(float) / run_df[den].to_numpy(float)
        out[name] = median_finite(np.where(np.isfinite(ratio), ratio, np.nan))
    return out


def _spread(values: np.ndarray) -> str:
    """'median [q25, q75]' of the finite values; '-' when none."""
    values = values[np.isfinite(values)]
    if not len(values):
        return "-"
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{fmt(q50)} [{fmt(q25)}, {fmt(q75)}]"


NOTE = (
    "Descriptive (docs/analysis-plan.md, Section 2 item 4). Every arm (runs with equal "
    "experiment settings, across suites) whose runs log the held-out step diagnostics. Per "
    "run: the median over the updates that carry them of each update's ratio; per arm and "
    "task: the median of the per-run medians [interquartile range over runs]. Gain ratio: "
    "g_B^T (beta_A x_A) / g_A^T (beta_A x_A), the first-order gain of the step fitted on half A "
    "of the batch, on half B over on A (1: nothing lost on states the step did not see). KL "
    "ratios: over the run's KL budget delta. Previous step on new states: KL between the "
    "policies before and after the previous update on this iteration's newly sampled states."
)


def heldout_table(data: PlannedData) -> Table:
    """One row per (arm, task) with held-out measures; a 'not measured' row when none."""
    rows, view = [], []
    per_run = data.per_run
    for arm in data.arms:
        for env in arm.tasks():
            sub = per_run.loc[per_run.index.intersection(arm.runs[env])]
            measured = sub[list(RATIOS)].notna().any(axis=1)
            if not measured.any():
                continue
            sub = sub[measured]
            name = "; ".join(arm.labels)
            rec = {"arm": name, "env": env, "runs": int(len(sub))}
            rec.update({k: float(np.nanmedian(sub[k])) for k in RATIOS if sub[k].notna().any()})
            rows.append(rec)
            shown = {"arm": name, "env": env, "runs": str(len(sub))}
            shown.update({v[2]: _spread(sub[k].to_numpy(float)) for k, v in RATIOS.items()})
            view.append(shown)
    if not rows:
        view = [
            {"arm": "-", "env": "-", "runs": "0", "measures": "not measured (no run logs them)"}
        ]
    title = "Held-out step measures"
    return Table("heldout_steps", title, pd.DataFrame(rows), pd.DataFrame(view), NOTE)
