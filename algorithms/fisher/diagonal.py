"""npg_diag: the diagonal of the Fisher.

    x_p = g_p / (F_pp + lambda)
    sampled  (default) F_pp = mean_i (d log pi(a_i|s_i) / d theta_p)^2, a_i ~ pi_theta_old fresh
    analytic F_pp = (mean_s J^T I J)_pp, exact
Both from the layer-factored rows (`rows.py`): per layer (Delta^2)^T (Abar^2), no [R, P] matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from npgbench.algorithms.fisher import CostArm, FisherEstimatorConfig, SampledEstimator
from npgbench.algorithms.fisher.rows import score_rows
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


@dataclass(frozen=True)
class DiagonalConfig(FisherEstimatorConfig):
    damping: float = 1e-2
    """lambda added to the diagonal. No published diagonal-Fisher NPG setting is known to us
    (Tianshou's examples/mujoco README, the one multi-seed MuJoCo NPG benchmark, uses CG);
    1e-2 is the Tikhonov damping of K-FAC/ACKTR, the other directly inverted
    structured approximation. It bounds the step of parameters the samples barely touch."""
    estimator: str = "sampled"
    """sampled (squared scores of fresh actions from pi_theta_old) or analytic (diag J^T I J)."""
    fisher_samples_per_state: int = 1
    """Actions drawn per batch state for the sampled estimator."""

    COST_ARMS: ClassVar[dict[str, CostArm]] = {
        "diagonal": CostArm(claim="O(n): squared scores", expected_exponent="1", batch_exponent="1")
    }

    def validate(self) -> None:
        super().validate()
        if self.fisher_samples_per_state < 1:
            raise ConfigError("update.fisher_samples_per_state must be >= 1")

    def preconditioner(self, seed: int) -> DiagonalFisher:
        return DiagonalFisher(
            self.damping,
            self.estimator,
            torch.Generator().manual_seed(seed),
            self.fisher_samples_per_state,
        )


class DiagonalFisher(SampledEstimator):
    """x = g / (diag F + lambda); constructed as SampledEstimator(damping, estimator, gen,
    samples_per_state)."""

    diagonal: torch.Tensor | None = None
    """diag F [P] of the last fit; None before the first."""

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        rows = score_rows(policy, batch.obs, self.estimator, self.gen, self.samples_per_state)
        self.diagonal = rows.square_sum().detach()  # [P]

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """x = g / (diag F + lambda): g [P] -> x [P]."""
        if self.diagonal is None:
            raise RuntimeError("DiagonalFisher: call fit(policy, batch) before solving")
        return g / (self.diagonal + self.damping)

    def diagnostics(self) -> dict[str, float]:
        return {}
