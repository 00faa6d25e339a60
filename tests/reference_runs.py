"""Stored reference runs: short same-seed runs of every built-in variant, their run ids and
their metrics (timings aside), so refactors can prove they changed no number.

    python tests/reference_runs.py          # rewrite tests/data/reference_runs.json

Regenerate only when a change is meant to alter results, and say so in the commit: the
results dataset (docs/data) was taken with the numbers stored here.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
from pathlib import Path

import pandas as pd

REFERENCE = Path(__file__).with_name("data") / "reference_runs.json"
VARIANTS = ["vanilla", "npg_exact", "npg_diag", "npg_kfac", "npg_cg", "trpo", "ppo"]
"""The built-in variants whose numbers the dataset depends on (plugins are not stored)."""
OVERRIDES = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "value.epochs": 2,
    "eval.every": 2,
    "eval.episodes": 1,
}
STEPS = 768
SEED = 5


def cpu_model() -> str:
    """The CPU the numbers were taken on: float kernels may differ on another model."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def reference_metrics(run_dir: Path) -> dict[str, list]:
    """metrics.parquet without timings, as JSON-able columns (NaN as None)."""
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    frame = frame.drop(columns=[c for c in frame if c.startswith("time_") or c == "wall_time"])
    frame = frame.astype(object).where(frame.notna(), None)
    return {c: frame[c].tolist() for c in sorted(frame)}


def run_reference(algo: str, out: Path) -> tuple[str, dict[str, list]]:
    from npgbench.harness.core.identity import run_id
    from npgbench.harness.runner import resolve_config, train

    cfg = resolve_config(algo, "Hopper-v5", SEED, STEPS, OVERRIDES)
    return run_id(cfg), reference_metrics(train(cfg, out, progress=False).run_dir)


DATASET_GRIDS = {
    "tianshou-mujoco": {
        "algos": ["npg", "trpo", "ppo"],
        "envs": ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"],
        "seeds": [0, 1, 2, 3, 4],
    },
    "controlled-1m": {},
    "sensitivity-hopper": {},
    "invariance-hopper": {},
    "fisher-fidelity": {},
}
"""The benchmark campaign's grids (docs/data): their run ids must never change."""


def dataset_run_ids() -> dict[str, list[str]]:
    from npgbench.harness.sweep.grid import expand
    from npgbench.harness.sweep.suite_checks import load_checked_suite

    ids = {}
    for name, narrow in DATASET_GRIDS.items():
        suite = load_checked_suite(name)
        ids[name] = sorted(t.run_id for t in expand(suite, **narrow))
    return ids


def main() -> int:
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for algo in VARIANTS:
            rid, metrics = run_reference(algo, Path(tmp))
            runs[algo] = {"run_id": rid, "metrics": metrics}
    REFERENCE.parent.mkdir(exist_ok=True)
    record = {
        "cpu": cpu_model(),
        "env": "Hopper-v5",
        "steps": STEPS,
        "seed": SEED,
        "runs": runs,
        "dataset_run_ids": dataset_run_ids(),
    }
    REFERENCE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE} ({len(runs)} runs, cpu {record['cpu']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
