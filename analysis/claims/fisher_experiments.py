"""Fisher-side experiment analyses, each shown only when the data supports it.

- damping: runs that differ only in update.damping, with fisher_cond and skipped updates
- Fisher fidelity: runs that logged fidelity_cosine / fidelity_kl_ratio
- cost scaling: the fisher-cost benchmark CSV read by load.read_fisher_cost
  (harness/bench/fisher_cost.py: method, n_params, hidden, batch, seconds_fit, seconds_solve,
  seconds_total; default path results/bench/fisher_cost.csv; seconds = seconds_total)

Same layout as experiments.py: small pure functions, then Table builders (None when not
applicable); the definitions are restated in every table's note.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.data.table import Table, fmt, fmt_pct, fmt_pm
from npgbench.analysis.data.variants import comparisons

DAMPING_KEY = "update.damping"


# ----------------------------------------------------------------------------- pure functions


def top_reason(reasons) -> tuple[str, int]:
    """Most common non-empty skip_reason and its count (ties: alphabetical first)."""
    texts = pd.Series([str(r) for r in reasons if isinstance(r, str) and r.strip()], dtype=str)
    if texts.empty:
        return "", 0
    counts = texts.value_counts()
    best = sorted(counts[counts == counts.max()].index)[0]
    return best, int(counts[best])


def fidelity_stats(cosine_T, ratio_T) -> dict[str, float]:
    """One run's fidelity: mean, min and last recorded cosine, mean KL ratio, points logged."""
    cos = np.asarray(cosine_T, dtype=float)
    cos = cos[np.isfinite(cos)]
    ratio = np.asarray(ratio_T, dtype=float)
    ratio = ratio[np.isfinite(ratio)]
    if not len(cos):
        return {
            "cos_mean": math.nan,
            "cos_min": math.nan,
            "cos_final": math.nan,
            "kl_ratio_mean": float(ratio.mean()) if len(ratio) else math.nan,
            "points": 0,
        }
    return {
        "cos_mean": float(cos.mean()),
        "cos_min": float(cos.min()),
        "cos_final": float(cos[-1]),
        "kl_ratio_mean": float(ratio.mean()) if len(ratio) else math.nan,
        "points": len(cos),
    }


def loglog_fit(n, seconds) -> dict[str, float]:
    """Least-squares slope k of log(seconds) on log(n) (seconds ~ c n^k) over the finite,
    positive points; NaN with fewer than two distinct n."""
    n, s = np.asarray(n, dtype=float), np.asarray(seconds, dtype=float)
    ok = np.isfinite(n) & np.isfinite(s) & (n > 0) & (s > 0)
    n, s = n[ok], s[ok]
    if len(np.unique(n)) < 2:
        return {"exponent": math.nan, "n_min": math.nan, "n_max": math.nan, "sizes": 0}
    slope = float(np.polyfit(np.log(n), np.log(s), 1)[0])
    return {
        "exponent": slope,
        "n_min": float(n.min()),
        "n_max": float(n.max()),
        "sizes": int(len(np.unique(n))),
    }


# ----------------------------------------------------------------------------- builders


DAMPING_NOTE = (
    "Runs that differ only in update.damping. Final: mean ± std over seeds. cond: "
    "fisher_cond = cond(F + damping I) where recorded (npg_exact every update, other "
    "variants on fidelity updates); mean = mean over seeds of each run's mean over "
    "training, max = over all runs and iterations; n/a when not recorded. Skipped: mean "
    "share of updates skipped for a numerical failure; top reason with its count."
)
FIDELITY_NOTE = (
    "Every fidelity_every updates the direction x is compared with the exact natural "
    "gradient x* = (F + lambda I)^-1 g of the dense analytic Fisher, lambda the variant's "
    "own update.damping (column 'x* lambda'; 0.01 for a variant without damping, such as "
    "vanilla): variants with different lambda are compared with different references, not "
    "one common direction. cos = cos(x, x*), KL ratio = x^T F x / x*^T F x* (predicted KL of "
    "x over that of x*). Mean and final (last recorded) per run, averaged over seeds; min "
    "over all runs. Own damping: the same against x*_own = (F + D)^-1 g, D the variant's own "
    "damping model (npg_kfac: factored Tikhonov, gamma_A G (x) I + gamma_G I (x) A + lambda "
    "I; the others: lambda I, the same as x*); the gap between the two cosines is what "
    "K-FAC's damping model, not its curvature approximation, costs. n/a: runs that did not "
    "record it."
)


def damping(frame: pd.DataFrame, summary: pd.DataFrame, runs: pd.DataFrame) -> Table | None:
    """Per (env, variant, damping): final return, fisher_cond over training, skipped updates."""
    cmp = comparisons(runs, DAMPING_KEY)
    cmp = cmp[cmp["run_id"].isin(summary["run_id"])]
    if cmp.empty or pd.to_numeric(cmp["value_text"], errors="coerce").isna().any():
        return None
    per_run = summary.set_index("run_id")[["final", "skipped"]]
    cond_col = "fisher_cond" if "fisher_cond" in frame else None
    rows, view = [], []
    for (env, group, text), c in cmp.groupby(["env", "group", "value_text"], sort=False):
        sub = frame[frame["run_id"].isin(c["run_id"])]
        rec, shown = _damping_row(env, group, text, c, sub, per_run.loc[c["run_id"]], cond_col)
        rows.append(rec)
        view.append(shown)
    return Table("damping", "Damping", pd.DataFrame(rows), pd.DataFrame(view), DAMPING_NOTE)


def _damping_row(env, group, text: str, c, sub, per_run, cond_col) -> tuple[dict, dict]:
    """(record, shown row) of one damping value: c its comparison rows, sub its runs' rows
    of the frame, per_run their final and skipped share, cond_col fisher_cond or None."""
    cond = sub[cond_col].astype(float) if cond_col else pd.Series(dtype=float)
    cond_runs = cond.groupby(sub["run_id"]).mean() if cond_col else cond
    skipped = sub[sub["skipped"] == 1.0]
    reason, count = top_reason(skipped.get("skip_reason", pd.Series(dtype=str)))
    finals = per_run["final"]
    rec = {
        "env": env,
        "group": group,
        "algo": c["algo"].iloc[0],
        "damping": float(text),
        "seeds": len(c),
        "final_mean": float(finals.mean()),
        "final_std": float(finals.std()),
        "cond_mean": float(cond_runs.mean()),
        "cond_max": float(cond.max()) if cond.notna().any() else math.nan,
        "skipped_rate": float(per_run["skipped"].mean()),
        "top_skip_reason": reason,
        "top_skip_count": count,
    }
    shown = {
        "env": env,
        "variant": group,
        "damping": text,
        "seeds": len(c),
        "final": fmt_pm(rec["final_mean"], rec["final_std"]),
        "cond mean / max": f"{fmt(rec['cond_mean'])} / {fmt(rec['cond_max'])}",
        "skipped": fmt_pct(rec["skipped_rate"]),
        "top skip reason": f"{reason[:70]} ({count})" if reason else "-",
    }
    return rec, shown


def fidelity(frame: pd.DataFrame, damping: dict[str, float] | None = None) -> Table | None:
    """Per (env, variant): cosine with the exact natural gradient and KL ratio, over seeds.
    damping: variant -> the lambda of its reference x* (shown per row; n/a when None)."""
    if "fidelity_cosine" not in frame or not frame["fidelity_cosine"].notna().any():
        return None
    optional = ("fidelity_kl_ratio", "fidelity_cosine_own", "fidelity_kl_ratio_own")
    df = frame.assign(**{c: frame[c] if c in frame else np.nan for c in optional})
    rows, view = [], []
    for (env, group), g in df.groupby(["env", "group"], sort=True):
        per_run = pd.DataFrame([_run_fidelity(r) for _, r in g.groupby("run_id", sort=True)])
        per_run = per_run[per_run["points"] > 0]
        if per_run.empty:
            continue
        rec, shown = _fidelity_row(env, group, g["algo"].iloc[0], per_run)
        lam = (damping or {}).get(group, math.nan)
        rec["reference_damping"] = lam
        shown = {
            **dict(list(shown.items())[:2]),
            "x* lambda": fmt(lam),
            **dict(list(shown.items())[2:]),
        }
        rows.append(rec)
        view.append(shown)
    return (
        Table(
            "fisher_fidelity",
            "Fisher fidelity",
            pd.DataFrame(rows),
            pd.DataFrame(view),
            FIDELITY_NOTE,
        )
        if rows
        else None
    )


def _run_fidelity(run: pd.DataFrame) -> dict[str, float]:
    """fidelity_stats of one run against the common reference, plus the mean cosine and KL
    ratio against its own damping model (cos_own_mean, kl_ratio_own_mean)."""
    own = fidelity_stats(run["fidelity_cosine_own"], run["fidelity_kl_ratio_own"])
    return {
        **fidelity_stats(run["fidelity_cosine"], run["fidelity_kl_ratio"]),
        "cos_own_mean": own["cos_mean"],
        "kl_ratio_own_mean": own["kl_ratio_mean"],
    }


def _fidelity_row(env, group, algo: str, per_run: pd.DataFrame) -> tuple[dict, dict]:
    """(record, shown row) of one (env, variant) from its runs' fidelity_stats (points > 0)."""
    rec = {
        "env": env,
        "group": group,
        "algo": algo,
        "seeds": len(per_run),
        "points": int(per_run["points"].sum()),
        "cos_mean": per_run["cos_mean"].mean(),
        "cos_min": per_run["cos_min"].min(),
        "cos_final": per_run["cos_final"].mean(),
        "kl_ratio_mean": per_run["kl_ratio_mean"].mean(),
        "cos_own_mean": per_run["cos_own_mean"].mean(),
        "kl_ratio_own_mean": per_run["kl_ratio_own_mean"].mean(),
    }
    shown = {
        "env": env,
        "variant": group,
        "seeds": rec["seeds"],
        "points": rec["points"],
        "cos mean": fmt(rec["cos_mean"]),
        "cos min": fmt(rec["cos_min"]),
        "cos final": fmt(rec["cos_final"]),
        "KL ratio mean": fmt(rec["kl_ratio_mean"]),
        "cos mean (own damping)": fmt(rec["cos_own_mean"]),
        "KL ratio mean (own damping)": fmt(rec["kl_ratio_own_mean"]),
    }
    return rec, shown


def _first_text(values: pd.Series) -> str:
    return next((v for v in values.astype(str) if v and v != "nan"), "")


def cost_scaling(points: pd.DataFrame | None) -> Table | None:
    """Fitted log-log exponent of benchmark time vs parameter count per method, beside the
    method's claimed cost. None without a benchmark method measured at two sizes or more."""
    if points is None or points.empty:
        return None
    bench = points[points["source"] == "fisher-cost benchmark"]
    rows, view = [], []
    for label, df in bench.groupby("label", sort=True):
        pts = df.groupby("num_params", sort=True)["seconds"].median()
        fit, tail = loglog_fit(pts.index, pts), loglog_fit(pts.index[-3:], pts.iloc[-3:])
        # the claim the preconditioner's config declares, written by the benchmark beside
        # its timings (harness/bench/fisher_cost.py); "" for CSVs without one
        claim, expected = (_first_text(df[c]) for c in ("claim", "expected_exponent"))
        rows.append(
            {
                "method": label,
                **fit,
                "exponent_largest3": tail["exponent"],
                "claim": claim,
                "expected_exponent": expected,
            }
        )
        view.append(
            {
                "method": label,
                "fitted exponent": fmt(fit["exponent"], 2),
                "3 largest n": fmt(tail["exponent"], 2),
                "n range (sizes)": f"{fmt(fit['n_min'])}-{fmt(fit['n_max'])} ({fit['sizes']})",
                "expected": expected or "?",
                "claimed cost": claim or "-",
            }
        )
    if not any(np.isfinite(r["exponent"]) for r in rows):
        return None
    batch = bench["batch"].dropna().unique() if "batch" in bench else []
    note = (
        "Exponent k of seconds ~ c n^k: least-squares slope of log(fit + solve seconds) "
        "on log(parameter count n) over every size the benchmark ran, and over the 3 "
        "largest (fixed costs flatten the slope at small n). Claimed costs are per update "
        "for R sampled states"
        + (f" (R = {', '.join(fmt(b) for b in sorted(batch))})" if len(batch) else "")
        + "."
    )
    return Table(
        "fisher_cost_scaling", "Fisher cost scaling", pd.DataFrame(rows), pd.DataFrame(view), note
    )
