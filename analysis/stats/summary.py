"""Per-run summaries with their env context: score ranges, thresholds, suite information.

Sits between metrics.py (pure functions of one run) and tables.py (per group): it decides
which score range normalises an env and which threshold defines "solved enough".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from npgbench.analysis.data.curves import run_frames
from npgbench.analysis.data.final_eval import read_final_eval
from npgbench.analysis.data.load import ID_COLUMNS
from npgbench.analysis.stats import reliability
from npgbench.analysis.stats import run_metrics as metrics
from npgbench.analysis.stats.aggregate import normalise


@dataclass(frozen=True)
class SuiteInfo:
    """The fields of a suite the analysis reads (suites.Suite has them under these names)."""

    name: str = ""
    description: str = ""
    thresholds: dict[str, float] = field(default_factory=dict)
    score_ranges: dict[str, dict[str, float]] = field(default_factory=dict)
    references: list[dict[str, Any]] = field(default_factory=list)


def suite_info(suite: Any) -> SuiteInfo:
    """Adapter from a suites.Suite (or anything with those attributes, or None)."""
    if suite is None:
        return SuiteInfo()
    get = (
        (lambda k: suite.get(k)) if isinstance(suite, dict) else (lambda k: getattr(suite, k, None))
    )
    return SuiteInfo(
        name=str(get("name") or ""),
        description=str(get("description") or ""),
        thresholds={k: float(v) for k, v in (get("thresholds") or {}).items()},
        score_ranges={
            k: {"min": float(v["min"]), "max": float(v["max"])}
            for k, v in (get("score_ranges") or {}).items()
        },
        references=list(get("references") or []),
    )


def load_suite_info(name_or_path: str | Path) -> SuiteInfo:
    """Load a suite by name or path through suites.load_suite (no registry check, no torch);
    ValueError (suites' ConfigError) on a bad name or file."""
    from npgbench.suites import load_suite

    return suite_info(load_suite(name_or_path))


@dataclass(frozen=True)
class Options:
    """Analysis choices shared by every table and figure of one report."""

    value: str = "return_mean"
    """Return column scored: return_mean (training episodes) or eval_return_mean."""
    final_frac: float = 0.1
    threshold_frac: float = 0.8
    collapse_frac: float = 0.5
    reps: int = 2000
    seed: int = 0
    points: int = 101


def score_ranges(
    frame: pd.DataFrame, suite: SuiteInfo, value: str
) -> dict[str, tuple[float, float, str]]:
    """env -> (lo, hi, source). The suite's score_ranges when given; otherwise the lowest
    and highest forward-filled return observed in that env over every run and iteration
    (the lowest is usually the untrained policy: our stand-in for a random score)."""
    out = {}
    for env, df in frame.groupby("env", sort=True):
        if env in suite.score_ranges:
            rng = suite.score_ranges[env]
            out[env] = (rng["min"], rng["max"], "suite")
            continue
        filled = df.groupby("run_id", sort=False)[value].ffill()
        lo, hi = float(filled.min()), float(filled.max())
        out[env] = (lo, hi if hi > lo else lo + 1.0, "observed min/max")
    return out


def thresholds(
    finals: pd.DataFrame, suite: SuiteInfo, ranges: dict, frac: float
) -> dict[str, tuple[float, str]]:
    """env -> (threshold, source): the suite's, else lo + frac * (best - lo) where best is
    the best across-seed mean final return of any group in that env (frac * best when the
    range starts at 0; written this way so negative-return envs work too)."""
    out = {}
    for env, df in finals.groupby("env", sort=True):
        if env in suite.thresholds:
            out[env] = (suite.thresholds[env], "suite")
            continue
        best = df.groupby("group")["final"].mean().max()
        lo = ranges[env][0]
        out[env] = (
            lo + frac * (best - lo) if np.isfinite(best) else math.nan,
            f"{frac:g} of the best final return",
        )
    return out


def summarise_runs(
    frame: pd.DataFrame, suite: SuiteInfo, opts: Options, runs: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, dict, dict]:
    """(per-run summary table, score ranges, thresholds) for the complete runs of one study.

    Training-return metrics (final, auc, drawdown, ...) read opts.value; the evaluation
    metrics (reliability.eval_summary) and the step diagnostics sit beside them. With `runs`
    (load.RunSet.runs, which has each run's path) the final return of the 50-episode
    final_eval.json is attached as `final_eval` (see with_final_eval)."""
    ranges = score_ranges(frame, suite, opts.value)
    ids, finals = [], []
    per_run = list(run_frames(frame))
    for _, df in per_run:
        ids.append({c: df[c].iloc[0] for c in ID_COLUMNS})
        finals.append(metrics.final_return(df[opts.value].to_numpy(float), opts.final_frac))
    first = pd.DataFrame(ids).assign(final=finals)
    limits = thresholds(first, suite, ranges, opts.threshold_frac)
    rows = []
    for (_, df), id_row in zip(per_run, ids, strict=False):
        env = id_row["env"]
        rows.append(
            {
                **id_row,
                **metrics.run_summary(
                    df,
                    opts.value,
                    opts.final_frac,
                    ranges[env][:2],
                    limits[env][0],
                    opts.collapse_frac,
                ),
                **reliability.eval_summary(df, *ranges[env][:2]),
                **reliability.step_measures(df),
            }
        )
    return with_final_eval(pd.DataFrame(rows), runs), ranges, limits


FINAL_EVAL_FILE = "final_eval.json (50 mean-action episodes)"
FINAL_EVAL_FALLBACK = f"last {reliability.FINAL_EVAL_POINTS} evaluations"


def with_final_eval(summary: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """Add `final_eval` and `final_eval_source`. One estimator for the whole study: the
    final_eval.json mean when every run has a valid one, otherwise the mean of the last
    evaluation points for every run (mixing the two would compare different estimators).
    `final_eval_file_reason` keeps, per run, why its file was not used (empty when it was)."""
    if summary.empty:
        return summary.assign(final_eval=[], final_eval_source=[], final_eval_file_reason=[])
    paths = {} if runs is None or "path" not in runs else dict(zip(runs["run_id"], runs["path"]))
    found = [read_final_eval(paths[r]) if r in paths else None for r in summary["run_id"]]
    reasons = [f.reason if f is not None else "run directory unknown" for f in found]
    if all(not r for r in reasons):
        final, source = [f.mean for f in found], FINAL_EVAL_FILE
    else:
        final, source = summary["final_eval_last3"].to_list(), FINAL_EVAL_FALLBACK
    return summary.assign(
        final_eval=final, final_eval_source=source, final_eval_file_reason=reasons
    )


def score_matrices(
    summary: pd.DataFrame, ranges: dict, column: str = "final"
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """({group: normalised scores_RT}, envs (tasks), groups left out for missing an env).

    Rows are seeds in sorted order, NaN-padded where an env has fewer seeds."""
    envs = sorted(summary["env"].unique())
    out, partial = {}, []
    for group, df in summary.groupby("group", sort=True):
        if set(df["env"]) != set(envs):
            partial.append(group)
            continue
        cols = [
            normalise(df[df["env"] == env][column].to_numpy(float), *ranges[env][:2])
            for env in envs
        ]
        scores_RT = np.full((max(map(len, cols)), len(envs)), np.nan)
        for t, col in enumerate(cols):
            scores_RT[: len(col), t] = col
        if np.isfinite(scores_RT).any(axis=0).all():
            out[group] = scores_RT
        else:
            partial.append(group)
    return out, envs, partial
