"""Vanilla policy gradient with the GAE baseline: steepest ascent in parameter space.

    g = grad_theta mean(ratio * A) at theta_old        (= E[grad log pi * A])
    adam: one Adam step on -L;  sgd: theta <- theta + lr * g
One gradient step per batch: the batch is on-policy only at theta_old.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from algorithms.common import policy_stats, surrogate
from harness.config import ConfigError
from harness.policy import GaussianPolicy
from harness.rollout import Batch


@dataclass(frozen=True)
class VanillaConfig:
    step_rule: str = "adam"
    """adam (one Adam step on the surrogate) or sgd (theta += lr * g)."""
    lr: float = 1e-3
    """Learning rate of the adam and sgd step rules."""
    max_grad_norm: float = float("inf")
    """Clip the gradient norm before the step (inf disables)."""

    def validate(self) -> None:
        if self.step_rule not in ("adam", "sgd"):
            raise ConfigError(f"update.step_rule {self.step_rule!r}: valid: adam, sgd")
        if not self.lr > 0:
            raise ConfigError("update.lr must be positive")


class VanillaUpdater:
    def __init__(self, policy: GaussianPolicy, cfg: VanillaConfig):
        self.policy, self.cfg = policy, cfg
        params = policy.natural_params()
        if cfg.step_rule == "adam":
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5, fused=True)
        else:
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr)

    def update(self, batch: Batch) -> dict:
        loss = -surrogate(self.policy, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.natural_params(), self.cfg.max_grad_norm)
        if not torch.isfinite(grad_norm):
            return {"skipped": True, "skip_reason": "non-finite gradient", **policy_stats(self.policy, batch)}
        self.optimizer.step()
        return {"grad_norm": float(grad_norm), **policy_stats(self.policy, batch)}
