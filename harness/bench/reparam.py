"""Exact reparameterisations theta = T(phi) of one Gaussian policy, for `bench invariance`.

Every family gives the same function pi(a|s) with other parameters phi. Where a standard
policy can hold phi (Linear layers whose weights are phi, with fixed parameter-free affine
maps between them), the family is a module (`Reparam.policy`) and every preconditioner runs on
it unchanged; that is the point of the test. For a Linear layer with input map (A, c) and
output map Omega (`LayerMap`), the phi-network computes

    x' = A^-1 (x - c),   z' = W' x' + b',   z = Omega^-1 z',
    W' = Omega W A,      b' = Omega (b + W c)          so z = W x + b, the function unchanged.

    unit-scale       A = diag(alpha), Omega = diag(omega) on every layer: theta = t * phi with
                     per-parameter scales t_ij = 1 / (omega_i alpha_j) (bias 1 / omega_i),
                     alpha, omega log-uniform, so t spans [1/kappa, kappa]     (diagonal T)
    input-whitening  layer 1: A = chol(Cov obs), c = mean obs: the net sees whitened states
    hidden-mixing    layer 2: dense A and Omega with condition number kappa (mixing of a hidden
                     layer's inputs and of its pre-activation outputs)
    std-<param>      the std vector in another of log / softplus / identity (nonlinear)

Two linear families cannot be written as Linear layers holding phi (the layer-factored
Fisher needs a layer's weights to be its parameters, and the std map to be elementwise), so
their phi-space direction is taken by the chain rule on the base policy (`ChainRule`,
`PulledBack`): g_phi = T^T g, F_phi = T^T F T, the step mapped back as T x_phi. K-FAC has no
phi-space form there.

    param-scale      theta = t * phi, t log-uniform in [1/kappa, kappa] per parameter
    std-dense        std_w = C phi_std, C dense with condition number kappa
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from npgbench.algorithms.fisher.cg import conjugate_gradient
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.algorithms.fisher.rows import linear_layers, score_rows
from npgbench.harness.core.policy import GaussianPolicy, std_inverse
from npgbench.harness.core.rollout import Batch
from torch import nn

F64 = torch.float64
STD_PARAMS = ("log", "softplus", "identity")
FAMILIES = (
    "unit-scale",
    "input-whitening",
    "hidden-mixing",
    "param-scale",
    "std-dense",
    *(f"std-{p}" for p in STD_PARAMS),
)


class FixedAffine(nn.Module):
    """x [N, d_in] -> (x - shift) @ matrix^T [N, d_out]: buffers only, no parameters, so the
    layer-factored Fisher (rows.linear_layers) sees the Linear layers alone."""

    def __init__(self, matrix: torch.Tensor, shift: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("matrix", matrix)
        self.register_buffer("shift", torch.zeros_like(matrix[0]) if shift is None else shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) @ self.matrix.T


@dataclass
class LayerMap:
    """Maps of one Linear layer [d_out, d_in]: input x' = A^-1 (x - c), output z' = Omega z."""

    in_matrix: torch.Tensor | None = None  # A [d_in, d_in]
    in_shift: torch.Tensor | None = None  # c [d_in]
    out_matrix: torch.Tensor | None = None  # Omega [d_out, d_out]


@dataclass
class ChainRule:
    """theta - theta_old = T (phi - phi_old), T = blockdiag(diag(scale), block): `scale` [P - A]
    on the mean net's parameters, `block` [A, A] on the std vector (the last A entries)."""

    scale: torch.Tensor
    block: torch.Tensor

    def apply(self, v: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """T v (or T^T v) for v [P] or [P, k]."""
        a = self.block.shape[0]
        block = self.block.T if transpose else self.block
        mean = v[:-a] * (self.scale if v.ndim == 1 else self.scale[:, None])
        return torch.cat([mean, block @ v[-a:]])


@dataclass
class Reparam:
    """One family: the phi-parameterised policy, or the chain rule on the base policy."""

    family: str
    linear: bool
    """T linear (invariance predicted up to damping) or nonlinear (to first order)."""
    diagonal: bool
    """T (or its Jacobian) diagonal: what the diagonal Fisher is invariant to."""
    policy: GaussianPolicy | None = None
    chain: ChainRule | None = None
    layerwise: bool = field(init=False)
    """Affine maps of each layer's inputs / outputs only: what K-FAC is invariant to."""
    std_only: bool = field(init=False)
    """T touches the std vector alone (the mean net's parameters are the same)."""

    def __post_init__(self):
        self.layerwise = self.policy is not None
        self.std_only = self.family.startswith("std-")


def log_uniform(n: int, kappa: float, gen: torch.Generator) -> torch.Tensor:
    """n scales [n], log-uniform in [1/sqrt(kappa), sqrt(kappa)], float64."""
    u = torch.rand(n, generator=gen, dtype=F64)
    return torch.exp((u - 0.5) * math.log(kappa))


def conditioned(d: int, kappa: float, gen: torch.Generator) -> torch.Tensor:
    """A dense [d, d] matrix U diag(s) V^T with random orthogonal U, V and singular values s
    log-spaced over [1/sqrt(kappa), sqrt(kappa)] (condition number kappa), float64."""
    u, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=F64))
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=F64))
    s = torch.logspace(-0.5, 0.5, d, base=kappa, dtype=F64)
    return u @ torch.diag(s) @ v.T


def reparameterise(
    base: GaussianPolicy, maps: dict[int, LayerMap], std_param: str | None = None
) -> GaussianPolicy:
    """The same pi with parameters phi: Linear layer l (0-based, in order) under maps[l], and
    the std vector in `std_param` (default: the base's). Float64, a new module."""
    policy = copy.deepcopy(base).double()
    layers, modules = linear_layers(policy), []
    for module in policy.mean_net:
        if not isinstance(module, nn.Linear):
            modules.append(module)
            continue
        m = maps.get(layers.index(module), LayerMap())
        w, b = module.weight.detach().clone(), module.bias.detach().clone()
        a = m.in_matrix if m.in_matrix is not None else torch.eye(w.shape[1], dtype=F64)
        c = m.in_shift if m.in_shift is not None else torch.zeros(w.shape[1], dtype=F64)
        omega = m.out_matrix if m.out_matrix is not None else torch.eye(w.shape[0], dtype=F64)
        if m.in_matrix is not None or m.in_shift is not None:
            modules.append(FixedAffine(torch.linalg.inv(a), c))
        with torch.no_grad():
            module.weight.copy_(omega @ w @ a)
            module.bias.copy_(omega @ (b + w @ c))
        modules.append(module)
        if m.out_matrix is not None:
            modules.append(FixedAffine(torch.linalg.inv(omega)))
    policy.mean_net = nn.Sequential(*modules)
    if std_param is not None and std_param != base.std_param:
        sigma = base.std().detach().double()
        policy.std_param = std_param
        with torch.no_grad():
            policy.std_w.copy_(
                torch.tensor([std_inverse(float(s), std_param) for s in sigma], dtype=F64)
            )
    return policy


def families(
    base: GaussianPolicy, obs: torch.Tensor, kappa: float, seed: int
) -> dict[str, Reparam]:
    """Every family of the module docstring for `base` (float64) at the batch states obs [B, O].
    Random maps are drawn from a generator seeded `seed` (deterministic)."""
    gen = torch.Generator().manual_seed(seed)
    layers = linear_layers(base)
    unit = {
        i: LayerMap(
            in_matrix=torch.diag(log_uniform(m.in_features, kappa, gen)),
            out_matrix=torch.diag(log_uniform(m.out_features, kappa, gen)),
        )
        for i, m in enumerate(layers)
    }
    x = obs.double()
    white = LayerMap(in_matrix=torch.linalg.cholesky(torch.cov(x.T)), in_shift=x.mean(0))
    out = {
        "unit-scale": Reparam("unit-scale", True, True, reparameterise(base, unit)),
        "input-whitening": Reparam(
            "input-whitening", True, False, reparameterise(base, {0: white})
        ),
    }
    if len(layers) > 2:  # a hidden-to-hidden layer to mix
        d_in, d_out = layers[1].in_features, layers[1].out_features
        mix = LayerMap(in_matrix=conditioned(d_in, kappa, gen),
                       out_matrix=conditioned(d_out, kappa, gen))  # fmt: skip
        out["hidden-mixing"] = Reparam("hidden-mixing", True, False, reparameterise(base, {1: mix}))
    act_dim, n_params = base.std_w.numel(), base.num_params()
    scales = log_uniform(n_params, kappa**2, gen)  # per-parameter t in [1/kappa, kappa]
    out["param-scale"] = Reparam(
        "param-scale", True, True, chain=ChainRule(scales[:-act_dim], torch.diag(scales[-act_dim:]))
    )
    ones = torch.ones(n_params - act_dim, dtype=F64)
    out["std-dense"] = Reparam(
        "std-dense", True, False, chain=ChainRule(ones, conditioned(act_dim, kappa, gen))
    )
    for param in STD_PARAMS:
        if param != base.std_param:
            policy = reparameterise(base, {}, std_param=param)
            out[f"std-{param}"] = Reparam(f"std-{param}", False, True, policy)
    return out


class PulledBack:
    """A preconditioner of the phi parameterisation of a `ChainRule` family, run on the base
    policy: solve(g) returns T x_phi with g_phi = T^T g and F_phi = T^T F T (Preconditioner
    protocol, so the natural skeleton takes the step theta_old + beta T x_phi).

        identity   x_phi = g_phi
        exact      x_phi = (F_phi + lambda I)^-1 g_phi, F = S^T S of the real score rows
                   (sampled or analytic, rows.py), dense Cholesky in float64
        diagonal   x_phi = g_phi / (diag F_phi + lambda)
        cg         conjugate gradient on v -> T^T F T v + lambda v (FisherOperator)
    `fisher_cache` (keyed by estimator) holds F across dampings: the base policy and batch
    are the same for every call of one experiment.
    """

    KINDS = ("identity", "exact", "diagonal", "cg")

    def __init__(self, kind: str, chain: ChainRule, damping: float, **options):
        assert kind in self.KINDS, kind
        self.kind, self.chain, self.damping = kind, chain, damping
        self.estimator = options.get("estimator", "sampled")
        self.seed, self.cg_iters = options.get("seed", 0), options.get("cg_iters", 10)
        self.cg_tol = options.get("cg_tol", 0.0)
        self.cache: dict = options.get("fisher_cache", {})
        self.curvature, self.fvp, self.residual = None, None, math.nan

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        if self.kind == "cg":
            self.fvp = FisherOperator(policy, batch.obs)
        elif self.kind in ("exact", "diagonal"):
            gen = torch.Generator().manual_seed(self.seed)
            if self.estimator not in self.cache:
                rows = score_rows(policy, batch.obs, self.estimator, gen).to(F64)
                self.cache[self.estimator] = rows.fisher()
            fisher = self.cache[self.estimator]
            t_f = self.chain.apply(fisher, transpose=True)  # T^T F [P, P]
            f_phi = self.chain.apply(t_f.T, transpose=True)  # T^T F T (symmetric)
            self.curvature = f_phi if self.kind == "exact" else f_phi.diagonal().clone()

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        g_phi = self.chain.apply(g.to(F64), transpose=True)
        if self.kind == "identity":
            x_phi = g_phi
        elif self.kind == "diagonal":
            x_phi = g_phi / (self.curvature + self.damping)
        elif self.kind == "exact":
            damped = self.curvature.clone()
            damped.diagonal().add_(self.damping)
            x_phi = torch.cholesky_solve(g_phi[:, None], torch.linalg.cholesky(damped))[:, 0]
        else:

            def matvec(v: torch.Tensor) -> torch.Tensor:
                fv = self.fvp(self.chain.apply(v).to(g.dtype)).to(F64)
                return self.chain.apply(fv, transpose=True) + self.damping * v

            x_phi, self.residual, _ = conjugate_gradient(matvec, g_phi, self.cg_iters, self.cg_tol)
        return self.chain.apply(x_phi).to(g.dtype)

    def diagnostics(self) -> dict[str, float]:
        return {"cg_residual": self.residual} if self.kind == "cg" else {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
