"""Report tables: numeric frames for CSV, formatted views for markdown / HTML.

Every builder takes the per-run summary (summary.summarise_runs: one row per run) and
returns a Table. Per-env statistics are over seeds; across-env aggregates are on min-max
normalised scores with stratified bootstrap CIs (aggregate.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from npgbench.analysis.data import variants
from npgbench.analysis.data.table import Table, fmt, fmt_ci, fmt_pct, fmt_pm
from npgbench.analysis.stats import aggregate
from npgbench.analysis.stats import run_metrics as metrics
from npgbench.analysis.stats.run_metrics import censored_median
from npgbench.analysis.stats.summary import Options, score_matrices
from npgbench.harness.core.run_files import RunStatus

KEYS = ["env", "group"]


def _steps_text(steps: float) -> str:
    return fmt(steps) if np.isfinite(steps) else "> budget"


def convergence(summary: pd.DataFrame, limits: dict, opts: Options) -> Table:
    rows, view = [], []
    source = summary["final_eval_source"].iloc[0] if len(summary) else ""
    for (env, group), df in summary.groupby(KEYS, sort=True):
        mean, half = metrics.mean_ci(df["final"])
        eval_mean, eval_half = metrics.mean_ci(df["final_eval"])
        best, best_half = metrics.mean_ci(df["best"])
        steps, k_of_n = censored_median(df["steps_to_threshold"])
        rows.append(
            {
                "env": env,
                "group": group,
                "seeds": len(df),
                "final_eval_mean": eval_mean,
                "final_eval_ci95": eval_half,
                "final_mean": mean,
                "final_ci95": half,
                "best_mean": best,
                "best_ci95": best_half,
                "auc_norm": df["auc"].mean(),
                "threshold": limits[env][0],
                "steps_to_threshold_median": steps,
                "reached": k_of_n,
            }
        )
        view.append(
            {
                "env": env,
                "variant": group,
                "seeds": len(df),
                "final return, evaluation (mean ± 95% CI)": fmt_pm(eval_mean, eval_half),
                "final return, training episodes": fmt_pm(mean, half),
                "best return (max over training)": fmt_pm(best, best_half),
                "norm. AUC": fmt(df["auc"].mean()),
                "threshold": fmt(limits[env][0]),
                "steps to threshold (median; reached)": f"{_steps_text(steps)} ({k_of_n})",
            }
        )
    note = (
        f"Final return, evaluation: {source or 'n/a'} of each seed's final policy (the "
        "primary measure: no exploration noise), then mean ± Student-t 95% CI over seeds. "
        f"Final return, training episodes: mean of the last {fmt_pct(opts.final_frac)} of "
        f"iterations of `{opts.value}` per seed, the same interval. Best return: "
        "the max over training (the protocol of Tianshou's and TD3's tables). Norm. AUC: "
        "time-average return over training, min-max normalised by the env's score range. "
        "Steps to threshold: median over seeds, a seed that never reached the threshold "
        "counted as above every seed that did ('> budget': more than half never reached it). "
        "Thresholds: " + "; ".join(f"{e} {fmt(t)} ({src})" for e, (t, src) in limits.items())
    )
    return Table("convergence", "Convergence", pd.DataFrame(rows), pd.DataFrame(view), note)


def stability(summary: pd.DataFrame, opts: Options) -> Table:
    rows, view = [], []
    for (env, group), df in summary.groupby(KEYS, sort=True):
        spread = metrics.seed_spread(df["final"])
        rec = {
            "env": env,
            "group": group,
            "seeds": len(df),
            "final_std": spread["std"],
            "final_cv": spread["cv"],
            "worst_seed_final": spread["worst"],
            "drawdown_mean": df["drawdown"].mean(),
            "drawdown_max": df["drawdown"].max(),
            "collapse_rate": df["collapsed"].mean(),
            "kl_violation_rate": df["kl_violation"].mean(),
            "skipped_rate": df["skipped"].mean(),
            "failed_line_search_rate": df["failed_line_search"].mean(),
        }
        rows.append(rec)
        view.append(
            {
                "env": env,
                "variant": group,
                "seeds": len(df),
                "std (CV)": f"{fmt(spread['std'])} ({fmt(spread['cv'], 2)})",
                "worst seed": fmt(spread["worst"]),
                "drawdown mean / max": f"{fmt(rec['drawdown_mean'])} / {fmt(rec['drawdown_max'])}",
                "collapse": fmt_pct(rec["collapse_rate"]),
                "KL > 1.5δ": fmt_pct(rec["kl_violation_rate"]),
                "skipped": fmt_pct(rec["skipped_rate"]),
                "failed line search": fmt_pct(rec["failed_line_search_rate"]),
            }
        )
    note = (
        "Spread of the per-seed final return: std (ddof 1), coefficient of variation "
        "std/|mean|, worst seed (the mean and its 95% CI are in the convergence table). Drawdown: "
        "largest fall below the running best. Collapse: a run gave back more than "
        f"{fmt_pct(opts.collapse_frac)} of its gain over its start by the end (gain of at "
        "least 10% of the score range). KL > 1.5δ: share of non-skipped updates whose "
        "measured KL exceeded 1.5 x the target (NPG family; n/a without a target)."
    )
    return Table("stability", "Stability", pd.DataFrame(rows), pd.DataFrame(view), note)


def aggregates(summary: pd.DataFrame, ranges: dict, opts: Options) -> Table | None:
    """IQM / median / mean / optimality gap of normalised final scores across envs."""
    scores, envs, partial = score_matrices(summary, ranges)
    if not scores:
        return None
    est = aggregate.interval_estimates(scores, opts.reps, seed=opts.seed)
    rows, view = [], []
    for group, by_agg in est.items():
        runs = int(np.isfinite(scores[group]).sum())
        rows.append(
            {
                "group": group,
                "tasks": len(envs),
                "runs": runs,
                **{
                    f"{a}{s}": v
                    for a, e in by_agg.items()
                    for s, v in zip(("", "_lo", "_hi"), e, strict=False)
                },
            }
        )
        view.append(
            {
                "variant": group,
                "runs (n)": rows[-1]["runs"],
                **{f"{aggregate_title(a, scores)} [95% CI]": fmt_ci(*e) for a, e in by_agg.items()},
            }
        )
    note = (
        f"Final returns min-max normalised per env ({', '.join(envs)}); stratified bootstrap "
        f"({opts.reps} reps, seed {opts.seed}), percentile 95% CIs, rliable's estimators."
    )
    if partial:
        note += f" Not on every env, left out: {', '.join(partial)}."
    observed = [env for env in envs if ranges[env][2] == "observed min/max"]
    if observed:  # the suite gave no score_ranges: the scale depends on which runs are here
        note += (
            f" No score range in the suite for {', '.join(observed)}: normalised by the "
            "lowest and highest final return of these runs, so the scores change with the "
            "runs included."
        )
    return Table("aggregate", "Aggregate across envs", pd.DataFrame(rows), pd.DataFrame(view), note)


def aggregate_title(name: str, scores: dict[str, np.ndarray]) -> str:
    """Column title of an aggregate: "IQM (= mean: n < 4)" where some variant has under 4
    scores, since the 25% trim then cuts nothing (floor(0.25 n) = 0)."""
    counts = [int(np.isfinite(s).sum()) for s in scores.values()]
    if name == "IQM" and min(counts, default=0) < 4:
        return "IQM (= mean: n < 4)"
    return name


def improvement(summary: pd.DataFrame, ranges: dict, opts: Options) -> Table | None:
    """P(X > Y) for every pair of variants, with bootstrap CIs."""
    scores, _, _ = score_matrices(summary, ranges)
    if len(scores) < 2:
        return None
    rows, view = [], []
    for x, y in itertools.combinations(sorted(scores), 2):
        p = aggregate.improvement_estimate(scores[x], scores[y], opts.reps, seed=opts.seed)
        n_x, n_y = (int(np.isfinite(scores[g]).sum()) for g in (x, y))
        rows.append(
            {"x": x, "y": y, "n_x": n_x, "n_y": n_y, "p_x_better": p[0], "lo": p[1], "hi": p[2]}
        )
        view.append({"X": x, "Y": y, "n X / Y": f"{n_x} / {n_y}", "P(X > Y) [95% CI]": fmt_ci(*p)})
    note = "Probability that a run of X beats a run of Y on a random env (Mann-Whitney, rliable)."
    return Table(
        "improvement", "Probability of improvement", pd.DataFrame(rows), pd.DataFrame(view), note
    )


def sensitivity(summary: pd.DataFrame, runs: pd.DataFrame) -> Table | None:
    """Final return per value of each swept hyperparameter (meta.json "grid"), per comparison
    group: runs equal in every other setting (variants.comparisons)."""
    parts = [variants.per_value(summary, runs, key) for key in variants.grid_keys(runs)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return None
    data = (
        pd.concat(parts, ignore_index=True)
        .assign(value=lambda d: d["value_text"])
        .drop(columns="value_text")
    )
    view = data.assign(
        final=[fmt_pm(m, s) for m, s in zip(data["final_mean"], data["final_std"], strict=True)]
    )
    view = view[["env", "group", "key", "value", "seeds", "final"]].rename(
        columns={"group": "variant"}
    )
    return Table(
        "sensitivity",
        "Hyperparameter sensitivity",
        data,
        view,
        "Final return (mean ± std over seeds) per swept value, among runs that differ "
        "only in that setting (variant = algorithm, plus what sets its group apart).",
    )


def overview(runs: pd.DataFrame) -> Table:
    """What was run: per (env, variant) the seeds, config hash, budget and wall time."""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    data = (
        done.groupby(KEYS, sort=True)
        .agg(
            algo=("algo", "first"),
            seeds=("seed", lambda s: ",".join(map(str, sorted(s)))),
            config_hash=("config_hash", lambda s: ",".join(sorted(set(map(str, s))))),
            total_steps=("total_steps", "max"),
            num_params=("num_params", "max"),
            wall_time_s=("wall_time_s", "mean"),
        )
        .reset_index()
    )
    view = data.rename(columns={"group": "variant"}).assign(
        total_steps=data["total_steps"].map(fmt),
        num_params=data["num_params"].map(fmt),
        wall_time_s=data["wall_time_s"].map(fmt),
    )
    return Table("runs_overview", "Runs", data, view.rename(columns={"wall_time_s": "wall s"}))


def problems(runs: pd.DataFrame) -> Table | None:
    """Failed, incomplete and corrupt runs: listed, never mixed into the other tables."""
    bad = runs[runs["status"] != RunStatus.COMPLETE]
    if bad.empty:
        return None
    data = bad[["run_id", "status", "env", "label", "seed", "error", "path"]].reset_index(drop=True)
    view = data.assign(error=data["error"].astype(str).str.slice(0, 120))
    return Table(
        "excluded_runs",
        "Excluded runs",
        data,
        view,
        "Not complete (or unreadable): excluded from every other table and figure.",
    )
