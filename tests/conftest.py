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


LONGEST_FIRST = (
    "test_sweep_run.py",
    "test_checkpoint.py",
    "test_plugins.py",
    "test_latex_tables.py",
    "test_wandb_mirror.py",
    "test_analysis_report.py",
)
"""Files whose sweeps and reports take the longest: under xdist (--dist loadfile) they start
first, so that no worker is left alone with one of them at the end of the run."""


def pytest_collection_modifyitems(items: list) -> None:
    """Longest files first (LONGEST_FIRST); the order within a file is kept."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True)
def _no_env_module_permission(monkeypatch):
    """Each test starts without NPGBENCH_ALLOW_ENV_MODULE, and whatever an in-process
    `--allow-env-module` set in os.environ is undone after it: the permission is process
    state, and a test that ran earlier in the same xdist worker must not grant it to the next
    (which then expects `module:Env` ids to be refused)."""
    from npgbench.harness.core.envs import ENV_MODULE_VARIABLE

    monkeypatch.delenv(ENV_MODULE_VARIABLE, raising=False)
