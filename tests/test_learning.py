"""Learning thresholds (slow: run with `pytest -m slow`)."""

from __future__ import annotations

import pandas as pd
import pytest
from npgbench.harness.runner import resolve_config, train


def best_training_return(algo: str, env: str, steps: int, seed: int, out, overrides=None) -> float:
    run_dir = train(
        resolve_config(algo, env, seed, steps, {"eval.every": 0, **(overrides or {})}),
        out,
        progress=False,
    ).run_dir
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    return float(frame["return_mean"].max())


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_solves_inverted_pendulum_within_100k_steps(tmp_path, seed):
    # ppo reaches a mean training return >= 900 within 100k steps on 2 of 2 seeds
    assert best_training_return("ppo", "InvertedPendulum-v5", 100_000, seed, tmp_path) >= 900
