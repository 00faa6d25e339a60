"""The fidelity diagnostic of a natural-gradient direction (diagnostics.fidelity_every = K).

Every K updates, before the step, the direction x is compared with the exact natural gradient
x* = (F + lambda I)^-1 g of the analytic dense Fisher (same lambda, or npg_exact's default 1e-2
for an undamped preconditioner):
    fidelity_cosine   = cos(x, x*)
    fidelity_kl_ratio = x^T F x / x*^T F x*   predicted KL of beta x over that of beta x*
and with x*_own = (F + D)^-1 g, D the preconditioner's own damping model (`damping_matvec`:
K-FAC's factored Tikhonov damping is not lambda I, so against x* its cosine stays below 1
even where G (x) A = F exactly; lambda I for the others, where x*_own = x*):
    fidelity_cosine_own, fidelity_kl_ratio_own   the same two numbers against x*_own
`fisher_cond` = cond(F + lambda I): npg_exact records its own estimate every update; the
other variants record the analytic F's on fidelity updates (NaN otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from npgbench.algorithms.fisher import Preconditioner
from npgbench.algorithms.fisher.exact import ExactFisher
from npgbench.harness.core.config import FIDELITY_DEFAULT_DAMPING, DiagnosticsConfig
from npgbench.harness.core.config_checks import check_fidelity_size
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


class Fidelity:
    """Compares a direction with the exact natural gradient of the analytic dense Fisher."""

    def __init__(self, every: int, damping: float):
        self.every, self.damping = every, damping

    @classmethod
    def build(
        cls, policy: GaussianPolicy, diagnostics: DiagnosticsConfig | None, damping: float
    ) -> Fidelity | None:
        if diagnostics is None or diagnostics.fidelity_every <= 0:
            return None
        check_fidelity_size(diagnostics, policy.num_params())
        return cls(diagnostics.fidelity_every, damping if damping > 0 else FIDELITY_DEFAULT_DAMPING)

    def measure(
        self,
        policy: GaussianPolicy,
        batch: Batch,
        g: torch.Tensor,
        x: torch.Tensor,
        precond: Preconditioner,
    ) -> dict[str, float]:
        """g, x [P] -> cosine and KL ratio of x against x* and x*_own, and cond(F + lambda I)."""
        assert g.shape == x.shape == (policy.num_params(),), (g.shape, x.shape)
        reference = ExactFisher(self.damping, "analytic", max_memory_mb=math.inf)
        reference.fit(policy, batch)
        x64, g64 = x.double(), g.double()
        x_ref = reference.solve(g64)
        own_damping = getattr(precond, "damping_matvec", None)  # optional: lambda I if absent
        x_own = x_ref if own_damping is None else own_model_solve(reference, own_damping, g64)
        cosine, ratio = compare_directions(x64, x_ref, reference.fisher_matvec)
        cosine_own, ratio_own = compare_directions(x64, x_own, reference.fisher_matvec)
        return {
            "fidelity_cosine": cosine,
            "fidelity_kl_ratio": ratio,
            "fidelity_cosine_own": cosine_own,
            "fidelity_kl_ratio_own": ratio_own,
            "fisher_cond": reference.condition_number(),
        }


def compare_directions(
    x: torch.Tensor, x_ref: torch.Tensor, fisher_matvec: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[float, float]:
    """(cos(x, x_ref), x^T F x / x_ref^T F x_ref) of two float64 directions [P]."""
    cosine = float(x @ x_ref / (x.norm() * x_ref.norm()))
    return cosine, float(x @ fisher_matvec(x)) / float(x_ref @ fisher_matvec(x_ref))


def own_model_solve(
    reference: ExactFisher,
    damping_matvec: Callable[[torch.Tensor], torch.Tensor],
    g: torch.Tensor,
) -> torch.Tensor:
    """(F + D)^-1 g [P] for the analytic dense F of `reference` and a damping model D given
    by its product (D symmetric positive definite), in float64 by Cholesky."""
    fisher = reference.dense_fisher()
    eye = torch.eye(fisher.shape[0], dtype=fisher.dtype)
    damped = torch.stack([damping_matvec(e).to(fisher.dtype) for e in eye])  # D^T = D
    damped += fisher
    chol = torch.linalg.cholesky(damped)
    return torch.cholesky_solve(g[:, None], chol)[:, 0]
