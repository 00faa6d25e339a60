"""Shared fixtures: tiny configs that keep the default test run fast on 2 cores."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

TINY = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "eval.every": 0,
    "value.epochs": 2,
}


@pytest.fixture
def tiny_overrides() -> dict:
    """Overrides for a run of a few 256-step iterations."""
    return dict(TINY)
