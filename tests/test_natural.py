"""The natural-gradient skeleton: step rules, invariance, line search, skips, fidelity, registry."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
import torch
from fisher_fixtures import copy_with_std_param, make_batch, small_policy
from npgbench.algorithms.common import mean_kl, surrogate
from npgbench.algorithms.fisher import NaturalConfig
from npgbench.algorithms.fisher.cg import CGConfig
from npgbench.algorithms.fisher.diagonal import DiagonalConfig
from npgbench.algorithms.fisher.exact import ExactConfig
from npgbench.algorithms.fisher.identity import Identity
from npgbench.algorithms.fisher.kfac import KFACConfig
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.algorithms.line_search import backtracking_line_search
from npgbench.algorithms.natural import NaturalUpdater, make_natural
from npgbench.algorithms.registry import is_natural, natural_config, registry
from npgbench.algorithms.vanilla import VanillaConfig, make_vanilla
from npgbench.harness.core.config import ConfigError, DiagnosticsConfig
from npgbench.harness.core.policy import flat_grad, flat_params, gaussian_kl, set_flat_params
from npgbench.harness.runner import resolve_config, train
from oracles import mean_jacobian
from torch.distributions import Normal, kl_divergence

# Every variant of the natural skeleton, built-in or plugin: a new preconditioner is covered
# by the smoke, validation, reproducibility and NaN tests below without editing them.
NATURAL = [name for name, variant in registry().items() if is_natural(variant)]
CONFIGS = {name: natural_config(name) for name in NATURAL}
SAMPLED = [n for n in NATURAL if getattr(CONFIGS[n], "estimator", None) == "sampled"]


def outputs(policy, obs) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        mean, std = policy(obs)
    return mean.clone(), std.clone()


def output_change(policy, batch, make) -> tuple[torch.Tensor, torch.Tensor]:
    """(delta mean [B*A], delta sigma [A]) of one update built by make(policy)."""
    mean0, std0 = outputs(policy, batch.obs)
    stats = make(policy).update(batch)
    assert not stats["skipped"], stats
    mean1, std1 = outputs(policy, batch.obs)
    return (mean1 - mean0).flatten(), std1 - std0


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


@pytest.mark.parametrize("estimator", ["analytic", "sampled"])
def test_npg_exact_step_is_parameterisation_invariant_and_sgd_is_not(estimator):
    """Same initial distribution under log / softplus / identity std (std_inverse). The natural
    step moves (mean, sigma) identically to first order (kl_delta 1e-6: steps ~1e-3, so
    second-order differences ~1e-3 relative; tolerance 1e-2). SGD moves sigma by
    (dsigma/dw)^2 g_sigma, which differs by sigma^2 = 0.36 between log and identity.
    The sampled estimator draws the same actions in every parameterisation (same seed) and
    has more rows (512) than parameters (28), so its F transforms covariantly too."""
    base = small_policy(3, 2, hidden=(4,), init_std=0.6)
    batch = make_batch(base, 64)
    cfg = ExactConfig(estimator=estimator, damping=1e-9, kl_delta=1e-6, fisher_samples_per_state=8)
    npg = {
        p: output_change(
            copy_with_std_param(base, p), batch, lambda pol: make_natural(pol, cfg, seed=0)
        )
        for p in ("log", "softplus", "identity")
    }
    sgd_cfg = VanillaConfig(step_rule="sgd", lr=1e-3)
    sgd = {
        p: output_change(
            copy_with_std_param(base, p), batch, lambda pol: make_vanilla(pol, sgd_cfg, seed=0)
        )
        for p in ("log", "softplus", "identity")
    }
    for p in ("softplus", "identity"):
        assert rel(torch.cat(npg[p]), torch.cat(npg["log"])) < 1e-2, p
        assert rel(sgd[p][1], sgd["log"][1]) > 0.3, p
    assert float(npg["log"][1].abs().min()) > 0  # sigma moved


@pytest.mark.parametrize("algo", NATURAL)
def test_kl_step_rule_gives_every_variant_the_same_predicted_kl(algo):
    policy = small_policy(3, 2, hidden=(6, 5))
    batch = make_batch(policy, 128)
    cfg = dataclasses.replace(CONFIGS[algo], kl_delta=1e-4)
    stats = make_natural(policy, cfg, seed=0).update(batch)
    assert not stats["skipped"], stats
    assert stats["accepted"] if algo == "trpo" else "accepted" not in stats, stats
    assert stats["predicted_kl"] == pytest.approx(1e-4, rel=1e-9)
    assert stats["kl"] == pytest.approx(1e-4, rel=0.1)  # second-order model at a small step
    assert stats["beta"] == pytest.approx(math.sqrt(2e-4 / stats["x_fisher_x"]))
    assert stats["g_dot_x"] > 0
    for key in ("time_grad", "time_fisher_fit", "time_solve", "time_line_search"):
        assert stats[key] >= 0


def test_fixed_step_rule_uses_the_given_beta():
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 64)
    theta_old = flat_params(policy.all_params())
    updater = make_natural(policy, CGConfig(step_rule="fixed", fixed_step=0.05), seed=0)
    stats = updater.update(batch)
    assert stats["beta"] == 0.05
    assert stats["predicted_kl"] == pytest.approx(0.5 * 0.05**2 * stats["x_fisher_x"])
    assert not torch.equal(theta_old, flat_params(policy.all_params()))


def test_damped_quad_normalises_by_the_damped_fisher():
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 64)
    updater = make_natural(policy, CGConfig(damped_quad=True, kl_delta=1e-3), seed=0)
    theta_old = flat_params(policy.all_params())
    stats = updater.update(batch)
    x = (flat_params(policy.all_params()) - theta_old) / stats["beta"]
    damped = stats["x_fisher_x"] + 0.1 * float(x @ x)
    assert stats["beta"] == pytest.approx(math.sqrt(2e-3 / damped), rel=1e-6)
    assert stats["predicted_kl"] < 1e-3


def test_line_search_stops_at_the_first_acceptable_step_and_shrinks_geometrically():
    tried = []

    def try_step(fraction):
        tried.append(fraction)
        return (0.02 if fraction > 0.6 else 0.005), 1.0  # KL too large until 0.8^3

    restored = []
    result = backtracking_line_search(try_step, lambda: restored.append(True), 0.01, 10, 0.8)
    assert tried == pytest.approx([1.0, 0.8, 0.64, 0.512])
    assert result.accepted and result.backtracks == 3 and result.fraction == pytest.approx(0.512)
    assert not restored


def test_line_search_requires_improvement_too_and_restores_on_failure():
    tried, restored = [], []

    def try_step(fraction):
        tried.append(fraction)
        return 0.0, -1.0  # within the KL budget but never improving

    result = backtracking_line_search(try_step, lambda: restored.append(True), 0.01, 5, 0.5)
    assert tried == pytest.approx([1, 0.5, 0.25, 0.125, 0.0625])
    assert not result.accepted and result.backtracks == 5 and restored == [True]
    nan_result = backtracking_line_search(lambda f: (math.nan, 1.0), lambda: None, 0.01, 2, 0.5)
    assert not nan_result.accepted


def test_trpo_restores_theta_old_and_records_a_failed_line_search():
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 64)
    theta_old = flat_params(policy.all_params())
    # a fixed step this large overshoots the KL budget even after 3 backtracks
    cfg = CGConfig(step_rule="fixed", fixed_step=1e3, max_backtracks=3)
    stats = make_natural(policy, cfg, seed=0).update(batch)
    assert stats["accepted"] is False and stats["backtracks"] == 3 and not stats["skipped"]
    assert torch.equal(theta_old, flat_params(policy.all_params()))
    assert stats["kl"] == 0.0


def test_trpo_accepts_a_shrunk_step_within_the_budget():
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 64)
    cfg = CGConfig(step_rule="fixed", fixed_step=2.0, max_backtracks=10, kl_delta=0.01)
    stats = make_natural(policy, cfg, seed=0).update(batch)
    assert stats["accepted"] and stats["backtracks"] > 0, stats
    assert stats["kl"] <= 0.01 and float(mean_kl(policy, batch).detach()) == pytest.approx(
        stats["kl"]
    )


class _Fixed:
    """A preconditioner returning a given direction (to provoke the skip paths)."""

    damping = 0.0

    def __init__(self, value: float):
        self.value = value

    def fit(self, policy, batch):
        pass

    def solve(self, g):
        return torch.full_like(g, self.value)

    def diagnostics(self):
        return {}


@pytest.mark.parametrize("value, reason", [(math.nan, "non-finite direction"), (0.0, "x^T F x")])
def test_bad_directions_are_skipped_with_a_reason_and_never_zeroed(value, reason):
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 32)
    theta_old = flat_params(policy.all_params())
    stats = NaturalUpdater(policy, _Fixed(value), NaturalConfig()).update(batch)
    assert stats["skipped"] and reason in stats["skip_reason"]
    assert "accepted" not in stats  # no line search configured: n/a, not False
    assert torch.equal(theta_old, flat_params(policy.all_params()))
    searched = NaturalUpdater(policy, _Fixed(value), NaturalConfig(max_backtracks=3))
    stats = searched.update(batch)
    assert stats["skipped"] and reason in stats["skip_reason"] and stats["accepted"] is False
    assert torch.equal(theta_old, flat_params(policy.all_params()))


class _Reshaped(_Fixed):
    """A plugin whose solve returns the wrong shape: g [P] -> [P - 1] or [P, 1]."""

    def __init__(self, shape):
        super().__init__(1.0)
        self.shape = shape

    def solve(self, g):
        p = g.shape[0]
        return torch.ones(p - 1) if self.shape == "short" else torch.ones(p, 1)


@pytest.mark.parametrize("shape, got", [("short", "[27]"), ("column", "[28, 1]")])
def test_a_direction_of_the_wrong_shape_is_skipped_naming_the_preconditioner(shape, got):
    policy = small_policy(3, 2, hidden=(4,))  # P = 3*4+4 + 4*2+2 + 2 = 28
    batch = make_batch(policy, 32)
    p = policy.num_params()
    theta_old = flat_params(policy.all_params())
    stats = NaturalUpdater(policy, _Reshaped(shape), NaturalConfig()).update(batch)
    assert stats["skipped"]
    assert stats["skip_reason"].startswith(f"_Reshaped.solve returned shape {got}"), stats
    assert stats["skip_reason"].endswith(f"expected [{p}]")
    assert torch.equal(theta_old, flat_params(policy.all_params()))


@pytest.mark.parametrize("algo", ["npg_exact", "npg_diag", "npg_kfac", "npg_cg"])
def test_solving_before_fit_is_a_clear_error(algo):
    precond = natural_config(algo).preconditioner(seed=0)
    with pytest.raises(RuntimeError, match="call fit"):
        precond.solve(torch.ones(28))


def test_a_step_that_makes_sigma_non_positive_is_restored():
    policy = small_policy(3, 2, hidden=(4,), std_param="identity")
    batch = make_batch(policy, 32)
    theta_old = flat_params(policy.all_params())
    stats = NaturalUpdater(
        policy, _Fixed(-1.0), NaturalConfig(step_rule="fixed", fixed_step=10.0)
    ).update(batch)
    assert stats["skipped"] and stats["skip_reason"] == "sigma <= 0 after the step"
    assert torch.equal(theta_old, flat_params(policy.all_params()))


def test_vanilla_kl_rule_takes_the_gradient_direction_with_the_kl_budget():
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 64)
    updater = make_vanilla(policy, VanillaConfig(step_rule="kl", kl_delta=1e-4), seed=0)
    assert isinstance(updater.precond, Identity)
    stats = updater.update(batch)
    assert stats["predicted_kl"] == pytest.approx(1e-4)
    assert stats["g_dot_x"] == pytest.approx(stats["grad_norm"] ** 2)


def test_fidelity_of_the_exact_analytic_direction_is_one():
    policy = small_policy(3, 2, hidden=(6, 5))
    batch = make_batch(policy, 128)
    diagnostics = DiagnosticsConfig(fidelity_every=2, fidelity_max_params=1000)
    cfg = ExactConfig(estimator="analytic")
    updater = make_natural(policy, cfg, 0, diagnostics)
    stats = updater.update(batch)
    assert stats["fidelity_cosine"] == pytest.approx(1.0, abs=1e-9)
    assert stats["fidelity_kl_ratio"] == pytest.approx(1.0, abs=1e-6)
    second = updater.update(make_batch(policy, 128, seed=1))
    assert math.isnan(second["fidelity_cosine"])  # only every 2nd update
    diag = make_natural(small_policy(3, 2, hidden=(6, 5)), DiagonalConfig(), 0, diagnostics)
    measured = diag.update(batch)
    assert 0 < measured["fidelity_cosine"] < 0.999 and measured["fisher_cond"] > 1


def test_kfac_fidelity_against_its_own_damping_model_is_one_where_g_kron_a_is_f():
    """One linear layer, analytic estimator: G (x) A = F exactly, so K-FAC's direction is
    (F + D)^-1 g with D its factored damping. Against the common reference (F + lambda I)^-1 g
    its cosine stays below 1 (the damping model, not the approximation); against its own
    model it is 1. The diagonal's own model is lambda I: both references agree."""
    policy = small_policy(3, 2, hidden=())
    batch = make_batch(policy, 256)
    diagnostics = DiagnosticsConfig(fidelity_every=1, fidelity_max_params=1000)
    kfac = make_natural(policy, KFACConfig(estimator="analytic", damping=0.1), 0, diagnostics)
    stats = kfac.update(batch)
    assert stats["fidelity_cosine"] < 0.999
    assert stats["fidelity_cosine_own"] == pytest.approx(1.0, abs=1e-9)
    assert stats["fidelity_kl_ratio_own"] == pytest.approx(1.0, abs=1e-6)
    two_layers = small_policy(3, 2, hidden=(4,))
    diag = make_natural(two_layers, DiagonalConfig(), 0, diagnostics)
    measured = diag.update(make_batch(two_layers, 64))
    assert measured["fidelity_cosine_own"] == measured["fidelity_cosine"] < 0.999
    assert measured["fidelity_kl_ratio_own"] == measured["fidelity_kl_ratio"]


def test_fidelity_refuses_large_policies_with_a_config_error():
    policy = small_policy(3, 2, hidden=(6, 5))
    with pytest.raises(ConfigError, match="fidelity_max_params"):
        make_natural(
            policy, CGConfig(), 0, DiagnosticsConfig(fidelity_every=1, fidelity_max_params=10)
        )


@pytest.mark.parametrize(
    "override",
    [
        {"update.damping": -0.1},
        {"update.kl_delta": 0.0},
        {"update.estimator": "empirical"},
        {"update.step_rule": "adam"},
        {"update.backtrack_coeff": 1.0},
    ],
)
@pytest.mark.parametrize("algo", NATURAL)
def test_impossible_values_raise_config_errors(algo, override):
    with pytest.raises(ConfigError):
        resolve_config(algo, "Hopper-v5", 0, 1000, override)


def test_trpo_is_npg_cg_with_backtracking():
    cfg = resolve_config("trpo", "Hopper-v5").update
    assert isinstance(cfg, CGConfig) and cfg.max_backtracks == 10 and cfg.backtrack_coeff == 0.8
    assert (cfg.damping, cfg.cg_iters, cfg.kl_delta) == (0.1, 10, 0.01)


@pytest.mark.parametrize("algo", NATURAL)
def test_smoke_natural_variants_write_their_metrics(tmp_path, tiny_overrides, algo):
    overrides = {**tiny_overrides, "diagnostics.fidelity_every": 2, "policy.hidden_sizes": "8,8"}
    cfg = resolve_config(algo, "Hopper-v5", 0, 512, overrides)
    frame = pd.read_parquet(train(cfg, tmp_path, progress=False).run_dir / "metrics.parquet")
    expected = {
        "kl_delta",
        "beta",
        "g_dot_x",
        "cg_residual",
        "backtracks",
        "skipped",
        "skip_reason",
        "time_grad",
        "time_fisher_fit",
        "time_solve",
        "time_line_search",
        "fidelity_cosine",
        "fidelity_kl_ratio",
        "fisher_cond",
        "kl",
    }
    assert expected <= set(frame.columns)
    # accepted only where a line search ran: analysis reads the absent column as n/a
    assert ("accepted" in frame.columns) == (CONFIGS[algo].max_backtracks > 0)
    assert len(frame) == 2 and not frame["skipped"].any(), frame["skip_reason"].tolist()
    assert frame["fidelity_cosine"].notna().tolist() == [True, False]
    solved_by_cg = isinstance(CONFIGS[algo], CGConfig)
    assert frame["cg_residual"].notna().all() if solved_by_cg else frame["cg_residual"].isna().all()


@pytest.mark.parametrize("algo", SAMPLED)
def test_sampled_estimators_are_reproducible_from_the_seed(algo):
    """Fresh actions come from a generator seeded by the registry's seed: same seed, same step."""
    batch = make_batch(small_policy(3, 2, hidden=(5,)), 64)
    thetas = []
    for seed in (0, 0, 1):
        policy = small_policy(3, 2, hidden=(5,))
        make_natural(policy, CONFIGS[algo], seed).update(batch)
        thetas.append(flat_params(policy.all_params()))
    assert torch.equal(thetas[0], thetas[1]) and not torch.equal(thetas[0], thetas[2])


def test_accepted_is_logged_only_when_a_line_search_is_configured():
    """npg_cg (max_backtracks 0) has no `accepted` key, so analysis shows n/a for its
    failed-line-search rate; trpo rows carry the line search's verdict."""
    batch = make_batch(small_policy(3, 2, hidden=(4,)), 64)
    rows = {
        algo: make_natural(small_policy(3, 2, hidden=(4,)), CONFIGS[algo], seed=0).update(batch)
        for algo in ("npg_cg", "trpo")
    }
    assert not rows["npg_cg"]["skipped"] and "accepted" not in rows["npg_cg"]
    assert rows["trpo"]["accepted"] is True and not rows["trpo"]["skipped"]
    sgd = make_vanilla(small_policy(3, 2, hidden=(4,)), VanillaConfig(step_rule="sgd"), seed=0)
    assert "accepted" not in sgd.update(batch)


@pytest.mark.parametrize("algo", [n for n in NATURAL if isinstance(CONFIGS[n], CGConfig)])
def test_a_nan_fisher_vector_product_in_cg_is_skipped_not_converged(monkeypatch, algo):
    """p^T F p = NaN in the CG solve raises FloatingPointError; the skeleton records the
    update as skipped with the reason and leaves theta_old in place (it is not a converged
    zero direction)."""
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 32)
    theta_old = flat_params(policy.all_params())
    monkeypatch.setattr(FisherOperator, "__call__", lambda self, v: torch.full_like(v, math.nan))
    stats = make_natural(policy, CONFIGS[algo], seed=0).update(batch)
    assert stats["skipped"] and "non-finite curvature" in stats["skip_reason"], stats
    assert ("accepted" in stats) == (CONFIGS[algo].max_backtracks > 0) and not stats.get(
        "accepted", False
    )
    assert torch.equal(theta_old, flat_params(policy.all_params()))


def _normal(mean: torch.Tensor, std: torch.Tensor) -> Normal:
    return Normal(mean, std.expand_as(mean))


def test_gaussian_kl_is_kl_of_the_first_argument_from_the_second():
    """gaussian_kl(m0, s0, m1, s1) = KL(N0 || N1) summed over action dims, checked against
    torch.distributions on a case where the two directions differ by ~50%."""
    m0 = torch.tensor([[0.0, 1.0], [0.5, -0.2]], dtype=torch.float64)
    s0 = torch.tensor([[0.5, 1.0], [0.3, 2.0]], dtype=torch.float64)
    m1 = torch.tensor([[0.4, 0.0], [0.0, 0.3]], dtype=torch.float64)
    s1 = torch.tensor([[1.0, 0.6], [0.9, 1.1]], dtype=torch.float64)
    forward = kl_divergence(Normal(m0, s0), Normal(m1, s1)).sum(-1)
    reverse = kl_divergence(Normal(m1, s1), Normal(m0, s0)).sum(-1)
    assert float((forward - reverse).abs().min()) > 0.3  # an asymmetric case
    torch.testing.assert_close(gaussian_kl(m0, s0, m1, s1), forward, rtol=1e-12, atol=1e-12)


def _std_unit(policy) -> torch.Tensor:
    """1 on std_w (log sigma, the last block of all_params), 0 on the mean net."""
    unit = torch.zeros(policy.num_params(), dtype=torch.float64)
    unit[-2:] = 1.0
    return unit


def _std_step_updater(sign: float, kl_delta: float) -> tuple:
    """A policy, a batch and a one-trial line search (max_backtracks 1) along
    log sigma += sign * 0.3 (the mean untouched), with advantages that reward that change
    of sigma, so the surrogate improves and acceptance is decided by the KL alone.
    Returns (policy, batch, updater, theta_old)."""
    policy = small_policy(3, 2, hidden=(4,))
    batch = make_batch(policy, 64)
    z2 = (((batch.actions - batch.old_mean) / batch.old_std) ** 2).sum(-1)
    batch = dataclasses.replace(batch, advantages=sign * (z2 - z2.mean()) / z2.std())
    direction = sign * _std_unit(policy)
    cfg = NaturalConfig(
        kl_delta=kl_delta, step_rule="fixed", fixed_step=0.3, max_backtracks=1, backtrack_coeff=0.5
    )
    precond = _Fixed(0.0)
    precond.solve = lambda g: direction.clone()
    return policy, batch, NaturalUpdater(policy, precond, cfg), flat_params(policy.all_params())


def _kl_log_sigma_shift(d: float) -> float:
    """KL(N(m, s) || N(m, s e^d)) summed over the 2 action dims."""
    return 2 * (d + math.exp(-2 * d) / 2 - 0.5)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_mean_kl_and_the_line_search_use_kl_old_to_new(sign):
    """Widening sigma by e^0.3 per dim: KL(old || new) ~ 0.149 < KL(new || old) ~ 0.222, and
    narrowing it by e^-0.3 the other way round. kl_delta halfway between the two: the wider
    step must be accepted and the narrower rejected; a reversed KL flips both outcomes."""
    forward, reverse = _kl_log_sigma_shift(0.3 * sign), _kl_log_sigma_shift(-0.3 * sign)
    assert abs(forward - reverse) > 0.07
    policy, batch, updater, theta_old = _std_step_updater(sign, 0.5 * (forward + reverse))
    with torch.no_grad():  # the step improves L, so only the KL can reject it
        before = float(surrogate(policy, batch))
        set_flat_params(policy.all_params(), theta_old + 0.3 * sign * _std_unit(policy))
        improvement = float(surrogate(policy, batch)) - before
        set_flat_params(policy.all_params(), theta_old)
    assert improvement > 1e-3, improvement
    stats = updater.update(batch)
    assert not stats["skipped"], stats
    if sign > 0:  # KL(old || new) = forward <= kl_delta < reverse: accepted
        assert stats["accepted"] is True and stats["backtracks"] == 0, stats
        assert stats["kl"] == pytest.approx(forward, rel=1e-9)
        # mean_kl itself, against torch.distributions at the moved policy
        mean, std = outputs(policy, batch.obs)
        old = _normal(batch.old_mean, batch.old_std)
        expected = kl_divergence(old, _normal(mean, std)).sum(-1).mean()
        assert float(mean_kl(policy, batch).detach()) == pytest.approx(float(expected), rel=1e-12)
        assert float(expected) == pytest.approx(forward, rel=1e-9)
    else:  # reverse < kl_delta < forward = KL(old || new): rejected, theta_old restored
        assert stats["accepted"] is False and stats["backtracks"] == 1, stats
        assert torch.equal(theta_old, flat_params(policy.all_params()))


def test_fidelity_kl_ratio_of_the_diagonal_direction_matches_a_hand_computation():
    """npg_diag (analytic, lambda 1e-2) on a fixed small problem: with F = mean J^T I J built
    here from the torch.func Jacobian (log sigma: the std block is 2 I),
        x = g / (diag F + lambda),  x* = (F + lambda I)^-1 g,
        fidelity_kl_ratio = x^T F x / x*^T F x*,  fidelity_cosine = cos(x, x*)."""
    policy = small_policy(3, 2, hidden=(6, 5))
    batch = make_batch(policy, 128)
    g = flat_grad(surrogate(policy, batch), policy.all_params()).detach()
    j = mean_jacobian(policy, batch.obs)
    sigma = policy.std().detach()
    f = torch.einsum("bap,a,baq->pq", j, sigma**-2, j) / j.shape[0]
    f[-2:, -2:] += 2.0 * torch.eye(2, dtype=torch.float64)
    eye = torch.eye(f.shape[0], dtype=torch.float64)
    x = g / (f.diagonal() + 1e-2)
    x_star = torch.linalg.solve(f + 1e-2 * eye, g)
    ratio = float(x @ f @ x) / float(x_star @ f @ x_star)
    cosine = float(x @ x_star / (x.norm() * x_star.norm()))
    assert abs(ratio - 1) > 0.1 and abs(math.log(ratio)) > 0.1  # far from the trivial value

    diagnostics = DiagnosticsConfig(fidelity_every=1, fidelity_max_params=1000)
    cfg = DiagonalConfig(estimator="analytic", damping=1e-2)
    stats = make_natural(policy, cfg, 0, diagnostics).update(batch)
    assert stats["fidelity_kl_ratio"] == pytest.approx(ratio, rel=1e-8)
    assert stats["fidelity_cosine"] == pytest.approx(cosine, rel=1e-8)
