"""npg_cg: truncated natural gradient (TNPG), conjugate gradient on Fisher-vector products.

    x_k ~ (F + lambda I)^-1 g after k <= cg_iters CG iterations from x_0 = 0,
    F v = J^T I J v  (Gauss-Newton product, `products.FisherOperator`), never a matrix.
Each iteration minimises q(x) = 1/2 x^T (F + lambda I) x - g^T x over a growing Krylov space,
so q falls monotonically; after P iterations x is the exact solve (in exact arithmetic).
The final relative residual |g - (F + lambda I) x| / |g| is recorded (`cg_residual`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from npgbench.algorithms.fisher import CostArm, PreconditionerConfig
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.metric_rows import MetricRow, empty_row
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


@dataclass(frozen=True)
class CGConfig(PreconditionerConfig):
    damping: float = 0.1
    """lambda in (F + lambda I) (baselines cg_damping, spinningup damping_coeff, Tianshou: 0.1)."""
    cg_iters: int = 10
    """CG iterations (baselines, spinningup, Tianshou: 10; sb3-contrib 15, rl-zoo 25)."""
    cg_tol: float = 1e-10
    """Stop early once the squared residual norm r^T r falls below this (Tianshou: 1e-10)."""
    cg_rtol: float = 0.0
    """Stop early once the relative residual |r| / |g| falls to this (0: never). Scale-free,
    unlike cg_tol: with cg_iters in the hundreds it makes CG an exact solve to this accuracy
    (the logged cg_residual shows it was reached)."""

    COST_ARMS: ClassVar[dict[str, CostArm]] = {
        "cg": CostArm(
            {"cg_tol": 0.0},  # every one of the cg_iters iterations, never an early stop
            "O(n k), k = cg_iters Fisher-vector products (the benchmark: k = 10)",
            "1",
            batch_exponent="1",  # each Fisher-vector product is a pass over the R rows
        )
    }

    def validate(self) -> None:
        super().validate()
        if self.cg_iters < 1 or self.cg_tol < 0 or not 0 <= self.cg_rtol < 1:
            raise ConfigError(
                "update.cg_iters must be >= 1, update.cg_tol >= 0 and update.cg_rtol in [0, 1)"
            )

    def preconditioner(self, seed: int) -> ConjugateGradient:
        return ConjugateGradient(self.damping, self.cg_iters, self.cg_tol, self.cg_rtol)


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: int,
    tol: float = 0.0,
    callback: Callable[[torch.Tensor], None] | None = None,
    rtol: float = 0.0,
) -> tuple[torch.Tensor, float, int]:
    """Solve A x = b for symmetric PSD A given by `matvec`; b [P].

    Returns (x [P], |b - A x| / |b| from the CG recurrence, iterations done). Stops early when
    r^T r < tol, or |r| <= rtol |b|, or on non-positive finite curvature p^T A p (a zero direction: nothing left to
    gain). A non-finite p^T A p (a NaN or inf product) raises FloatingPointError: it is a
    numerical failure, never convergence (the natural skeleton records it as a skip).
    `callback(x)` sees every iterate (tests check the quadratic objective falls).
    """
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r @ r
    b_norm = float(rr.sqrt())
    # rtol 0 leaves the stopping rule as it was (same iterates, bit for bit)
    rtol_rr = (rtol * b_norm) ** 2 if rtol > 0 else -math.inf
    done = 0
    for done in range(1, iters + 1):
        if float(rr) < tol or float(rr) <= rtol_rr:
            done -= 1
            break
        ap = matvec(p)
        curvature = float(p @ ap)
        if not math.isfinite(curvature):
            raise FloatingPointError(f"non-finite curvature p^T A p = {curvature} in CG")
        if curvature <= 0:
            done -= 1
            break
        alpha = rr / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
        if callback is not None:
            callback(x)
    return x, float(rr.sqrt()) / b_norm if b_norm > 0 else 0.0, done


class ConjugateGradient:
    """x ~ (F + lambda I)^-1 g by cg_iters CG iterations on Fisher-vector products."""

    def __init__(
        self, damping: float, cg_iters: int = 10, cg_tol: float = 1e-10, cg_rtol: float = 0.0
    ):
        self.damping, self.cg_iters, self.cg_tol, self.cg_rtol = damping, cg_iters, cg_tol, cg_rtol
        self.fvp: FisherOperator | None = None
        self.residual, self.iterations = float("nan"), 0

    def state_dict(self) -> dict:
        """Stateless between updates: nothing to checkpoint."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        self.fvp = FisherOperator(policy, batch.obs)

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """x ~ (F + lambda I)^-1 g: g [P] -> x [P]."""
        fvp = self.fvp
        if fvp is None:
            raise RuntimeError("ConjugateGradient: call fit(policy, batch) before solving")
        x, self.residual, self.iterations = conjugate_gradient(
            lambda v: fvp(v) + self.damping * v,
            g,
            self.cg_iters,
            self.cg_tol,
            rtol=self.cg_rtol,
        )
        return x

    def diagnostics(self) -> MetricRow:
        """The "cg" columns of the last solve."""
        row = empty_row("cg")
        row.update(cg_residual=self.residual, cg_iterations=self.iterations)
        return row
