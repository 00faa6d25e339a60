"""The measures of `npgbench bench fidelity` on one batch: each direction against the exact
natural gradient, and each direction's step on states it did not see.

Reference: the analytic dense Fisher F = mean_s J^T I J [P, P] of the batch (float64, formed
once per batch) and x*(lambda) = (F + lambda I)^-1 g by Cholesky, the same x* for every
direction. Against x* (natural.compare_directions): cos(x, x*) and x^T F x / x*^T F x*; and
against the direction's own damping model, x*_own = (F + D)^-1 g with D its damping_matvec
(K-FAC's factored damping) or lambda_own I (natural.own_model_solve).

Steps: beta x with beta = sqrt(2 kl_delta / x^T F_fit x), F_fit the analytic Fisher of the
batch x was computed on (the natural update's step rule). A step's first-order surrogate gain
on batch E is g_E^T (beta x) and its KL is mean_E KL(pi_old || pi_theta+step), measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from npgbench.algorithms.common import mean_kl, surrogate
from npgbench.algorithms.fidelity import compare_directions, own_model_solve
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.algorithms.fisher.rows import analytic_rows
from npgbench.harness.core.config import FIDELITY_DEFAULT_DAMPING
from npgbench.harness.core.policy import GaussianPolicy, flat_grad, flat_params, set_flat_params
from npgbench.harness.core.rollout import Batch

F64 = torch.float64


class DenseReference:
    """F [P, P] of the analytic dense Fisher at the batch's states, float64; (F + lambda I)^-1
    by Cholesky, one factor per lambda. `dense_fisher()` as fidelity.own_model_solve reads it
    from an ExactFisher."""

    def __init__(self, policy: GaussianPolicy, obs: torch.Tensor, matrix=None):
        self.matrix = analytic_rows(policy, obs).to(F64).fisher() if matrix is None else matrix
        self.states = obs.shape[0]
        self._chol: dict[float, torch.Tensor] = {}

    @classmethod
    def union(cls, a: DenseReference, b: DenseReference, obs: torch.Tensor) -> DenseReference:
        """The reference of the states of a and b together (obs [Na + Nb, O]): F is a mean
        over states (the std block is the same at every state), so F = (Na Fa + Nb Fb) / N
        without forming the rows again."""
        matrix = (a.states * a.matrix + b.states * b.matrix) / (a.states + b.states)
        return cls(None, obs, matrix)

    def solve(self, damping: float, g: torch.Tensor) -> torch.Tensor:
        """(F + damping I)^-1 g: g [P] -> [P], float64."""
        if damping not in self._chol:
            damped = self.matrix.clone()
            damped.diagonal().add_(damping)
            self._chol[damping] = torch.linalg.cholesky(damped)
        return torch.cholesky_solve(g.to(F64)[:, None], self._chol[damping])[:, 0]

    def fisher_matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matrix @ v.to(F64)

    def dense_fisher(self) -> torch.Tensor:
        """F [P, P], undamped."""
        return self.matrix


def gradient(policy: GaussianPolicy, batch: Batch) -> torch.Tensor:
    """g [P]: the surrogate's gradient at theta_old on `batch`."""
    return flat_grad(surrogate(policy, batch), policy.all_params()).detach()


@dataclass
class Direction:
    """One direction computed on a batch: x [P] float64, its own-damping reference x*_own [P],
    the damping of that model, and the CG residual (NaN for other preconditioners)."""

    label: str
    x: torch.Tensor
    own: torch.Tensor
    own_damping: float
    cg_residual: float = math.nan


def directions(
    policy: GaussianPolicy,
    batch: Batch,
    configs: dict,
    lambdas: list[float],
    seed: int,
    reference: DenseReference,
    own: bool = True,
) -> tuple[list[Direction], torch.Tensor]:
    """Every direction on `batch`: label -> preconditioner config of `configs` (fitted fresh,
    seeded `seed`), and the exact analytic x*(lambda) of `reference` (the batch's) as
    "exact_analytic@lambda". Returns the directions and g [P]. Without `own` x*_own is left
    NaN (the held-out measures need only x)."""
    g = gradient(policy, batch)
    ref = reference if own else None
    out = []
    for label, cfg in configs.items():
        precond = cfg.preconditioner(seed)
        precond.fit(policy, batch)
        x = precond.solve(g).detach().to(F64)
        own_damping = precond.damping if precond.damping > 0 else FIDELITY_DEFAULT_DAMPING
        own = torch.full_like(x, math.nan)
        if ref is not None:
            damping_matvec = getattr(precond, "damping_matvec", None)
            own = (
                ref.solve(own_damping, g)
                if damping_matvec is None
                else own_model_solve(ref, damping_matvec, g.to(F64))
            )
        residual = precond.diagnostics().get("cg_residual", math.nan)
        out.append(Direction(label, x, own, own_damping, float(residual)))
    for lam in lambdas:
        x = reference.solve(lam, g)
        out.append(Direction(f"exact_analytic@{lam:g}", x, x, lam))
    return out, g


def fidelity(direction: Direction, reference: DenseReference, g, lambdas) -> dict[str, float]:
    """Cosine and KL ratio of the direction against x*(lambda) for each lambda and against
    its own damping model."""
    row = {}
    for lam in lambdas:
        cos, ratio = compare_directions(
            direction.x, reference.solve(lam, g), reference.fisher_matvec
        )
        row[f"cosine_ref{lam:g}"], row[f"kl_ratio_ref{lam:g}"] = cos, ratio
    cos, ratio = compare_directions(direction.x, direction.own, reference.fisher_matvec)
    row["cosine_own"], row["kl_ratio_own"] = cos, ratio
    return row


def kl_step(policy: GaussianPolicy, batch: Batch, x: torch.Tensor, kl_delta: float) -> torch.Tensor:
    """beta x [P] with beta = sqrt(2 kl_delta / x^T F x), F the analytic Fisher on `batch`
    (float32, as the update applies it); NaN when x^T F x is not positive."""
    x32 = x.to(torch.float32)
    quad = float(x32 @ FisherOperator(policy, batch.obs)(x32).detach())
    if not (math.isfinite(quad) and quad > 0):
        return torch.full_like(x32, math.nan)
    return math.sqrt(2 * kl_delta / quad) * x32


class StepProbe:
    """Evaluates steps from theta_old on one batch: g_E^T step and the measured KL."""

    def __init__(self, policy: GaussianPolicy, batch: Batch):
        self.policy, self.batch = policy, batch
        self.g = gradient(policy, batch)

    def __call__(self, step: torch.Tensor) -> tuple[float, float]:
        """(first-order surrogate gain, mean KL(pi_old || pi_new)) on the batch; the policy
        is left at theta_old."""
        if not torch.isfinite(step).all():
            return math.nan, math.nan
        params = self.policy.all_params()
        theta_old = flat_params(params)
        set_flat_params(params, theta_old + step)
        try:
            with torch.no_grad():
                kl = float(mean_kl(self.policy, self.batch))
        finally:
            set_flat_params(params, theta_old)
        return float(self.g @ step), kl
