"""`bench invariance`: each preconditioner keeps the invariances theory gives it, and no more.

Small float64 policies (4 -> 8 -> 8 -> 2) on 512 states, so the analytic and sampled Fishers
are full rank (1024 and 512 rows > 132 parameters). kl_between / kl_delta is the discrepancy
of one step of equal predicted KL taken in two exact parameterisations of the same policy;
every check would fail with the identity preconditioner in place of the one under test
(vanilla is measured alongside as that control).
"""

from __future__ import annotations

import math

import pytest
from fisher_fixtures import make_batch, small_policy
from npgbench.harness.bench import invariance_report
from npgbench.harness.bench.invariance import DIRECTIONS, Settings, measure
from npgbench.harness.bench.invariance_report import loglog_slope, verdicts
from npgbench.harness.bench.reparam import families
from npgbench.harness.bench.saved_batch import SavedBatch
from npgbench.harness.core.config import ConfigError

TINY = 1e-14  # far below the smallest Fisher eigenvalue (~1e-9 here)
DELTAS = (1e-4, 1e-3, 1e-2)


@pytest.fixture(scope="module")
def setup():
    policy = small_policy(obs_dim=4, act_dim=2, hidden=(8, 8), seed=1)
    return SavedBatch(policy, make_batch(policy, 512), None)


def rows_of(setup, direction: str, family: str, dampings, kappa: float = 10.0):
    cfg = Settings(DELTAS, tuple(dampings), kappa, 0, 400, 1e-10, 1e-3)
    reps = families(setup.policy, setup.batch.obs, kappa, 0)
    chosen = [d for d in DIRECTIONS if d.name == direction]
    return measure(setup, {family: reps[family]}, chosen, cfg), chosen, cfg


def worst_ratio(rows, damping: float) -> float:
    """max over kl_delta of kl_between / kl_delta at one damping."""
    return max(r.kl_ratio for r in rows if r.damping == damping)


@pytest.mark.parametrize("direction", ["npg_exact", "npg_exact_analytic"])
def test_exact_natural_gradient_is_invariant_to_a_dense_input_map_as_damping_vanishes(
    setup, direction
):
    rows, _, _ = rows_of(setup, direction, "input-whitening", [TINY, 1e-2])
    assert worst_ratio(rows, TINY) < 1e-5
    assert worst_ratio(rows, 1e-2) > 100 * worst_ratio(rows, TINY)  # damping breaks it


def test_exact_natural_gradient_is_invariant_to_a_dense_hidden_layer_map(setup):
    rows, _, _ = rows_of(setup, "npg_exact_analytic", "hidden-mixing", [TINY, 1e-2], kappa=2.0)
    assert worst_ratio(rows, TINY) < 1e-3  # the benchmark's tolerance
    assert worst_ratio(rows, 1e-2) > 100 * worst_ratio(rows, TINY)
    control, _, _ = rows_of(setup, "vanilla", "hidden-mixing", [TINY], kappa=2.0)
    assert worst_ratio(control, TINY) > 1e-2


@pytest.mark.parametrize("family", ["unit-scale", "param-scale"])
def test_diagonal_fisher_is_invariant_to_per_parameter_scaling(setup, family):
    rows, _, _ = rows_of(setup, "npg_diag", family, [TINY, 1e-2])
    assert worst_ratio(rows, TINY) < 1e-8
    assert worst_ratio(rows, 1e-2) > 1e-4  # the damping is not scaled with the parameters


@pytest.mark.parametrize("family", ["input-whitening", "hidden-mixing"])
def test_diagonal_fisher_is_not_invariant_to_a_dense_map(setup, family):
    rows, _, _ = rows_of(setup, "npg_diag", family, [TINY])
    assert worst_ratio(rows, TINY) > 1e-2


@pytest.mark.parametrize("family", ["input-whitening", "hidden-mixing", "unit-scale"])
def test_kfac_is_invariant_to_affine_maps_of_a_layers_inputs_and_outputs(setup, family):
    rows, _, _ = rows_of(setup, "npg_kfac", family, [TINY, 1e-2], kappa=2.0)
    assert worst_ratio(rows, TINY) < 1e-4
    assert worst_ratio(rows, 1e-2) > 100 * worst_ratio(rows, TINY)


def test_kfac_has_no_form_for_a_map_that_is_not_layer_structured(setup):
    rows, _, _ = rows_of(setup, "npg_kfac", "param-scale", [TINY])
    assert rows == []  # predicted n/a: nothing measured


@pytest.mark.parametrize("family", ["unit-scale", "param-scale", "std-dense"])
def test_plain_gradient_is_not_invariant_to_scaling(setup, family):
    rows, chosen, cfg = rows_of(setup, "vanilla", family, [TINY, 1e-2])
    assert worst_ratio(rows, TINY) > 1e-3
    (verdict,) = verdicts(rows, chosen, cfg)
    assert verdict.measured == "not invariant" and verdict.match == "yes"


def test_exact_step_under_a_nonlinear_std_map_agrees_to_first_order_only(setup):
    """log -> softplus: the steps differ at O(beta^2) = O(kl_delta), so kl_between = O(delta^2):
    slope 2 in kl_delta; the plain gradient's steps differ at first order (slope 1)."""
    rows, chosen, cfg = rows_of(setup, "npg_exact_analytic", "std-softplus", [1e-6, 1e-1])
    mine = [r for r in rows if r.damping == 1e-6]
    slope = loglog_slope([r.kl_delta for r in mine], [r.kl_between for r in mine])
    assert slope > 1.8
    (verdict,) = verdicts(rows, chosen, cfg)
    assert verdict.measured == "invariant" and verdict.predicted == "yes"
    control, _, _ = rows_of(setup, "vanilla", "std-softplus", [1e-6])
    assert loglog_slope([r.kl_delta for r in control], [r.kl_between for r in control]) < 1.2


def test_reparameterised_policies_compute_the_same_function(setup):
    obs = setup.batch.obs
    mean, std = setup.policy(obs)
    for rep in families(setup.policy, obs, 10.0, 0).values():
        if rep.policy is not None:
            other_mean, other_std = rep.policy(obs)
            assert (other_mean - mean).abs().max() < 1e-12, rep.family
            # std_inverse works in Python floats: softplus^-1 round-trips to ~1e-10
            assert (other_std - std).abs().max() < 1e-9, rep.family


def test_verdict_reads_not_invariant_when_the_discrepancy_exceeds_the_tolerance(setup):
    rows, chosen, cfg = rows_of(setup, "npg_cg", "hidden-mixing", [TINY, 1e-2])
    (verdict,) = verdicts(rows, chosen, cfg)
    assert verdict.predicted == "no" and verdict.measured == "not invariant"
    assert math.isfinite(verdict.slope_delta)


def test_cli_writes_the_rows_and_verdicts_of_a_real_batch(tmp_path, capsys):
    out = tmp_path / "inv.csv"
    argv = [
        "--hidden", "4,4", "--states", "64", "--directions", "vanilla,npg_diag",
        "--families", "unit-scale,std-softplus", "--kl-deltas", "1e-3,1e-2",
        "--dampings", "1e-6,1e-2", "--out", str(out), "--batch-file", str(tmp_path / "b.pt"),
    ]  # fmt: skip
    assert invariance_report.main(argv) == 0
    import pandas as pd

    table = pd.read_csv(out)
    assert len(table) == 2 * 2 * 2 * 2  # directions x families x dampings x kl_deltas
    assert {"family", "direction", "kl_delta", "damping", "kl_between", "predicted"} <= set(table)
    assert (tmp_path / "inv_verdicts.csv").is_file() and "match" in capsys.readouterr().out
    assert invariance_report.main(argv) == 0  # the saved batch is reused
    assert "reusing" in capsys.readouterr().out
    assert pd.read_csv(out).equals(table)  # deterministic
    verdicts_before = (tmp_path / "inv_verdicts.csv").read_text()
    assert invariance_report.main([*argv, "--rows", str(out)]) == 0  # verdicts from the saved rows
    assert (tmp_path / "inv_verdicts.csv").read_text() == verdicts_before


@pytest.mark.parametrize(
    "argv",
    [["--families", "nope"], ["--directions", "npg_exact,bogus"], ["--dampings", "0,1e-2"]],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, argv):
    out = tmp_path / "x.csv"
    with pytest.raises(ConfigError, match="valid|expected"):
        invariance_report.main([*argv, "--out", str(out), "--batch-file", str(tmp_path / "b.pt")])
    assert not out.exists() and not (tmp_path / "b.pt").exists()


@pytest.mark.parametrize(
    ("module", "cls", "direction", "family"),
    [
        ("exact", "ExactFisher", "npg_exact_analytic", "input-whitening"),
        ("diagonal", "DiagonalFisher", "npg_diag", "unit-scale"),
        ("kfac", "KFAC", "npg_kfac", "input-whitening"),
    ],
)
def test_the_checks_fail_when_a_preconditioner_loses_its_invariance(
    setup, monkeypatch, module, cls, direction, family
):
    """The real preconditioner's solve replaced by the identity: the invariance is gone."""
    import importlib

    target = getattr(importlib.import_module(f"npgbench.algorithms.fisher.{module}"), cls)
    monkeypatch.setattr(target, "solve", lambda self, g: g)
    rows, _, _ = rows_of(setup, direction, family, [TINY])
    assert worst_ratio(rows, TINY) > 1e-3
