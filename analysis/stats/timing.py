"""Wall-clock costs from the training runs, robust to a shared machine, and the hook for the
controlled update-cost benchmark.

The training runs were timed on a machine other work shared: an iteration that waited for
a core takes many times its usual length (vanilla's HalfCheetah seeds took 73 s to 1,090 s
for the same work). Means over iterations or runs follow those stalls, so every number here
is a median: per run, the median over iterations of each logged time; per (env, variant),
the median over runs. Throughput is the batch over that median iteration, so steps/s and
s / iteration are one quantity and cannot contradict each other (a mean of per-run rates
beside a mean of per-run times did: 7,927 steps/s beside 0.825 s per 2,048-step iteration).

When the controlled benchmark's CSV is given (`npgbench report --bench PATH`), the cost per
update is read from it: CPU time on frozen batches, arms interleaved (harness/bench); the
CSV needs columns env (optional), a variant (variant / label / algo) and a median CPU time
in seconds (cpu_median_s / median_s / seconds_median / cpu_s), optionally its quartiles
(cpu_q25_s, cpu_q75_s).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from npgbench.analysis.data.table import Table, fmt, fmt_pct
from npgbench.analysis.stats import run_metrics as metrics
from npgbench.analysis.stats.run_metrics import censored_median

KEYS = ["env", "group"]
SHARED_MACHINE = (
    "Measured in the training runs on a shared 2-core machine (other work ran at times), so "
    "every figure is a median: per run over iterations, then over runs; the run wall time "
    "column shows how far whole runs spread."
)


def iteration_parts(run: pd.DataFrame) -> pd.DataFrame:
    """Per-iteration seconds of each component [iterations x parts]: metrics.TIME_PARTS
    (time_update_other = the update minus its logged parts) and extra timers (fidelity)."""
    parts = [c for c in metrics.UPDATE_PARTS if c in run]
    extra = [c for c in run if c.startswith("time_") and c not in metrics.KNOWN_TIMERS]
    logged = run[parts + extra].fillna(0.0).sum(axis=1) if parts or extra else 0.0
    out = pd.DataFrame(index=run.index)
    for c in metrics.TIME_PARTS:
        if c == "time_update_other":
            out[c] = (run["time_update"] - logged).clip(lower=0.0)
        elif c in run:
            out[c] = run[c]
    for c in extra:  # NaN where the diagnostic did not run: no time spent then
        out[c] = run[c].fillna(0.0)
    return out


def run_timing(run: pd.DataFrame) -> dict[str, float]:
    """One run's medians over iterations: iteration, update, each part; batch and wall."""
    run = run.sort_values("iteration")
    parts = iteration_parts(run).dropna(axis=1, how="all")
    steps = run["step"].to_numpy(float)
    batch = float(np.median(np.diff(steps))) if len(steps) > 1 else float(steps[0])
    total = run[["time_sample", "time_update", "time_value"]].sum(axis=1, min_count=3)
    return {
        "iteration_s": float(total.median()),
        "update_s": float(run["time_update"].median()),
        "batch": batch,
        "wall_s": float(run["wall_time"].max()),
        **{c: float(parts[c].median()) for c in parts},
    }


def per_run(frame: pd.DataFrame) -> pd.DataFrame:
    """run_timing of every run, with env and group."""
    rows = [
        {"run_id": rid, "env": df["env"].iloc[0], "group": df["group"].iloc[0], **run_timing(df)}
        for rid, df in frame.groupby("run_id", sort=True)
    ]
    return pd.DataFrame(rows)


def _split_text(split: dict[str, float]) -> str:
    total = sum(v for v in split.values() if np.isfinite(v))
    return ", ".join(
        f"{c[5:]} {fmt_pct(v / total)}"
        for c, v in split.items()
        if np.isfinite(v) and total > 0 and v / total >= 0.005
    )


def wall_clock(frame: pd.DataFrame, summary: pd.DataFrame, bench: pd.DataFrame | None) -> Table:
    """Per (env, variant): median s / iteration and the throughput it implies, median s /
    update (range over runs), the time split, run wall time, seconds to threshold."""

    timing = per_run(frame)
    rows, view = [], []
    for (env, group), df in timing.groupby(KEYS, sort=True):
        parts = [c for c in df if c.startswith("time_")]
        split = {c: float(df[c].median()) for c in parts if df[c].notna().any()}
        it, upd = float(df["iteration_s"].median()), float(df["update_s"].median())
        mine = summary[(summary["env"] == env) & (summary["group"] == group)]
        secs, reached = censored_median(mine["seconds_to_threshold"])
        rec = {
            "env": env,
            "group": group,
            "runs": len(df),
            "iteration_s_median": it,
            "steps_per_s": float(df["batch"].median()) / it if it > 0 else math.nan,
            "update_s_median": upd,
            "update_s_min": float(df["update_s"].min()),
            "update_s_max": float(df["update_s"].max()),
            "wall_s_median": float(df["wall_s"].median()),
            "wall_s_min": float(df["wall_s"].min()),
            "wall_s_max": float(df["wall_s"].max()),
            **{f"{c}_median": v for c, v in split.items()},
            "seconds_to_threshold_median": secs,
            "reached": reached,
        }
        rows.append(rec)
        view.append(
            {
                "env": env,
                "variant": group,
                "runs": len(df),
                "s / iteration": fmt(it),
                "steps/s": fmt(rec["steps_per_s"]),
                "s / update [runs' range]": f"{fmt(upd)} [{fmt(rec['update_s_min'])}, "
                f"{fmt(rec['update_s_max'])}]",
                "time split": _split_text(split),
                "run wall s [range]": f"{fmt(rec['wall_s_median'])} [{fmt(rec['wall_s_min'])}, "
                f"{fmt(rec['wall_s_max'])}]",
                "s to threshold (median; reached)": f"{secs_text(secs, rec)} ({reached})",
            }
        )
    note = (
        f"{SHARED_MACHINE} s / iteration: median over iterations of sampling + update + value "
        "fit; steps/s = the batch over it (training only: evaluation episodes excluded). "
        "Time split: each part's median, as a share of their sum; update_other = the update "
        "minus its logged parts (gradient, Fisher fit, solve, line search, diagnostics such "
        "as fidelity). Seconds to threshold: median over runs, a run that never reached it "
        "counted as above every run that did ('> run' when the median is such a run). "
    )
    note += (
        "The cost per update is read from the controlled benchmark (table 'Update cost, "
        "controlled benchmark'), not from these times."
        if bench is not None
        else "No controlled benchmark was given: cost per update comes from these training "
        "runs on a shared machine; read ratios as indicative."
    )
    return Table("wall_clock", "Wall-clock", pd.DataFrame(rows), pd.DataFrame(view), note)


def secs_text(secs: float, rec: dict) -> str:
    return "> run" if not np.isfinite(secs) else fmt(secs)


BENCH_COLUMNS = ("study", "env", "arm", "cpu_ms", "cpu_ms_q25", "cpu_ms_q75")
"""The columns of `npgbench bench update-cost`'s update_cost.csv that the report reads (its
rows of study "benchmark": the benchmark's shapes, one row per task and arm)."""


def read_bench(path: Path) -> pd.DataFrame:
    """update_cost.csv of `npgbench bench update-cost` as columns env, label, median_s, q25_s,
    q75_s and the benchmark's paired-bootstrap ratio CI (ratio_low, ratio_high, NaN if absent);
    ValueError naming the missing columns."""
    df = pd.read_csv(path)
    missing = [c for c in BENCH_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: not an update_cost.csv of `npgbench bench update-cost`: missing "
            f"{', '.join(missing)} (median CPU time cpu_ms per arm)"
        )
    df = df[df["study"] == "benchmark"]
    return pd.DataFrame(
        {
            "env": df["env"].astype(str),
            "label": df["arm"].astype(str),
            "median_s": df["cpu_ms"].astype(float) / 1e3,
            "q25_s": df["cpu_ms_q25"].astype(float) / 1e3,
            "q75_s": df["cpu_ms_q75"].astype(float) / 1e3,
            "ratio_low": df.get("ratio_low", pd.Series(np.nan, index=df.index)).astype(float),
            "ratio_high": df.get("ratio_high", pd.Series(np.nan, index=df.index)).astype(float),
        }
    ).reset_index(drop=True)


def bench_table(bench: pd.DataFrame, baseline: str = "vanilla") -> Table:
    """Update cost per variant from the benchmark: median CPU s [IQR] and the ratio of
    medians to the baseline on the same env."""
    rows, view = [], []
    for env, df in bench.groupby("env", sort=True):
        base = df.loc[df["label"] == baseline, "median_s"]
        ref = float(base.iloc[0]) if len(base) else math.nan
        for r in df.sort_values("label").itertuples(index=False):
            ratio = r.median_s / ref if ref > 0 else math.nan
            rows.append({**r._asdict(), "ratio_to_baseline": ratio})
            view.append(
                {
                    "env": env or "-",
                    "variant": r.label,
                    "CPU s / update [IQR]": f"{fmt(r.median_s)} [{fmt(r.q25_s)}, {fmt(r.q75_s)}]",
                    f"/ {baseline} [95% CI]": f"{fmt(ratio, 3)} "
                    f"[{fmt(r.ratio_low, 3)}, {fmt(r.ratio_high, 3)}]",
                }
            )
    note = (
        "Controlled benchmark (npgbench bench): CPU time of one policy update on frozen "
        "batches, arms interleaved; median and interquartile range over repetitions; ratio of "
        f"medians to {baseline} on the same env, 95% CI by the benchmark's paired bootstrap "
        "over repetitions (docs/bench/README.md)."
    )
    data = pd.DataFrame(rows)
    return Table("bench_cost", "Update cost, controlled benchmark", data, pd.DataFrame(view), note)
