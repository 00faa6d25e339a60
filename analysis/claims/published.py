"""Ours beside published numbers: a suite's [[references]], each under its publisher's own
estimator (analysis/stats/estimators.py), with a ratio whose CI carries both sides' uncertainty.

A reference names an env and a registered algorithm, or a variant label (suites: `label =
"npg"` attaches Tianshou's NPG numbers to the npg_cg variant of that name). It is compared
only where the comparison is like for like:

- a reference from a known publisher is compared only in the suite that runs at that
  publisher's settings (estimators.Publisher.replicated_by); a suite with other settings
  (a controlled comparison at one KL budget, say) lists it as not compared, with the reason;
- a reference without runs of ours is left out of the table and named in its note.

The ratio ours / theirs gets a 95% CI from the delta method on the log scale (linear when a
value is not positive): var = (se_ours / ours)^2 + (se_theirs / theirs)^2, Student-t with
Welch-Satterthwaite degrees of freedom; se_theirs from their std over their seeds where the
publisher's seed count is known, else 0 (said in the row). The comparison reads "above" or
"below" only when that CI excludes 1, else "within spread".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.data import variants
from npgbench.analysis.data.table import Table, fmt, fmt_pm
from npgbench.analysis.stats import estimators
from npgbench.analysis.stats.summary import SuiteInfo
from npgbench.harness.core.run_files import RunStatus
from scipy import stats


def matching_groups(frame: pd.DataFrame, ref: dict) -> list[tuple[str, pd.DataFrame]]:
    """[(group, its per-iteration rows)] a reference applies to on its env: the variant with
    the reference's label, else every group of its algorithm; [] when we have no runs."""
    on_env = frame[frame["env"] == ref["env"]]
    key = "label" if ref.get("label") else "algo"
    mine = on_env[on_env[key] == ref[key]]
    return list(mine.groupby("group", sort=True))


def env_version(env: str) -> str:
    """ "Hopper-v5" -> "v5" ("" without a version suffix)."""
    tail = env.rsplit("-", 1)[-1]
    return tail if tail.startswith("v") and tail[1:].isdigit() else ""


def eval_episodes(runs: pd.DataFrame, run_ids) -> str:
    """The eval.episodes setting of these runs ("10", or "5/10" when they differ)."""
    settings = variants.run_settings(runs[runs["run_id"].isin(set(run_ids))])
    values = sorted({str(s.get("eval.episodes", "?")) for s in settings.values()})
    return "/".join(values) or "?"


def ratio_ci(
    ours: float, se_ours: float, n_ours: int, theirs: float, se_theirs: float, n_theirs
) -> tuple[float, float, float]:
    """(ratio, lo, hi): ours / theirs with the module docstring's 95% CI (NaN ends when our
    standard error is unknown)."""
    if not theirs or not np.isfinite(theirs) or not np.isfinite(ours):
        return math.nan, math.nan, math.nan
    ratio = ours / theirs
    rel_a = se_ours / abs(ours) if ours else math.nan
    rel_b = se_theirs / abs(theirs) if np.isfinite(se_theirs) and n_theirs else 0.0
    var = rel_a**2 + rel_b**2
    if not np.isfinite(var) or n_ours < 2:
        return ratio, math.nan, math.nan
    parts = rel_a**4 / (n_ours - 1) + (rel_b**4 / (n_theirs - 1) if rel_b else 0.0)
    dof = var**2 / parts if parts > 0 else n_ours - 1
    half = float(stats.t.ppf(0.975, dof)) * math.sqrt(var)
    if ours > 0 and theirs > 0:
        return ratio, ratio * math.exp(-half), ratio * math.exp(half)
    return ratio, ratio - abs(ratio) * half, ratio + abs(ratio) * half


def comparison(lo: float, hi: float) -> str:
    """ "above" / "below" only when the ratio's CI excludes 1."""
    if np.isfinite(lo) and lo > 1:
        return "above"
    if np.isfinite(hi) and hi < 1:
        return "below"
    return "within spread" if np.isfinite(lo) else "n/a (no CI)"


def differences(ref: dict, est: estimators.Estimate, our_steps: float) -> str:
    """What separates our number from theirs besides the implementation."""
    out = []
    if est.curve == "eval_return_mean" and estimators.estimator_of(ref) == "max_of_mean":
        out.append("ours evaluates the mean action")
    ours = env_version(ref["env"])
    if ref["env_version"] and ours and ref["env_version"] != ours:
        out.append(f"env {ref['env_version']} (theirs) vs {ours}")
    if (
        np.isfinite(our_steps)
        and ref["steps"]
        and abs(our_steps - ref["steps"]) > 0.01 * ref["steps"]
    ):
        out.append(f"{fmt(float(ref['steps']))} steps (theirs) vs {fmt(float(our_steps))}")
    return "; ".join(out) or "none recorded"


def reference_row(ref: dict, group: str, rows: pd.DataFrame, runs: pd.DataFrame, opts) -> dict:
    """One comparison row (numbers for the CSV); rows: the group's per-iteration frame."""
    est = estimators.estimate(ref, rows, opts.final_frac)
    se_theirs, n_theirs = estimators.their_se(ref)
    ratio, lo, hi = ratio_ci(est.value, est.se, est.n, ref["value"], se_theirs, n_theirs)
    known = estimators.publisher(ref)
    our_steps = float(runs.loc[runs["run_id"].isin(rows["run_id"]), "total_steps"].max())
    return {
        "env": ref["env"],
        "group": group,
        "algo": ref["algo"],
        "ref_label": ref.get("label") or "",
        "publisher": known.short if known else ref["source"],
        "protocol": ref["protocol"],
        "estimator": estimators.estimator_of(ref),
        "estimator_text": estimators.estimator_text(ref, est, eval_episodes(runs, rows["run_id"])),
        "our_column": est.curve,
        "n": est.n,
        "ours": est.value,
        "ours_std": est.std,
        "ours_se": est.se,
        "theirs": ref["value"],
        "theirs_std": ref.get("std"),
        "theirs_n": n_theirs,
        "theirs_se": se_theirs,
        "ratio": ratio,
        "ratio_lo": lo,
        "ratio_hi": hi,
        "comparison": comparison(lo, hi),
        "differences": differences(ref, est, our_steps),
        "source": ref["source"],
        "their_env_version": ref["env_version"],
        "our_env_version": env_version(ref["env"]),
        "their_steps": ref["steps"],
        "our_steps": our_steps,
    }


def reference_view(row: dict) -> dict:
    """The formatted cells of one comparison row."""
    std = row["theirs_std"] if row["theirs_std"] is not None else math.nan
    theirs = fmt_pm(row["theirs"], std) + (f" ({row['theirs_n']})" if row["theirs_n"] else "")
    ratio = fmt(row["ratio"])
    if np.isfinite(row["ratio_lo"]):
        ratio += f" [{fmt(row['ratio_lo'])}, {fmt(row['ratio_hi'])}]"
    return {
        "env": row["env"],
        "variant": row["group"],
        "estimator (theirs, applied to ours)": row["estimator_text"],
        "ours ± std (seeds)": f"{fmt_pm(row['ours'], row['ours_std'])} ({row['n']})",
        "theirs ± std (seeds)": theirs,
        "ours / theirs [95% CI]": ratio,
        "ours vs theirs": row["comparison"],
        "differences": row["differences"],
        "source": row["source"],
    }


def partition(frame: pd.DataFrame, suite: SuiteInfo):
    """(compared [(ref, group, rows)], elsewhere [refs replicated by another suite],
    no_runs [refs without runs of ours]) of a suite's references on envs it ran."""
    compared, elsewhere, no_runs = [], [], []
    for ref in suite.references:
        if ref["env"] not in set(frame["env"]):
            continue  # a narrowed sweep: no runs on this env at all
        known = estimators.publisher(ref)
        if known is not None and known.replicated_by != suite.name:
            elsewhere.append(ref)
            continue
        groups = matching_groups(frame, ref)
        compared += [(ref, group, rows) for group, rows in groups]
        if not groups:
            no_runs.append(ref)
    return compared, elsewhere, no_runs


def not_compared_text(elsewhere: list[dict]) -> str:
    """Why a suite's references from other protocols are not set beside its runs."""
    by = {}
    for ref in elsewhere:
        known = estimators.publisher(ref)
        by.setdefault(known.short, known.replicated_by)
    where = "; ".join(
        f"{short}: {'suite ' + suite if suite else 'no suite here runs at its settings'}"
        for short, suite in sorted(by.items())
    )
    return (
        f"Published numbers not compared here: {len(elsewhere)} references of this suite's "
        "file come from sources whose settings this suite's configs do not follow, so ours "
        f"and theirs would not be one protocol. Where each is compared like for like: {where}."
    )


def references(frame: pd.DataFrame, runs: pd.DataFrame, suite: SuiteInfo, opts) -> tuple:
    """(Table of ours beside every comparable reference, or None; when there is no table, a
    paragraph naming the references not compared, or ""; with a table it is in the note)."""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    frame = frame[frame["run_id"].isin(done["run_id"])]
    compared, elsewhere, no_runs = partition(frame, suite)
    text = not_compared_text(elsewhere) if elsewhere else ""
    if not compared:
        return None, text
    rows = [reference_row(ref, group, df, done, opts) for ref, group, df in compared]
    note = (
        "Each row applies the publisher's own estimator to our runs (named per row): Tianshou "
        "(thu-ml/tianshou examples/mujoco/tools.py) takes the max over time of the seed-mean "
        "test-return curve and the std across seeds at that step; CleanRL "
        "(openrlbenchmark/rlops.py) the mean of each run's last 100 training episodes, then "
        "mean ± std over runs; openai/baselines does not state its estimator (assumed: as "
        "CleanRL's). Both ± are np.std over seeds (ddof 0), as published. The ratio's 95% CI "
        "carries our standard error and theirs (std / sqrt(seeds - 1), where their seed count "
        "is known; log-scale delta method, Welch-Satterthwaite t); 'above' / 'below' only when "
        "it excludes 1, else 'within spread'. Env versions and budgets that differ are named."
    )
    if no_runs:
        missing = sorted({f"{r.get('label') or r['algo']} on {r['env']}" for r in no_runs})
        note += f" Not shown, no runs of ours: {', '.join(missing)}."
    data = pd.DataFrame(rows)
    view = pd.DataFrame([reference_view(r) for r in rows])
    note += f" {text}" if text else ""
    return Table("references", "Published results", data, view, note), ""
