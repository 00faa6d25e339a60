"""The plugin conformance tests (see npgbench.testing): tiny runs on InvertedPendulum-v5."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
import torch

from npgbench.algorithms.registry import is_natural, lookup
from npgbench.harness.core.config import ConfigError, field_docs
from npgbench.harness.core.metrics import with_extra
from npgbench.harness.runner import resolve_config, train
from npgbench.testing import plugin_names

ENV = "InvertedPendulum-v5"
TINY = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "value.epochs": 1,
    "policy.hidden_sizes": "8,8",
    "checkpoint.every": 1,
}
STEPS = 256 * 3
NAMES = plugin_names()
pytestmark = pytest.mark.skipif(not NAMES, reason="no npg-bench plugin is installed")


class Interrupt(Exception):
    """Raised from on_row: the run stops right after that iteration's row."""


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A metrics frame without its timings (wall-clock differs between equal runs)."""
    return frame.drop(columns=[c for c in frame if c.startswith("time_") or c == "wall_time"])


def run(name: str, out, seed: int = 0, on_row=None) -> pd.DataFrame:
    cfg = resolve_config(name, ENV, seed, STEPS, TINY)
    return pd.read_parquet(
        train(cfg, out, progress=False, on_row=on_row).run_dir / "metrics.parquet"
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_config_documents_every_field_and_validates(name):
    variant = lookup(name)
    assert variant.description, "Variant(description, ...) is empty"
    config = variant.config()
    assert dataclasses.is_dataclass(config), "the config must be a dataclass"
    docs = field_docs(type(config))
    undocumented = [f.name for f in dataclasses.fields(config) if not docs.get(f.name)]
    assert not undocumented, f"fields without a docstring under them: {undocumented}"
    with pytest.raises(ConfigError):
        resolve_config(name, ENV, 0, STEPS, {"update.no_such_key": 1})


@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_run_writes_the_metrics_schema(name, tmp_path):
    frame = run(name, tmp_path)
    assert list(frame["iteration"]) == [0, 1, 2]
    declared = with_extra(lookup(name).metrics)
    missing = [m for m in ("return_mean", "kl", "skipped", "step") if m not in frame]
    assert not missing, f"metrics.parquet lacks {missing}"
    undeclared = [c for c in frame.columns if c not in declared]
    assert not undeclared, f"columns not declared in Variant.metrics: {undeclared}"
    assert frame["kl"].map(math.isfinite).all() and not frame["skipped"].any()


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_run(name, tmp_path):
    a, b = run(name, tmp_path / "a"), run(name, tmp_path / "b")
    pd.testing.assert_frame_equal(comparable(a), comparable(b), check_exact=True)


@pytest.mark.parametrize("name", NAMES)
def test_a_resumed_run_equals_the_uninterrupted_one(name, tmp_path):
    whole = run(name, tmp_path / "whole")

    def stop(row):
        if row["iteration"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(name, tmp_path / "cut", on_row=stop)
    resumed = run(name, tmp_path / "cut")
    pd.testing.assert_frame_equal(comparable(resumed), comparable(whole), check_exact=True)


@pytest.mark.parametrize("name", NAMES)
def test_the_preconditioner_keeps_the_dtype_and_shape_of_g(name):
    from npgbench.harness.runner import Trainer

    variant = lookup(name)
    if not is_natural(variant):
        pytest.skip(f"{name} does not use make_natural")
    trainer = Trainer(resolve_config(name, ENV, 0, STEPS, TINY))
    try:
        batch = trainer.sampler.collect(trainer.policy, trainer.value_fn, trainer.gen)
        precond = variant.config().preconditioner(0)
        precond.fit(trainer.policy, batch)
        g = torch.randn(trainer.policy.num_params(), generator=torch.Generator().manual_seed(0))
        x = precond.solve(g)
        assert x.shape == g.shape and x.dtype == g.dtype and torch.isfinite(x).all()
        declared = with_extra(variant.metrics)
        for key, value in precond.diagnostics().items():
            assert key in declared, f"diagnostics() key {key!r} is not a declared column"
            assert isinstance(value, float), f"diagnostics()[{key!r}] is not a float"
    finally:
        trainer.sampler.close()
