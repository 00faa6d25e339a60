"""Ours beside published numbers: a suite's [[references]] under each reference's protocol.

A reference names an env and a registered algorithm, or a variant label (suites: `label =
"npg"` attaches Tianshou's NPG numbers to the npg_cg variant of that name). Our number is
taken under the reference's protocol:

- "best" (Tianshou's and TD3's tables): the max over training of the evaluation mean, per
  run, then the mean over seeds. Tianshou's test episodes sample actions (its PG policies
  default to deterministic_eval=False: thu-ml/tianshou tianshou/policy/modelfree/pg.py), so
  the sampled-action evaluation (`eval_sampled_return_mean`, runs with eval.sampled) is used
  when every run of the variant has it, else the mean-action one (`eval_return_mean`), else
  the training-episode return; each row names the column it used.
- "final": our final return (mean of the last 10% of iterations).

Every row also gives our final return, our Student-t 95% CI and n (seeds), their mean and
± std over their seeds, the ratio, and what differs (protocol, env version, budget).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis import metrics, variants
from npgbench.analysis.formatting import Table, fmt, fmt_pm
from npgbench.analysis.summary import SuiteInfo

BEST_COLUMNS = ("best_eval_sampled", "best_eval", "best")
"""Our per-run column for the "best" protocol, in order of preference."""
COLUMN_TEXT = {
    "best_eval_sampled": "best {k}-episode evaluation mean, sampled actions",
    "best_eval": "best {k}-episode evaluation mean, mean action",
    "best": "best training-episode return (no evaluations recorded)",
    "final": "final return",
}
PROTOCOL_TEXT = {"best": "best (max over training)", "final": "final (end of training)"}


def protocol_column(protocol: str, runs_df: pd.DataFrame | None) -> str:
    """Our summary column for a published protocol (see the module docstring)."""
    if protocol != "best":
        return "final"
    if runs_df is None or runs_df.empty:
        return "best"
    return next(c for c in BEST_COLUMNS if c == "best" or runs_df[c].notna().all())


def matching_groups(summary: pd.DataFrame, ref: dict) -> list[tuple[str | None, pd.DataFrame]]:
    """[(group, its per-run summary rows)] a reference applies to on its env: the variant
    with the reference's label, else every group of its algorithm; [(None, empty)] if none."""
    on_env = summary[summary["env"] == ref["env"]]
    if ref.get("label"):
        mine = on_env[on_env["label"] == ref["label"]]
    else:
        mine = on_env[on_env["algo"] == ref["algo"]]
    if mine.empty:
        return [(None, mine)]
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


def differences(ref: dict, column: str | None, our_steps: float) -> str:
    """What separates our number from theirs besides the algorithm's implementation
    (column None: we have no runs for the reference)."""
    out = []
    if column == "best_eval":
        out.append("ours evaluates the mean action")
    elif column == "best" and ref["protocol"] == "best":
        out.append("ours: training episodes (no evaluations)")
    ours = env_version(ref["env"])
    if ref["env_version"] and ours and ref["env_version"] != ours:
        out.append(f"env {ref['env_version']} (theirs) vs {ours}")
    if np.isfinite(our_steps) and ref["steps"] and int(our_steps) != int(ref["steps"]):
        out.append(f"{fmt(float(ref['steps']))} steps (theirs) vs {fmt(float(our_steps))}")
    return "; ".join(out) or "none recorded"


def reference_row(ref: dict, group, df: pd.DataFrame, runs: pd.DataFrame, budgets: dict) -> dict:
    """One comparison row (numbers for the CSV); df: the group's per-run summary rows."""
    column = protocol_column(ref["protocol"], df) if len(df) else None
    ours, half = metrics.mean_ci(df[column]) if column else (math.nan, math.nan)
    final, final_half = metrics.mean_ci(df["final"]) if len(df) else (math.nan, math.nan)
    theirs = ref["value"]
    ratio = ours / theirs if theirs else math.nan
    lo, hi = ((ours - half) / theirs, (ours + half) / theirs) if theirs else (math.nan,) * 2
    if theirs and theirs < 0:  # dividing by a negative number swaps the ends
        lo, hi = hi, lo
    our_steps = budgets.get(ref["env"], math.nan)
    episodes = eval_episodes(runs, df["run_id"]) if len(df) else "?"
    return {
        "env": ref["env"],
        "group": group,
        "algo": ref["algo"],
        "ref_label": ref.get("label") or "",
        "n": int(df[column].notna().sum()) if column else 0,
        "protocol": ref["protocol"],
        "our_column": column or "",
        "our_protocol": COLUMN_TEXT[column].format(k=episodes) if column else "no runs",
        "ours": ours,
        "ours_ci95": half,
        "ours_final": final,
        "ours_final_ci95": final_half,
        "theirs": theirs,
        "theirs_std": ref.get("std"),
        "ratio": ratio,
        "ratio_lo": lo,
        "ratio_hi": hi,
        "differences": differences(ref, column, our_steps),
        "source": ref["source"],
        "their_env_version": ref["env_version"],
        "our_env_version": env_version(ref["env"]),
        "their_steps": ref["steps"],
        "our_steps": our_steps,
    }


def reference_view(row: dict) -> dict:
    """The formatted markdown / HTML cells of one comparison row."""
    theirs = fmt_pm(row["theirs"], row["theirs_std"] if row["theirs_std"] is not None else math.nan)
    ratio = fmt(row["ratio"], 2)
    if np.isfinite(row["ratio_lo"]):
        ratio += f" [{fmt(row['ratio_lo'], 2)}, {fmt(row['ratio_hi'], 2)}]"
    return {
        "env": row["env"],
        "variant": row["group"] or f"{row['ref_label'] or row['algo']} (no runs)",
        "n": row["n"],
        "ours, their protocol (mean ± 95% CI)": fmt_pm(row["ours"], row["ours_ci95"]),
        "ours: column used": row["our_protocol"],
        "ours, final return (mean ± 95% CI)": fmt_pm(row["ours_final"], row["ours_final_ci95"]),
        "theirs (mean ± std)": theirs,
        "ours / theirs [95% CI]": ratio,
        "their protocol": PROTOCOL_TEXT[row["protocol"]],
        "differences": row["differences"],
        "source": row["source"],
    }


def references(summary: pd.DataFrame, runs: pd.DataFrame, suite: SuiteInfo) -> Table | None:
    """Ours beside every published number of the suite whose env we ran."""
    done = runs[runs["status"] == "complete"]
    budgets = done.groupby("env")["total_steps"].max().to_dict()
    rows = [
        reference_row(ref, group, df, done, budgets)
        for ref in suite.references
        if ref["env"] in budgets  # a narrowed sweep: no runs on this env at all
        for group, df in matching_groups(summary, ref)
    ]
    if not rows:
        return None
    note = (
        "Ours under their protocol: for a best-over-training reference, the max over "
        "training of our evaluation mean per run (sampled actions when every run of the "
        "variant has them, as Tianshou's test episodes do; else the mean action; else the "
        "training return: the column used is named per row), then the mean over seeds. "
        "Our 95% CIs are Student-t over the n seeds (as in every per-env table); their ± is "
        "the std over their seeds, not a CI. The ratio's interval is our CI divided by their "
        "mean (their uncertainty is not propagated). Env versions and budgets that differ "
        "are named: the ratio is then indicative only."
    )
    data = pd.DataFrame(rows)
    view = pd.DataFrame([reference_view(r) for r in rows])
    return Table("references", "Published results", data, view, note)
