"""The claims table's rows for step-size sensitivity and parameterisation invariance.

Copied from the analyses that decide them, not recomputed: the tests of family F4 (step-size
sensitivity, claims/sensitivity.py) and of F5 (param_scale and std parameterisation, claims/reparam.py), each with
the Holm correction of its own family (docs/analysis-plan.md, Section 4); the deterministic
one-step invariance test (claims/offline.py); and, in folders that hold the older one-task
suites (`sensitivity`, `invariance`), their descriptions (claims/experiments.py). A claim
with none of these reads "not tested", with the reason.
"""

from __future__ import annotations

import math

import pandas as pd
from npgbench.analysis.claims import offline, reparam, reparam_twins, sensitivity
from npgbench.analysis.claims.rows import COLUMNS

SENSITIVITY = "lower hyperparameter sensitivity"
INVARIANCE = "parameterisation invariance"
COPIED = ("value", "ci_lo", "ci_hi", "per_task", "n", "p", "p_holm", "min_runs", "verdict")


def _row(**fields) -> dict:
    """A claims row with no test of its own (family None: never Holm-adjusted again)."""
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update(per_task="", n="0", family=None, min_runs=0)
    row.update(fields)
    return row


def sensitivity_rows(f4: pd.DataFrame | None) -> list[dict]:
    """F4's tested rows (each KL-step method against vanilla_kl, on the spread and the worst
    case over kl_delta 0.003 / 0.01 / 0.03), as decided in their family."""
    tested = [] if f4 is None else f4[f4["family"] == sensitivity.FAMILY]
    rows = []
    for r in [] if len(tested) == 0 else tested.to_dict("records"):
        smaller = r["statistic"] == "spread"
        rows.append(
            _row(
                claim=SENSITIVITY,
                comparison=f"{r['method']} vs {sensitivity.BASELINE.name} ({r['knob']})",
                statistic=f"P({'smaller spread' if smaller else 'larger worst case'} of "
                "normalised final return over the step sizes; unit: seed)",
                **{k: r[k] for k in COPIED},
            )
        )
    return rows


def invariance_rows(f5: pd.DataFrame | None) -> list[dict]:
    """F5's tested rows: each natural-gradient arm's per-seed |change| of final return
    between a family's default and its alternatives (param_scale 1 vs 10; the std as log
    vs softplus and identity) against vanilla_kl's, as decided in their family."""
    tested = [] if f5 is None else f5[f5["family"] == reparam.CHANGE]
    rows = []
    for r in [] if len(tested) == 0 else tested.to_dict("records"):
        rows.append(
            _row(
                claim=f"{INVARIANCE} (learning, {r['reparameterisation']})",
                comparison=f"{r['arm']} vs {reparam_twins.BASELINE}",
                statistic="P(smaller per-seed |change| of normalised final return)",
                **{k: r[k] for k in COPIED},
            )
        )
    return rows


def legacy_rows(step_sizes: pd.DataFrame | None, invariance: pd.DataFrame | None) -> list[dict]:
    """The one-task suites' descriptions (experiments.step_size / .invariance rows)."""
    rows = []
    for r in [] if step_sizes is None else step_sizes.itertuples(index=False):
        rows.append(
            _row(
                claim=SENSITIVITY,
                comparison=f"{r.group} on {r.env} ({r.key}, {r.values} values, {r.seeds} seeds)",
                statistic="orders of magnitude within 10% of best",
                value=r.orders,
                n=str(r.values * r.seeds),
                verdict="measured (one task)",
            )
        )
    for r in [] if invariance is None else invariance.itertuples(index=False):
        noise = r.final_range_norm <= r.seed_std_norm
        rows.append(
            _row(
                claim=INVARIANCE,
                comparison=f"{r.group} on {r.env} ({r.parameterisations})",
                statistic="final range / seed std (normalised)",
                value=r.final_range_norm / r.seed_std_norm if r.seed_std_norm > 0 else math.nan,
                n=str(r.runs),
                verdict=("within" if noise else "beyond") + " seed noise (one task)",
            )
        )
    return rows


def experiment_claim_rows(
    f4: pd.DataFrame | None = None,
    f5: pd.DataFrame | None = None,
    one_step: pd.DataFrame | None = None,
    step_sizes: pd.DataFrame | None = None,
    invariance: pd.DataFrame | None = None,
) -> list[dict]:
    """Every sensitivity and invariance row the folder supports; "not tested" per claim
    that has none. f4, f5: the decided data of the F4 / F5 tables (Table.data);
    one_step: analysis/data/offline.py's verdict frame; step_sizes, invariance: the
    one-task suites' frames of claims/experiments.py."""
    old = legacy_rows(step_sizes, invariance)
    sens = sensitivity_rows(f4) + [r for r in old if r["claim"] == SENSITIVITY]
    learning = invariance_rows(f5) + [r for r in old if r["claim"] == INVARIANCE]
    if not sens:
        why = "not tested (no seed with a run at every step size, kl_delta 0.003 / 0.01 / 0.03)"
        sens = [_row(claim=SENSITIVITY, comparison="-", statistic="-", verdict=why)]
    if not learning:
        why = (
            "not tested (no natural-gradient arm and the plain-gradient reference "
            f"{reparam_twins.BASELINE} both with runs that differ only in the parameterisation)"
        )
        claim = f"{INVARIANCE} (learning)"
        learning = [_row(claim=claim, comparison="-", statistic="-", verdict=why)]
    one = [] if one_step is None else [_row(**r) for r in offline.one_step_claim_rows(one_step)]
    return sens + learning + one
