"""Vanilla policy gradient with the GAE baseline: steepest ascent in parameter space.

    g = grad_theta mean(ratio * A) at theta_old        (= E[grad log pi * A])
    adam: one Adam step on -L
    sgd:  theta <- theta + lr * g                          } the natural skeleton with the
    kl:   theta <- theta + sqrt(2 kl_delta / g^T F g) g    } identity preconditioner
One gradient step per batch: the batch is on-policy only at theta_old. The kl rule takes the
same predicted-KL step as every NPG variant, so a comparison isolates the direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from npgbench.algorithms.common import (
    policy_stats,
    restore_if_invalid,
    snapshot,
    surrogate,
)
from npgbench.algorithms.fidelity import Fidelity
from npgbench.algorithms.fisher import NaturalConfig
from npgbench.algorithms.fisher.identity import Identity
from npgbench.algorithms.natural import NaturalUpdater
from npgbench.harness.core.config import ConfigError, DiagnosticsConfig
from npgbench.harness.core.metric_rows import MetricRow, empty_row
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


@dataclass(frozen=True)
class VanillaConfig:
    step_rule: str = "adam"
    """adam (one Adam step on the surrogate), sgd (theta += lr * g) or kl (the NPG family's
    step of predicted KL kl_delta along g)."""
    lr: float = 1e-2
    """Learning rate of the adam and sgd step rules. One step per batch, so Adam's lr is the
    per-update parameter change: 1e-3 (Tianshou REINFORCE, with 3M steps) made no progress on
    InvertedPendulum-v5 in 32k steps here, 1e-2 solved it (measured with npgbench run)."""
    max_grad_norm: float = float("inf")
    """Clip the gradient norm before the adam or sgd step (inf disables)."""
    kl_delta: float = 0.01
    """KL budget of the kl step rule (the NPG family's default 0.01)."""

    def validate(self) -> None:
        if self.step_rule not in ("adam", "sgd", "kl"):
            raise ConfigError(f"update.step_rule {self.step_rule!r}: valid: adam, kl, sgd")
        if not (self.lr > 0 and self.kl_delta > 0):
            raise ConfigError("update.lr and update.kl_delta must be positive")
        if not self.max_grad_norm > 0:  # a clip to norm <= 0 would zero every step
            raise ConfigError(
                f"update.max_grad_norm must be > 0 (inf disables), got {self.max_grad_norm}"
            )


def make_vanilla(
    policy: GaussianPolicy,
    cfg: VanillaConfig,
    seed: int,
    diagnostics: DiagnosticsConfig | None = None,
):
    """adam: its own updater; sgd and kl: the natural skeleton with the identity preconditioner."""
    if cfg.step_rule == "adam":
        return VanillaUpdater(policy, cfg)
    if cfg.step_rule == "sgd":
        step = NaturalConfig(kl_delta=cfg.kl_delta, step_rule="fixed", fixed_step=cfg.lr)
        precond = Identity(cfg.max_grad_norm)
    else:
        step, precond = NaturalConfig(kl_delta=cfg.kl_delta, step_rule="kl"), Identity()
    return NaturalUpdater(policy, precond, step, Fidelity.build(policy, diagnostics, 0.0))


class VanillaUpdater:
    """The adam step rule (sgd and kl go through the natural skeleton, `make_vanilla`)."""

    def __init__(self, policy: GaussianPolicy, cfg: VanillaConfig):
        self.policy, self.cfg = policy, cfg
        self.optimizer = torch.optim.Adam(policy.all_params(), lr=cfg.lr, eps=1e-5, fused=True)

    def state_dict(self) -> dict:
        """Adam's moments and step count."""
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    writers = ("update", "vanilla")
    """The metrics.WRITERS whose columns update() returns."""

    def update(self, batch: Batch) -> MetricRow:
        row = empty_row(self.writers)
        theta_old = snapshot(self.policy)
        loss = -surrogate(self.policy, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.all_params(), self.cfg.max_grad_norm)
        if not torch.isfinite(grad_norm):  # grad_norm stays NaN: no step was taken
            row.update(skipped=True, skip_reason="non-finite gradient")
            return policy_stats(self.policy, batch, row)
        self.optimizer.step()
        row["grad_norm"] = float(grad_norm)
        reason = restore_if_invalid(self.policy, theta_old)
        if reason:
            row.update(skipped=True, skip_reason=f"{reason}; restored theta_old")
        return policy_stats(self.policy, batch, row)
