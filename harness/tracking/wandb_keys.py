"""The names a W&B workspace sees: history keys per metrics.parquet column, run naming, tags.

The keys follow CleanRL (charts/episodic_return, charts/SPS, losses/*, global_step as the x
axis) and RL-Zoo / SB3 (time/iterations, time/time_elapsed), so dashboards and
openrlbenchmark-style queries written for them carry over; metrics.parquet keeps its own
column names.
"""

from __future__ import annotations

import hashlib
import math

from npgbench.harness.core.metrics import STEP_KEY, wandb_keys

METRIC_KEYS: dict[str, str | None] = wandb_keys()
"""metrics.parquet column -> W&B history key (None: not mirrored), as the core schema
(harness/core/metrics.py) declares them. A run's variant may declare more (`metric_keys`);
an undeclared column is logged as other/<column>."""


def metric_keys(algo: str = "") -> dict[str, str | None]:
    """METRIC_KEYS plus the columns the variant `algo` declares (Variant.metrics); just
    METRIC_KEYS for an unknown name (the mirror never fails a run over a key)."""
    from npgbench.algorithms.registry import lookup
    from npgbench.harness.core.config import ConfigError

    try:
        extra = lookup(algo).metrics if algo else ()
    except ConfigError:
        return dict(METRIC_KEYS)
    return wandb_keys(extra)


SPS_KEY = "charts/SPS"
"""Environment steps per second since the run started (CleanRL's charts/SPS)."""


def wandb_row(row: dict, keys: dict[str, str | None] | None = None) -> dict:
    """One metrics row -> its W&B history row: namespaced keys, numbers only, plus SPS.

    keys: column -> W&B key (default METRIC_KEYS; the mirror passes `metric_keys(algo)`).

    NaN entries are left out (an iteration without a finished episode or an evaluation has no
    point on that chart, rather than a NaN W&B must render); booleans become 0/1, so W&B can
    chart and smooth the skipped / accepted rates.
    """
    keys = METRIC_KEYS if keys is None else keys
    out: dict[str, float | int] = {}
    for column, value in row.items():
        key = keys.get(column, f"other/{column}")
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


__all__ = ["METRIC_KEYS", "SPS_KEY", "STEP_KEY", "metric_keys", "naming", "wandb_row"]
