"""Tables of the offline measurements (analysis/data/offline.py): the deterministic one-step
parameterisation-invariance test and Fisher fidelity at the benchmark's own size.

Neither is a hypothesis test (docs/analysis-plan.md, Section 4): the one-step test is a
deterministic computation judged against the tolerance of its verdict rule
(harness/bench/invariance.py), and the fidelity measures are described, per task beside the
mean over tasks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from npgbench.analysis.data.table import Table, fmt

ONE_STEP_NOTE = (
    "Deterministic (npgbench bench invariance; no p-value): one step of equal predicted KL "
    "(kl_delta) from a policy written in parameters theta and from the same policy written "
    "in phi = T^-1(theta), by the project's own preconditioners, on one saved batch (final "
    "npg_cg policy of controlled-1m on Hopper-v5, 64x64, P = 5,126, 2,048 states, float64). "
    "KL/δ: max over kl_delta of KL(pi_theta' || pi_phi') / kl_delta (0: the two updated "
    "policies coincide; to second order 2 (1 - cos) of the two steps in the Fisher metric), "
    "at λ*, the smallest damping at which every solve converged, and at the largest damping "
    "tried. Measured 'invariant' when KL/δ < 1e-3 at λ* and the discrepancy is the damping's "
    "doing (at least 10x below its value at the largest damping, or below 1e-10). Slopes: "
    "log-log slope of the KL in kl_delta at λ* (2: the steps agree to first order; 1: they "
    "differ) and in the damping. Predicted (vanishing damping): the exact natural gradient "
    "invariant to every invertible linear map and to nonlinear ones to first order (Amari "
    "1998; Kakade 2001), except the sampled Fisher (rank <= 2,048 < P: the damping decides "
    "its step in the null space under maps of the mean net); K-FAC to affine maps of each "
    "layer's inputs and outputs (Martens & Grosse 2015, section 10); the diagonal Fisher to "
    "per-parameter scaling; the plain gradient and 10-iteration CG to none. Bold: measured "
    "differs from predicted. The files and commands: the folder's README."
)


def _range(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return "-"
    return f"{lo:.0e}" if lo == hi else f"{lo:.0e} to {hi:.0e}"


def as_predicted(match: pd.Series) -> pd.Series:
    """The verdict file's `match` as yes / no / undecided ("-": no solve converged)."""
    text = match.astype(str).str.strip().str.lower()
    return text.map(lambda m: m if m in ("yes", "no") else "undecided")


def one_step_table(one_step: pd.DataFrame) -> Table:
    """One row per verdict: direction x family, over the damping grid of its file."""
    data = one_step.reset_index(drop=True)
    verdict = as_predicted(data["match"])
    view = pd.DataFrame(
        {
            "file": data["file"],
            "direction": data["direction"],
            "family": data["family"],
            "dampings": [_range(a, b) for a, b in zip(data["damping_lo"], data["damping_hi"])],
            "predicted invariant": data["predicted"],
            "measured": data["measured"],
            "as predicted": verdict,
            "λ*": data["damping"].map(lambda d: f"{d:.0e}" if np.isfinite(d) else "-"),
            "KL/δ at λ*": data["ratio"].map(lambda r: f"{r:.1e}"),
            "KL/δ at largest λ": data["ratio_max_damping"].map(lambda r: f"{r:.1e}"),
            "slope in δ": data["slope_delta"].map(lambda s: fmt(s, 2)),
            "slope in λ": data["slope_damping"].map(lambda s: fmt(s, 2)),
        }
    )
    highlight = pd.DataFrame(False, index=view.index, columns=view.columns)
    highlight["as predicted"] = verdict.ne("yes").to_numpy()
    if data["file"].nunique() == 1:
        view, highlight = view.drop(columns="file"), highlight.drop(columns="file")
    title = "Parameterisation invariance, one step (deterministic)"
    return Table("one_step_invariance", title, data, view, ONE_STEP_NOTE, highlight)


def _mismatch_text(part: pd.DataFrame, verdict: pd.Series) -> str:
    """'; predicted invariant, measured not: a, b; ...' for the families off the prediction."""
    out = ""
    predicted = part["predicted"].astype(str).str.strip().str.lower()
    for said, what in (("yes", "predicted invariant, measured not"), ("no", "predicted not invariant, measured invariant")):  # fmt: skip
        names = part.loc[verdict.eq("no") & predicted.eq(said), "family"].tolist()
        out += f"; {what}: {', '.join(names)}" if names else ""
    undecided = part.loc[verdict.eq("undecided"), "family"].tolist()
    return out + (f"; undecided (no converged solve): {', '.join(undecided)}" if undecided else "")


def one_step_claim_rows(one_step: pd.DataFrame) -> list[dict]:
    """Per verdict file and direction: in how many families the measured invariance is the
    predicted one, and where it is not (claims-table fields of analysis/claims/rows.py)."""
    rows = []
    for (_, direction), part in one_step.groupby(["file", "direction"], sort=False):
        verdict = as_predicted(part["match"])
        held = part.loc[part["measured"].eq("invariant"), "family"].tolist()
        grid = _range(part["damping_lo"].iloc[0], part["damping_hi"].iloc[0])
        rows.append(
            dict(
                claim="parameterisation invariance (one step)",
                comparison=f"{direction}, dampings {grid}",
                statistic="families measured invariant (KL/δ < 1e-3 at λ*)",
                value=float(len(held)),
                per_task="invariant: " + (", ".join(held) or "none"),
                n=f"{len(part)} families",
                verdict=f"measured (deterministic): as predicted in {int(verdict.eq('yes').sum())} "
                f"of {len(part)}" + _mismatch_text(part, verdict),
            )
        )
    return rows


FIDELITY_NOTE = (
    "Descriptive (npgbench bench fidelity). Saved 64x64 policies (final: each run's "
    "policy.pt; snapshots: its snapshots/it*.pt during training), each on fresh 2,048-state "
    "batches it samples with its normaliser frozen (n: policies x batch seeds). Every "
    "direction on batch D against the exact natural gradient x*(λ) = (F + λ I)^-1 g of D's "
    "analytic Fisher, the same reference for every direction: mean cosine at λ = 0.01 "
    "[min, max over policies] and at 0.1, cosine with the direction's own damping model, "
    "and the median of x^T F x / x*^T F x* (0.01). Steps of KL kl_delta computed on half A "
    "of D: first-order gain g^T step on A (in-sample), on the other half B (other "
    "trajectories) and on a fresh batch E, and the measured KL on B and E over kl_delta. "
    "Directions: vanilla (x = g), npg_exact (sampled Fisher, 0.01), npg_diag (sampled, "
    "0.01), npg_kfac (sampled, 0.01, this batch's factors only), npg_cg (10 CG iterations, "
    "0.1) and the analytic x*(0.01) and x*(0.1). All tasks: the mean of the task values "
    "(the range: over every policy). Measurements of different folders are not pooled."
)
_MEANS = {
    "cos": "cosine_ref0.01", "cos01": "cosine_ref0.1", "own": "cosine_own",
    "gain_in": "gain_fit", "gain_B": "gain_heldout", "gain_E": "gain_fresh",
}  # fmt: skip


def _cell(part: pd.DataFrame) -> dict:
    """One direction on one task and stage: means, ranges over policies, counts."""
    by_policy = part.groupby("policy")["cosine_ref0.01"].mean()
    out = {k: float(part[c].mean()) for k, c in _MEANS.items()}
    out.update(
        cos_lo=float(by_policy.min()),
        cos_hi=float(by_policy.max()),
        kl_ratio=float(part["kl_ratio_ref0.01"].median()),
        kl_B=float((part["kl_heldout"] / part["kl_delta"]).mean()),
        kl_E=float((part["kl_fresh"] / part["kl_delta"]).mean()),
        policies=int(part["policy"].nunique()),
        n=int(len(part)),
    )
    return out


def fidelity_frame(fidelity: pd.DataFrame) -> pd.DataFrame:
    """Rows: stage (final or snapshot policies, of which variant's runs) x direction x (each
    task, then all tasks), in the file's direction order."""
    frame = fidelity.assign(
        stage=np.where(fidelity["policy"].astype(str).str.contains("@"), "snapshots", "final")
        + " of "
        + fidelity["algo"].astype(str)
        + " runs"
    )
    rows = []
    keys = ["file", "stage", "direction"]
    for (file, stage, direction), part in frame.groupby(keys, sort=False):
        ids = {"file": file, "stage": stage, "direction": direction}
        per_task = [{**ids, "env": env, **_cell(task)} for env, task in part.groupby("env")]
        rows += per_task
        if len(per_task) > 1:
            tasks = pd.DataFrame(per_task)
            mean = tasks.drop(columns=[*keys, "env"]).mean(skipna=False).to_dict()
            mean.update(cos_lo=tasks["cos_lo"].min(), cos_hi=tasks["cos_hi"].max())
            mean.update(policies=int(tasks["policies"].sum()), n=int(tasks["n"].sum()))
            rows.append({**ids, "env": "all tasks", **mean})
    return pd.DataFrame(rows)


def fidelity_table(fidelity: pd.DataFrame) -> Table:
    data = fidelity_frame(fidelity)
    f2 = lambda x: fmt(x, 2)  # noqa: E731
    view = pd.DataFrame(
        {
            "folder": data["file"],
            "policies": data["stage"],
            "direction": data["direction"],
            "task": data["env"].str.split("-v").str[0],
            "n": [f"{p} x {n // max(p, 1)}" for p, n in zip(data["policies"], data["n"])],
            "cos x*(0.01) [range]": [
                f"{fmt(c, 2)} [{fmt(a, 2)}, {fmt(b, 2)}]"
                for c, a, b in zip(data["cos"], data["cos_lo"], data["cos_hi"])
            ],
            "cos x*(0.1)": data["cos01"].map(f2),
            "cos own": data["own"].map(f2),
            "KL ratio x*(0.01)": data["kl_ratio"].map(f2),
            "gain in-sample": data["gain_in"].map(lambda v: f"{v:.4f}"),
            "gain held out (B)": data["gain_B"].map(lambda v: f"{v:.4f}"),
            "gain fresh (E)": data["gain_E"].map(lambda v: f"{v:.4f}"),
            "KL B / δ": data["kl_B"].map(f2),
            "KL E / δ": data["kl_E"].map(f2),
        }
    )
    if data["file"].nunique() == 1:
        view = view.drop(columns="folder")
    title = "Fisher fidelity at the benchmark's size (offline)"
    return Table("fisher_fidelity_64", title, data, view, FIDELITY_NOTE)
