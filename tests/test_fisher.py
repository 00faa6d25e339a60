"""Preconditioners against closed forms: exact, sampled, diagonal, K-FAC, CG, products.

Everything runs in float64 on tiny policies (fisher_fixtures), so tolerances are numerical
except where a test says it is statistical.
"""

from __future__ import annotations

import math

import pytest
import torch
from fisher_fixtures import make_batch, small_policy
from npgbench.algorithms.fisher.cg import ConjugateGradient, conjugate_gradient
from npgbench.algorithms.fisher.diagonal import DiagonalFisher
from npgbench.algorithms.fisher.exact import ExactFisher
from npgbench.algorithms.fisher.kfac import KFAC, KroneckerBlock, split_damping
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.algorithms.fisher.rows import analytic_rows, rows_at, sampled_rows, score_rows
from npgbench.harness.core.config import ConfigError
from oracles import (
    analytic_fisher,
    kfac_dense,
    kl_hessian_vector,
    mean_jacobian,
    per_sample_scores,
    to_parameter_order,
)

STD_PARAMS = ["log", "softplus", "identity"]
OBS, ACT = 3, 2
F64 = torch.float64


def closed_form_fisher(policy, obs: torch.Tensor) -> torch.Tensor:
    """F of mu = W s + b, N(mu, diag sigma^2), written out by hand.

    mean block: F[(a, i), (a', j)] = delta_aa' / sigma_a^2 * mean_s sbar_i sbar_j, sbar = [s, 1];
    std block: 2 (dsigma/dw)^2 / sigma^2 (log: 2; softplus: 2 sigmoid(w)^2 / sigma^2;
    identity: 2 / sigma^2). Parameter order: W row-major, b, std_w.
    """
    w = policy.std_w.detach()
    sigma = {"log": w.exp(), "softplus": torch.nn.functional.softplus(w), "identity": w}[
        policy.std_param
    ]
    dsigma = {"log": sigma, "softplus": torch.sigmoid(w), "identity": torch.ones_like(w)}[
        policy.std_param
    ]
    sbar = torch.cat([obs, torch.ones(obs.shape[0], 1, dtype=obs.dtype)], 1)
    second_moment = sbar.T @ sbar / obs.shape[0]
    n_params = ACT * OBS + ACT + ACT
    f = torch.zeros(n_params, n_params, dtype=torch.float64)

    def index(a: int, i: int) -> int:
        return a * OBS + i if i < OBS else ACT * OBS + a

    for a in range(ACT):
        for i in range(OBS + 1):
            for j in range(OBS + 1):
                f[index(a, i), index(a, j)] = second_moment[i, j] / sigma[a] ** 2
    start = ACT * OBS + ACT
    f[start:, start:] = torch.diag(2 * dsigma**2 / sigma**2)
    return f


@pytest.mark.parametrize("std_param", STD_PARAMS)
def test_linear_gaussian_closed_form_equals_exact_analytic_and_its_products(std_param):
    policy = small_policy(OBS, ACT, hidden=(), std_param=std_param)
    batch = make_batch(policy, 64)
    f = closed_form_fisher(policy, batch.obs)
    exact = ExactFisher(1e-3, "analytic", form="dense")
    exact.fit(policy, batch)
    torch.testing.assert_close(exact.matrix, f, rtol=1e-12, atol=1e-12)
    v = torch.randn(f.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(exact.fisher_matvec(v), f @ v, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(FisherOperator(policy, batch.obs)(v), f @ v, rtol=1e-12, atol=1e-12)
    damped = f + 1e-3 * torch.eye(f.shape[0], dtype=torch.float64)
    torch.testing.assert_close(exact.solve(v), torch.linalg.solve(damped, v), rtol=1e-9, atol=1e-12)
    gram = ExactFisher(1e-3, "analytic", form="gram")
    gram.fit(policy, batch)
    torch.testing.assert_close(gram.solve(v), torch.linalg.solve(damped, v), rtol=1e-8, atol=1e-10)


def test_sampled_estimator_converges_to_the_analytic_fisher():
    """Statistical: F_hat is a mean of N = 64 k i.i.d.-per-state outer products, so its relative
    Frobenius error falls like c / sqrt(k); measured over 20 seeds c ~ 0.6 (k=1024: mean 0.019,
    sd 0.003). Tolerances: k=1024 below 0.035 (> 5 sd), and at least 3x smaller than at k=16
    (expected 8x)."""
    policy = small_policy(OBS, ACT, hidden=())
    batch = make_batch(policy, 64)
    f = closed_form_fisher(policy, batch.obs)
    errors = {}
    for k in (16, 1024):
        exact = ExactFisher(1e-3, "sampled", torch.Generator().manual_seed(3), k, form="dense")
        exact.fit(policy, batch)
        errors[k] = float((exact.matrix - f).norm() / f.norm())
    assert errors[1024] < 0.035, errors
    assert errors[16] > 3 * errors[1024], errors


@pytest.mark.parametrize("std_param", STD_PARAMS)
def test_fisher_vector_products_equal_explicit_jt_i_j(std_param):
    """Double-backprop KL Hessian, Gauss-Newton operator and layer rows vs J^T I J v (vmap J)."""
    policy = small_policy(OBS, ACT, hidden=(6, 5), std_param=std_param)
    batch = make_batch(policy, 40)
    j = mean_jacobian(policy, batch.obs)  # [B, A, P], an independent torch.func path
    sigma = policy.std().detach()
    std_block = torch.zeros(j.shape[-1], dtype=torch.float64)
    std_block[-ACT:] = policy.std_fisher().detach()
    explicit = torch.einsum("bap,a,baq->pq", j, sigma**-2, j) / j.shape[0] + torch.diag(std_block)
    v = torch.randn(j.shape[-1], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected = explicit @ v
    products = {
        "double backprop": kl_hessian_vector(policy, batch.obs, batch.old_mean, batch.old_std, v),
        "gauss-newton": FisherOperator(policy, batch.obs)(v),
        "rows": analytic_rows(policy, batch.obs).rmatvec(
            analytic_rows(policy, batch.obs).matvec(v)
        ),
        "dense": analytic_fisher(policy, batch.obs) @ v,
    }
    for name, fv in products.items():
        assert float((fv.detach() - expected).norm() / expected.norm()) < 1e-6, name


def test_sampled_rows_are_per_sample_scores_of_fresh_actions():
    policy = small_policy(OBS, ACT, hidden=(4,), std_param="softplus")
    batch = make_batch(policy, 30)
    rows = sampled_rows(policy, batch.obs, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    mean, std = policy(batch.obs)
    actions = mean + std * torch.randn(mean.shape, generator=gen, dtype=torch.float64)
    assert not torch.allclose(actions, batch.actions)  # not the buffer's (empirical Fisher)
    scores = per_sample_scores(policy, batch.obs, actions.detach()) / math.sqrt(30)
    torch.testing.assert_close(rows.dense_rows(0, 30), scores, rtol=1e-10, atol=1e-12)
    # sampled_rows = fresh actions + rows_at, bit for bit
    at = rows_at(policy, batch.obs, actions.detach())
    assert all(torch.equal(x, y) for x, y in zip(rows.inputs + rows.grads, at.inputs + at.grads))
    assert torch.equal(rows.std, at.std) and rows.state_rows == at.state_rows == 30


def test_rows_at_are_the_per_sample_scores_of_the_given_actions():
    policy = small_policy(OBS, ACT, hidden=(4,), std_param="log")
    batch = make_batch(policy, 30)
    rows = rows_at(policy, batch.obs, batch.actions)  # the buffer's: the empirical Fisher's rows
    scores = per_sample_scores(policy, batch.obs, batch.actions) / math.sqrt(30)
    torch.testing.assert_close(rows.dense_rows(0, 30), scores, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"actions \[N, 2\]"):
        rows_at(policy, batch.obs, batch.actions[:, :1])


def damped_system(damping: float, seed: int):
    """(policy, batch, F + damping I [P, P], g [P]) of a small float64 policy: a CG test case."""
    policy = small_policy(OBS, ACT, hidden=(3,))
    batch = make_batch(policy, 50)
    p = policy.num_params()
    f = analytic_fisher(policy, batch.obs) + damping * torch.eye(p, dtype=torch.float64)
    g = torch.randn(p, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return policy, batch, f, g


def test_cg_with_n_iterations_equals_the_direct_solve_and_lowers_the_objective():
    policy, batch, f, g = damped_system(0.1, seed=0)
    objectives = []
    x, residual, iters = conjugate_gradient(
        lambda v: f @ v,
        g,
        policy.num_params(),
        tol=0.0,
        callback=lambda x: objectives.append(float(0.5 * x @ f @ x - g @ x)),
    )
    torch.testing.assert_close(x, torch.linalg.solve(f, g), rtol=1e-7, atol=1e-9)
    assert iters == policy.num_params() and residual < 1e-6
    # every iteration lowers q(x) = 1/2 x^T A x - g^T x; once converged, only by rounding
    drops = [a - b for a, b in zip([0.0, *objectives], objectives, strict=False)]
    assert all(d > -1e-12 * abs(objectives[-1]) for d in drops), drops
    assert all(d > 1e-6 for d in drops[:10]), drops
    precond = ConjugateGradient(0.1, cg_iters=policy.num_params(), cg_tol=0.0)
    precond.fit(policy, batch)
    torch.testing.assert_close(precond.solve(g), torch.linalg.solve(f, g), rtol=1e-6, atol=1e-8)
    assert precond.diagnostics()["cg_residual"] < 1e-5


def test_cg_records_its_truncation_residual():
    """The recorded residual is the true |g - (F + lambda I) x| / |g| of the truncated solve."""
    policy = small_policy(OBS, ACT, hidden=(6, 5))
    batch = make_batch(policy, 50)
    precond = ConjugateGradient(1e-3, cg_iters=3)
    precond.fit(policy, batch)
    g = torch.randn(policy.num_params(), dtype=torch.float64)
    x = precond.solve(g)
    f = analytic_fisher(policy, batch.obs) + 1e-3 * torch.eye(
        policy.num_params(), dtype=torch.float64
    )
    true_residual = float((g - f @ x).norm() / g.norm())
    assert precond.diagnostics()["cg_residual"] == pytest.approx(true_residual, rel=1e-6)
    assert true_residual > 1e-3 and precond.diagnostics()["cg_iterations"] == 3


def test_cg_raises_on_non_finite_curvature_and_stops_on_zero_curvature():
    """A NaN (or inf) p^T A p is a numerical failure, never convergence; a finite
    non-positive one is the early stop (nothing left to gain along p)."""
    b = torch.ones(4, dtype=F64)
    for bad in (math.nan, math.inf):
        with pytest.raises(FloatingPointError, match="non-finite curvature"):
            conjugate_gradient(lambda v, bad=bad: torch.full_like(v, bad), b, 10)
    x, residual, iters = conjugate_gradient(torch.zeros_like, b, 10)
    assert torch.equal(x, torch.zeros_like(b)) and iters == 0 and residual == 1.0


@pytest.mark.parametrize("estimator", ["analytic", "sampled"])
def test_diagonal_equals_the_diagonal_of_the_dense_fisher(estimator):
    policy = small_policy(OBS, ACT, hidden=(6, 5), std_param="softplus")
    batch = make_batch(policy, 40)
    exact = ExactFisher(1e-2, estimator, torch.Generator().manual_seed(7), form="dense")
    exact.fit(policy, batch)
    diag = DiagonalFisher(1e-2, estimator, torch.Generator().manual_seed(7))
    diag.fit(policy, batch)
    torch.testing.assert_close(diag.diagonal, exact.matrix.diagonal(), rtol=1e-10, atol=1e-14)
    g = torch.randn(policy.num_params(), dtype=torch.float64)
    torch.testing.assert_close(diag.solve(g), g / (exact.matrix.diagonal() + 1e-2))
    if estimator == "analytic":
        torch.testing.assert_close(exact.matrix, analytic_fisher(policy, batch.obs))


def test_kfac_is_exact_for_a_single_linear_layer_and_its_factors_are_analytic():
    policy = small_policy(OBS, ACT, hidden=(), std_param="identity")
    batch = make_batch(policy, 64)
    kfac = KFAC(1e-2, "analytic")
    kfac.fit(policy, batch)
    torch.testing.assert_close(kfac_dense(kfac), closed_form_fisher(policy, batch.obs))
    ((a, g),) = kfac.factors
    sbar = torch.cat([batch.obs, torch.ones(64, 1, dtype=torch.float64)], 1)
    torch.testing.assert_close(a, sbar.T @ sbar / 64)  # A = E[sbar sbar^T]
    torch.testing.assert_close(g, torch.diag(policy.std().detach() ** -2))  # G = Sigma^-1
    # the solve inverts (G + gamma_G) (x) (A + gamma_A) (+ exact std block + lambda)
    blk = kfac.blocks[0]
    eye_a, eye_g = torch.eye(a.shape[0], dtype=a.dtype), torch.eye(g.shape[0], dtype=g.dtype)
    assert blk.gamma_a * blk.gamma_g == pytest.approx(1e-2)
    damped = torch.kron(g + blk.gamma_g * eye_g, a + blk.gamma_a * eye_a)
    damped = torch.block_diag(
        to_parameter_order(damped, a.shape[0]), torch.diag(kfac.std_fisher + 1e-2)
    )
    v = torch.randn(policy.num_params(), dtype=torch.float64)
    torch.testing.assert_close(kfac.solve(v), torch.linalg.solve(damped, v))


def test_kfac_sampled_g_converges_to_sigma_inverse_and_factors_are_running_averages():
    """Statistical: G_hat = mean of g g^T, g = (a - mu) / sigma^2 over 20000 fresh actions;
    each entry has sd ~ sqrt(2) / sigma^2 / sqrt(20000) ~ 0.02 at sigma = 0.7; tolerance 0.1.
    Running average with stat_decay rho = 0.9 (asymmetric, so rho <-> 1 - rho is caught):
    factor = rho * old + (1 - rho) * new, for A and for G (same fresh actions as the fit)."""
    policy = small_policy(OBS, ACT, hidden=())
    kfac = KFAC(1e-2, "sampled", torch.Generator().manual_seed(0), stat_decay=0.9)
    first = make_batch(policy, 20000, seed=1)
    kfac.fit(policy, first)
    ((a1, g1),) = kfac.factors
    torch.testing.assert_close(g1, torch.diag(policy.std().detach() ** -2), atol=0.1, rtol=0)
    second = make_batch(policy, 100, seed=2)
    gen = torch.Generator()
    gen.set_state(kfac.gen.get_state())  # the actions the second fit will draw
    ((a2, g2),) = kfac.batch_factors(score_rows(policy, second.obs, "sampled", gen).to(F64))
    assert float((a2 - a1).norm()) > 0.1 and float((g2 - g1).norm()) > 0.1  # a visible mix
    kfac.fit(policy, second)
    ((a, g),) = kfac.factors
    torch.testing.assert_close(a, 0.9 * a1 + 0.1 * a2, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g, 0.9 * g1 + 0.1 * g2, rtol=1e-12, atol=1e-14)


def test_split_damping_balances_the_factors_by_their_mean_traces():
    """pi^2 = (tr A / dim A) / (tr G / dim G); gamma_A = pi sqrt(lambda), gamma_G = sqrt(lambda)/pi."""
    a = torch.tensor([[9.0, 1.0, 0.0], [1.0, 8.0, 2.0], [0.0, 2.0, 7.0]], dtype=F64)  # mean 8
    g = torch.tensor([[3.0, -1.0], [-1.0, 1.0]], dtype=F64)  # mean trace 2
    gamma_a, gamma_g = split_damping(a, g, 1e-2)  # pi = sqrt(8 / 2) = 2, sqrt(lambda) = 0.1
    assert gamma_a == pytest.approx(0.2, rel=1e-12)
    assert gamma_g == pytest.approx(0.05, rel=1e-12)
    gamma_a, gamma_g = split_damping(g, a, 1e-2)  # the other way round: pi = 1/2
    assert (gamma_a, gamma_g) == (pytest.approx(0.05, rel=1e-12), pytest.approx(0.2, rel=1e-12))
    zero = torch.zeros(2, 2, dtype=F64)  # degenerate ratio: pi = 1, an even split
    assert split_damping(a, zero, 4.0) == (pytest.approx(2.0), pytest.approx(2.0))


def test_kronecker_block_solve_inverts_the_damped_kronecker_product():
    """Non-diagonal SPD G [3, 3] and A [4, 4], distinct gammas. The block acts on the layer's
    gradient V = [W | b] [d_out, d_in + 1] vectorised row-major, where the block is G (x) A
    (torch.kron(G, A), as oracles.kfac_dense): vec(X) = ((G + gamma_G I) (x) (A + gamma_A I))^-1 vec(V)."""
    gen = torch.Generator().manual_seed(11)

    def spd(n: int) -> torch.Tensor:
        m = torch.randn(n, n, generator=gen, dtype=F64)
        return m @ m.T / n + 0.1 * torch.eye(n, dtype=F64)

    g, a = spd(3), spd(4)
    for m in (g, a):  # genuinely non-diagonal: every off-diagonal entry is non-zero
        off = m[~torch.eye(m.shape[0], dtype=torch.bool)]
        assert float(off.abs().min()) > 1e-3
    eig_a, vec_a = torch.linalg.eigh(a)
    eig_g, vec_g = torch.linalg.eigh(g)
    block = KroneckerBlock(eig_a, vec_a, eig_g, vec_g, gamma_a=0.3, gamma_g=0.05)
    v = torch.randn(3, 4, generator=gen, dtype=F64)
    damped = torch.kron(g + 0.05 * torch.eye(3, dtype=F64), a + 0.3 * torch.eye(4, dtype=F64))
    expected = torch.linalg.solve(damped, v.reshape(-1)).reshape(3, 4)
    torch.testing.assert_close(block.solve(v), expected, rtol=1e-10, atol=1e-12)


def test_kfac_on_an_mlp_is_block_diagonal_and_differs_from_exact():
    policy = small_policy(OBS, ACT, hidden=(5,))
    batch = make_batch(policy, 64)
    kfac = KFAC(1e-2, "analytic")
    kfac.fit(policy, batch)
    approx, exact = kfac_dense(kfac), analytic_fisher(policy, batch.obs)
    first_layer = 5 * (OBS + 1)
    assert torch.count_nonzero(approx[:first_layer, first_layer:]) == 0
    assert float((approx - exact).norm() / exact.norm()) > 1e-3


def test_gram_and_dense_forms_agree_on_the_sampled_fisher():
    policy = small_policy(OBS, ACT, hidden=(8, 8))  # P = 32 + 72 + 18 + 2 = 124 > 40 rows
    batch = make_batch(policy, 40)
    g = torch.randn(policy.num_params(), dtype=torch.float64)
    solutions = []
    for form in ("gram", "dense"):
        exact = ExactFisher(1e-2, "sampled", torch.Generator().manual_seed(4), form=form)
        exact.fit(policy, batch)
        assert exact.form == form
        solutions.append(exact.solve(g))
    torch.testing.assert_close(solutions[0], solutions[1], rtol=1e-8, atol=1e-10)
    auto = ExactFisher(1e-2, "sampled", torch.Generator().manual_seed(4))
    auto.fit(policy, batch)
    assert auto.form == "gram"  # 40 rows < 124 parameters


@pytest.mark.parametrize("estimator, form", [("analytic", "dense"), ("sampled", "gram")])
def test_condition_number_estimate_matches_eigvalsh(estimator, form):
    policy = small_policy(OBS, ACT, hidden=(8, 8))  # 124 parameters, 40 sampled rows
    batch = make_batch(policy, 40)
    exact = ExactFisher(
        1e-2, estimator, torch.Generator().manual_seed(0), form=form, cond_iters=300
    )
    exact.fit(policy, batch)
    eig = torch.linalg.eigvalsh(exact.rows.fisher()) + 1e-2
    estimate = exact.diagnostics()["fisher_cond"]
    assert estimate == pytest.approx(float(eig[-1] / eig[0]), rel=1e-3)


def test_exact_refuses_before_allocating_and_names_npg_cg():
    policy = small_policy(OBS, ACT, hidden=(64, 64))
    batch = make_batch(policy, 256)
    exact = ExactFisher(1e-2, "analytic", max_memory_mb=1.0)
    with pytest.raises(ConfigError, match="npg_cg"):
        exact.fit(policy, batch)
    assert exact.fitted is None


def test_kronecker_block_damping_term_is_the_damped_model_minus_g_kron_a():
    """D = (G + gamma_G I) (x) (A + gamma_A I) - G (x) A, formed with torch.kron, applied to
    vec(V) row-major: the damping K-FAC's solve adds to G (x) A (not lambda I)."""
    gen = torch.Generator().manual_seed(12)
    g, a = (m @ m.T / 3 for m in (torch.randn(3, 3, generator=gen, dtype=F64),
                                  torch.randn(4, 4, generator=gen, dtype=F64)))  # fmt: skip
    eig_a, vec_a = torch.linalg.eigh(a)
    eig_g, vec_g = torch.linalg.eigh(g)
    block = KroneckerBlock(eig_a, vec_a, eig_g, vec_g, gamma_a=0.3, gamma_g=0.05)
    eye3, eye4 = torch.eye(3, dtype=F64), torch.eye(4, dtype=F64)
    explicit = torch.kron(g + 0.05 * eye3, a + 0.3 * eye4) - torch.kron(g, a)
    v = torch.randn(3, 4, generator=gen, dtype=F64)
    expected = (explicit @ v.reshape(-1)).reshape(3, 4)
    torch.testing.assert_close(block.damping_term(v), expected, rtol=1e-10, atol=1e-12)
    assert float((expected - 0.015 * v).norm()) > 0.1  # visibly not lambda I (lambda = 0.015)


def test_kfac_solve_inverts_its_factors_plus_its_damping_model():
    """Two layers, sampled factors: solve((G (x) A + D) v) = v with D = damping_matvec, on the
    mean blocks (G V A + D V) and the std block ((std_fisher + lambda) v)."""
    policy = small_policy(OBS, ACT, hidden=(5,))
    kfac = KFAC(1e-2, "sampled", torch.Generator().manual_seed(0))
    kfac.fit(policy, make_batch(policy, 64))
    v = torch.randn(policy.num_params(), dtype=F64)
    blocks, v_std = kfac.layout.split(v)
    factored = [g @ blk @ a for (a, g), blk in zip(kfac.factors, blocks)]
    model_v = kfac.layout.join(factored, kfac.std_fisher * v_std) + kfac.damping_matvec(v)
    torch.testing.assert_close(kfac.solve(model_v), v, rtol=1e-8, atol=1e-10)


def test_cg_relative_tolerance_stops_at_the_first_iterate_within_it():
    """rtol stops CG at the first iteration whose |r| / |b| <= rtol: the same iterates as
    without it up to there, and the returned residual is within the tolerance."""
    policy, _, f, g = damped_system(0.01, seed=1)
    residuals = []
    conjugate_gradient(
        lambda v: f @ v,
        g,
        policy.num_params(),
        callback=lambda x: residuals.append(float((g - f @ x).norm() / g.norm())),
    )
    rtol = 1e-3
    first = next(i for i, r in enumerate(residuals, start=1) if r <= rtol * (1 + 1e-6))
    assert 1 < first < policy.num_params(), (first, residuals)
    x, residual, iters = conjugate_gradient(lambda v: f @ v, g, policy.num_params(), rtol=rtol)
    assert iters == first and residual <= rtol * (1 + 1e-6)
    x_direct = torch.linalg.solve(f, g)
    assert float((x - x_direct).norm() / x_direct.norm()) < 1e-3 * float(torch.linalg.cond(f))
    # rtol 0 runs every iteration, as before the option existed
    assert conjugate_gradient(lambda v: f @ v, g, first)[2] == first
