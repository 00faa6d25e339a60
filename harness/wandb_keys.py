"""The names a W&B workspace sees: history keys per metrics.parquet column, run naming, tags.

The keys follow CleanRL (charts/episodic_return, charts/SPS, losses/*, global_step as the x
axis) and RL-Zoo / SB3 (time/iterations, time/time_elapsed), so dashboards and
openrlbenchmark-style queries written for them carry over; metrics.parquet keeps its own
column names.
"""

from __future__ import annotations

import hashlib
import math

STEP_KEY = "global_step"
"""The x axis of every W&B chart (CleanRL's name); it carries metrics.parquet's `step`."""

METRIC_KEYS: dict[str, str | None] = {
    # the x axis and progress (RL-Zoo / SB3: time/iterations, time/time_elapsed)
    "step": STEP_KEY,
    "iteration": "time/iterations",
    "wall_time": "time/time_elapsed",
    # learning curves (CleanRL: charts/episodic_return)
    "return_mean": "charts/episodic_return",
    "return_std": "charts/episodic_return_std",
    "episodes": "charts/episodes",
    "eval_return_mean": "charts/eval_return",
    "eval_return_std": "charts/eval_return_std",
    "eval_sampled_return_mean": "charts/eval_sampled_return",
    "eval_sampled_return_std": "charts/eval_sampled_return_std",
    # policy and value fit (CleanRL: losses/entropy, losses/value_loss, ...); `kl` is the
    # measured KL(old || new) of the Gaussians, not CleanRL's k3 approx_kl estimate
    "kl": "losses/kl",
    "entropy": "losses/entropy",
    "value_loss": "losses/value_loss",
    "explained_variance": "losses/explained_variance",
    "grad_norm": "losses/grad_norm",
    # the step taken (sb3-contrib TRPO logs its line search as train/is_line_search_success)
    "kl_delta": "update/kl_delta",
    "beta": "update/beta",
    "predicted_kl": "update/predicted_kl",
    "g_dot_x": "update/g_dot_x",
    "x_fisher_x": "update/x_fisher_x",
    "backtracks": "update/backtracks",
    "accepted": "update/accepted",
    "skipped": "update/skipped",
    "skip_reason": None,  # text: stays in metrics.parquet (and the run's meta.json)
    "epochs": "update/epochs",
    # the preconditioner and its fidelity to the exact natural gradient
    "cg_residual": "fisher/cg_residual",
    "cg_iterations": "fisher/cg_iterations",
    "fisher_cond": "fisher/cond",
    "fidelity_cosine": "fisher/fidelity_cosine",
    "fidelity_kl_ratio": "fisher/fidelity_kl_ratio",
    # seconds per iteration, split as in metrics.parquet
    "time_sample": "time/sample",
    "time_update": "time/update",
    "time_value": "time/value",
    "time_grad": "time/grad",
    "time_fisher_fit": "time/fisher_fit",
    "time_solve": "time/solve",
    "time_line_search": "time/line_search",
    "time_fidelity": "time/fidelity",
}
"""metrics.parquet column -> W&B history key (None: not mirrored). A column missing here is
logged as other/<column>; tests/test_wandb_keys.py checks that every variant's are here."""

SPS_KEY = "charts/SPS"
"""Environment steps per second since the run started (CleanRL's charts/SPS)."""


def wandb_row(row: dict) -> dict:
    """One metrics row -> its W&B history row: namespaced keys, numbers only, plus SPS.

    NaN entries are left out (an iteration without a finished episode or an evaluation has no
    point on that chart, rather than a NaN W&B must render); booleans become 0/1, so W&B can
    chart and smooth the skipped / accepted rates.
    """
    out: dict[str, float | int] = {}
    for column, value in row.items():
        key = METRIC_KEYS.get(column, f"other/{column}")
        if key is None or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and math.isnan(value):
            continue
        out[key] = int(value) if isinstance(value, bool) else value
    wall = row.get("wall_time")
    if row.get("step") is not None and wall:
        out[SPS_KEY] = row["step"] / wall
    return out


def npg_bench_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("npg-bench")
    except PackageNotFoundError:
        return "unknown"


def _fit(text: str, limit: int) -> str:
    """W&B caps tags and job_type at 64 characters, group and name at 128."""
    if len(text) <= limit:
        return text
    return text[: limit - 9] + "~" + hashlib.sha1(text.encode()).hexdigest()[:8]


def naming(config: dict, group: str = "") -> dict:
    """name, group, job_type and tags of a run from its config (+ suite / label of a sweep)."""
    algo, env, seed = config.get("algo", ""), config.get("env", ""), config.get("seed", "")
    label, suite = config.get("label") or algo, config.get("suite") or ""
    parts = [suite, label, env] if suite else [label, env]
    tags = [f"env:{env}", f"algo:{algo}", f"label:{label}", f"npg-bench:{npg_bench_version()}"]
    return {
        "name": _fit(f"{label}__{env}__s{seed}", 128),
        "group": _fit(group or "__".join(parts), 128),
        "job_type": _fit(label, 64),
        "tags": [_fit(t, 64) for t in ([f"suite:{suite}"] if suite else []) + tags],
    }


__all__ = ["METRIC_KEYS", "SPS_KEY", "STEP_KEY", "naming", "wandb_row"]
