"""The identity preconditioner: x = g, steepest ascent in parameter space (vanilla).

Through the natural skeleton, vanilla's `kl` step rule takes the gradient direction with the
same predicted-KL budget as every NPG variant (isolating the direction), and its `sgd` rule is
the fixed step beta = lr. `max_norm` rescales g to at most that norm (vanilla max_grad_norm).
"""

from __future__ import annotations

import math

import torch
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


class Identity:
    damping = 0.0

    def __init__(self, max_norm: float = math.inf):
        self.max_norm = max_norm

    def state_dict(self) -> dict:
        """Stateless between updates: nothing to checkpoint."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        """Nothing to estimate."""

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        norm = float(g.norm())
        return g * (self.max_norm / norm) if norm > self.max_norm else g

    def diagnostics(self) -> dict[str, float]:
        return {}
