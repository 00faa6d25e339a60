"""Rows of the claims table: one comparison each, then Holm per family and the verdicts.

A row is a plain dict until `finish` turns the rows into a Table (DataFrame columns below).
Families (docs/analysis-plan.md, Section 4): "equal KL" (primary metrics) and "step" (held-out
gain); a row whose family is None is described, not tested, and has no Holm p.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from npgbench.analysis.data.table import Table, fmt
from npgbench.analysis.stats import inference as stats
from npgbench.analysis.stats.aggregate import percentile_ci, resample
from npgbench.harness.core.run_files import RunStatus

COLUMNS = [
    "claim", "comparison", "statistic", "value", "ci_lo", "ci_hi", "per_task", "n", "p",
    "p_holm", "p_floor", "family", "min_runs", "train_value", "train_ci_lo", "train_ci_hi", "train_p",
    "verdict",
]  # fmt: skip


def _task(env: str) -> str:
    return env.split("-v")[0]


def per_task_text(cmp: stats.Comparison, tasks: list[str]) -> str:
    """'HalfCheetah 0.52, Hopper 0.28 (3 vs 5)': each task's P, with its run counts where an
    arm has fewer runs than the most any task has."""
    most = max(cmp.n_x + cmp.n_y, default=0)
    parts = []
    for env, p, nx, ny in zip(tasks, cmp.per_task, cmp.n_x, cmp.n_y, strict=True):
        counts = f" ({nx} vs {ny})" if min(nx, ny) < most else ""
        parts.append(f"{_task(env)} {fmt(p, 2)}{counts}")
    return ", ".join(parts)


def comparison_row(claim, comparison, label, cmp, tasks, family, train=None) -> dict:
    """One claims row from a stats.Comparison (None: the column was not measured)."""
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update(claim=claim, comparison=comparison, statistic=f"P({label})", family=family)
    row.update(per_task="", n="0", verdict=None, min_runs=0)
    if cmp is None:
        row.update(family=None, verdict="not measured (no run of these arms logs it)")
        return row
    row.update(
        value=cmp.statistic,
        ci_lo=cmp.ci_lo,
        ci_hi=cmp.ci_hi,
        per_task=per_task_text(cmp, tasks),
        n=f"{sum(cmp.n_x)} vs {sum(cmp.n_y)} on {len(tasks)} tasks",
        p=cmp.p,
        p_floor=cmp.p_floor,
        min_runs=cmp.min_runs,
    )
    if train is not None:
        row.update(
            train_value=train.statistic,
            train_ci_lo=train.ci_lo,
            train_ci_hi=train.ci_hi,
            train_p=train.p,
        )
    return row


def finish(data: pd.DataFrame, interim: bool, note: str = "") -> Table:
    """Holm within each family over its testable rows (>= MIN_RUNS per arm and task, finite
    p), then every undecided row's verdict by stats.verdict; the table and its view."""
    data = decide(data.reindex(columns=COLUMNS), interim).reindex(columns=COLUMNS)
    ci = lambda a, b: f"[{fmt(a)}, {fmt(b)}]" if np.isfinite(a) else "-"  # noqa: E731
    view = pd.DataFrame(
        {
            "claim": data["claim"],
            "comparison": data["comparison"],
            "statistic": data["statistic"],
            "value": data["value"].map(fmt),
            "95% CI": [ci(a, b) for a, b in zip(data["ci_lo"], data["ci_hi"])],
            "per task": data["per_task"],
            "n": data["n"],
            "p": data["p"].map(fmt_p),
            "p (Holm)": data["p_holm"].map(fmt_p),
            "verdict": data["verdict"],
            "training return: P [CI]": [
                "-" if not np.isfinite(v) else f"{fmt(v)} {ci(a, b)}"
                for v, a, b in zip(data["train_value"], data["train_ci_lo"], data["train_ci_hi"])
            ],
        }
    )
    title = "The method's claims at equal KL" + (
        " (interim: planned runs missing)" if interim else ""
    )
    return Table("claims", title, data, view, NOTE + note)


def decide(data: pd.DataFrame, interim: bool) -> pd.DataFrame:
    """Holm within each family over its testable rows (>= MIN_RUNS per arm and task, finite
    p), then the verdict of every row that has none yet (stats.verdict). Rows without a
    predicted direction carry directional = False and the arm names x, y, so the verdict
    names the higher arm."""
    data = data.copy()
    defaults = (("directional", True), ("x", ""), ("y", ""), ("p_holm", math.nan))
    extra = (("p_floor", math.nan), ("holm_floor", math.nan), ("tests", 0))
    for col, default in (*defaults, *extra):
        if col not in data:
            data[col] = default
    data["directional"] = data["directional"].fillna(True).astype(bool)
    testable = data["family"].notna() & data["p"].notna() & (data["min_runs"] >= stats.MIN_RUNS)
    for _, idx in data[testable].groupby("family").groups.items():
        data.loc[idx, "p_holm"] = stats.holm(data.loc[idx, "p"].to_numpy(float))
        # The smallest Holm p each row could get: every row at its floor (a row's adjusted p
        # is the running max over rows ranked before it, so this is its best case).
        data.loc[idx, "holm_floor"] = stats.holm(data.loc[idx, "p_floor"].to_numpy(float))
        data.loc[idx, "tests"] = len(idx)
    undecided = data["verdict"].isna()
    data.loc[undecided, "verdict"] = [
        _unreachable_note(
            stats.verdict(r.p_holm, r.value, int(r.min_runs), r.directional, interim)
            .replace("first arm", f"{r.x}" if r.x else "first arm")
            .replace("second arm", f"{r.y}" if r.y else "second arm"),
            r.holm_floor,
            int(r.tests),
        )
        for r in data[undecided].itertuples(index=False)
    ]
    return data


def _unreachable_note(verdict: str, holm_floor: float, tests: int) -> str:
    """A "not separable" verdict that no data of these run counts could change says so: with
    every row of its family at its smallest attainable p (stats.smallest_p), its Holm p
    still reaches ALPHA."""
    if "not separable" not in verdict or not holm_floor >= stats.ALPHA:
        return verdict
    return verdict[:-1] + (
        f"; unreachable at these counts: Holm p >= {holm_floor:.2g} over {tests} tests)"
    )


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def is_interim(summary: pd.DataFrame, runs: pd.DataFrame) -> bool:
    """True while the study's planned runs are not all in: a run directory that is not
    complete, or a (group, task) cell with fewer seeds than the fullest cell."""
    if "status" in runs and (runs["status"] != RunStatus.COMPLETE).any():
        return True
    cells = summary.groupby(["group", "env"])["seed"].nunique()
    return bool(len(cells)) and bool(cells.min() < cells.max())


def cost_rows(summary, envs, base, groups, reps, seed, matrix, shared_envs) -> list[dict]:
    """Mean seconds per update relative to the baseline's, bootstrap percentile CI: measured
    on a shared machine, so described and never tested."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in groups:
        tasks = shared_envs(summary, group, base, envs)
        if not tasks:
            continue
        y = matrix(summary, base, tasks, "seconds_per_update")
        y_B = np.nanmean(resample(y, reps, rng), axis=(1, 2))
        x = matrix(summary, group, tasks, "seconds_per_update")
        lo, hi = percentile_ci(np.nanmean(resample(x, reps, rng), axis=(1, 2)) / y_B)
        row = dict.fromkeys(COLUMNS, math.nan)
        row.update(
            claim="cost per update",
            comparison=f"{group} / {base}",
            statistic="time ratio (shared machine)",
            value=float(np.nanmean(x) / np.nanmean(y)),
            ci_lo=lo,
            ci_hi=hi,
            per_task="",
            n=f"{int(np.isfinite(x).sum())} vs {int(np.isfinite(y).sum())}",
            family=None,
            min_runs=0,
            verdict="measured",
        )
        rows.append(row)
    return rows


def bench_cost_rows(bench: pd.DataFrame, base: str, groups: list[str], envs: list[str]):
    """CPU time per update relative to the baseline's, from the controlled benchmark
    (timing.read_bench: one row per task and arm): per task the ratio of medians with the
    benchmark's paired-bootstrap CI; the row's value is the median over tasks, its interval
    spans the per-task CIs. A size, not a direction: "measured", never tested."""
    rows = []
    for group in groups:
        per_task = []
        for env in envs:
            here = bench[bench["env"] == env].set_index("label")
            if group in here.index and base in here.index:
                ratio = here.at[group, "median_s"] / here.at[base, "median_s"]
                per_task.append(
                    (env, ratio, here.at[group, "ratio_low"], here.at[group, "ratio_high"])
                )
        if not per_task:
            continue
        row = dict.fromkeys(COLUMNS, math.nan)
        row.update(
            claim="cost per update",
            comparison=f"{group} / {base}",
            statistic="CPU-time ratio, controlled benchmark (median over tasks)",
            value=float(np.median([r for _, r, _, _ in per_task])),
            ci_lo=float(np.nanmin([lo for *_, lo, _ in per_task])),
            ci_hi=float(np.nanmax([hi for *_, hi in per_task])),
            per_task=", ".join(f"{env.split('-')[0]} {r:.3g}" for env, r, _, _ in per_task),
            n="benchmark",
            family=None,
            min_runs=0,
            verdict="measured",
        )
        rows.append(row)
    return rows


NOTE = (
    "Tested as docs/analysis-plan.md fixes. Each natural-gradient variant against the plain "
    "gradient (vanilla, step rule kl) at the same predicted KL per update, on the tasks both "
    "have runs on. P(m): probability of improvement on per-run metric m (for dispersion and "
    "drawdown: of a smaller one), per task the Mann-Whitney U / (n_x n_y), averaged over "
    "tasks; 'per task' gives each task's value. Final return: mean of 50 mean-action "
    "evaluation episodes of the final policy (final_eval.json), or, where the study has none, "
    "the mean of the last 3 evaluation points, as named in the statistic. AUC: area under "
    "the mean-action evaluation curve (every 20 updates, 5 episodes). Dispersion across time: "
    "IQR of the first differences of the evaluation curve; CVaR of drawdown: mean of the "
    "worst 10% of drawdowns on the 3-point trailing mean of the evaluation curve (Chan et al. "
    "2020); both over the score range. p: two-sided stratified permutation test (labels "
    "permuted within tasks; exact), Holm-adjusted within each family (equal-KL metrics; "
    "held-out step gain). 95% CI: BCa bootstrap, each arm of each task resampled, at "
    "Hesterberg's expanded level for n runs (descriptive; the verdict rests on p). Verdict: "
    "supported / contradicted when the Holm p < 0.05, by the direction; not separable "
    "otherwise; no verdict with fewer than 5 runs per arm and task. Training return: the "
    "same statistic on training-episode returns (final: last 10% of iterations; drawdown: "
    "largest, unsmoothed, over the score range), secondary. In-sample first-order gain per "
    "update: median over updates of beta g^T x on the batch the direction came from (larger "
    "for an exact preconditioner by Cauchy-Schwarz, so described only); held-out: the step "
    "from half A of the batch measured on the other half. Cost per update: the statistic "
    "column names its source: the controlled benchmark (npgbench bench update-cost, CPU time "
    "on frozen batches, arms interleaved; the interval spans its per-task paired-bootstrap "
    "CIs) or, without one, mean seconds per update over vanilla's in the training runs on a "
    "shared machine (bootstrap CI over runs)."
)
