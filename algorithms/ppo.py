"""PPO with the clipped surrogate (Schulman et al. 2017), Adam over minibatch epochs.

    L_clip = mean( min(r A, clip(r, 1 - eps, 1 + eps) A) ),   r = pi_theta(a|s) / pi_old(a|s)
Advantages are re-standardised per minibatch (37 implementation details). The value function
is fitted afterwards by the shared routine, like every other variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from npgbench.algorithms.common import policy_stats, restore_if_invalid, snapshot
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.metric_rows import MetricRow, empty_row
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


@dataclass(frozen=True)
class PPOConfig:
    lr: float = 3e-4
    """Adam learning rate (PPO paper: 3e-4)."""
    epochs: int = 10
    """Passes over the batch per update (PPO paper: 10)."""
    minibatch_size: int = 64
    """Minibatch size (PPO paper: 64)."""
    clip: float = 0.2
    """Clip range epsilon of the probability ratio (PPO paper: 0.2)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip per minibatch step."""
    target_kl: float = 0.0
    """Stop the epochs early once the approximate KL exceeds this (0 disables)."""

    def validate(self) -> None:
        if not (self.lr > 0 and self.epochs > 0 and self.clip > 0 and self.max_grad_norm > 0):
            raise ConfigError(
                "update.lr, update.epochs, update.clip, update.max_grad_norm must be positive"
            )
        if self.minibatch_size < 2:
            raise ConfigError(
                "update.minibatch_size must be >= 2 (advantages are standardised per minibatch)"
            )
        if self.ent_coef < 0 or self.target_kl < 0:
            raise ConfigError("update.ent_coef and update.target_kl must be >= 0")


class PPOUpdater:
    writers = ("update", "ppo")
    """The metrics.WRITERS whose columns update() returns."""

    def __init__(self, policy: GaussianPolicy, cfg: PPOConfig, seed: int = 0):
        self.policy, self.cfg = policy, cfg
        self.optimizer = torch.optim.Adam(policy.all_params(), lr=cfg.lr, eps=1e-5, fused=True)
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict:
        """Adam's moments and step count, and the minibatch-order generator."""
        return {"optimizer": self.optimizer.state_dict(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]

    def _minibatch_loss(
        self, obs, actions, old_log_probs, adv
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Clipped-surrogate loss on one minibatch: obs [M, O], actions [M, A], old_log_probs [M]
        (with the Gaussian's constant folded in, see `update`), adv [M]. Returns (loss, k3 KL)."""
        mean, std = self.policy(obs)
        z = (actions - mean) / std
        log_ratio = -0.5 * z.square().sum(-1) - std.log().sum() - old_log_probs
        ratio = log_ratio.exp()
        clipped = ratio.clamp(1 - self.cfg.clip, 1 + self.cfg.clip)
        loss = -torch.min(ratio * adv, clipped * adv).mean()
        if self.cfg.ent_coef > 0:  # entropy of a diagonal Gaussian = sum log sigma + const
            loss = loss - self.cfg.ent_coef * std.log().sum()
        approx_kl = ((ratio - 1) - log_ratio).mean().detach()  # k3 estimator, >= 0
        return loss, approx_kl

    def _epoch_minibatches(self, batch: Batch, old_log_probs: torch.Tensor):
        """One shuffled pass as [K, M, ...] tensors (one gather per epoch, not per minibatch);
        advantages standardised per minibatch when the sampler standardises them at all."""
        n, size = len(batch), min(self.cfg.minibatch_size, len(batch))
        k = n // size
        perm = torch.from_numpy(self.rng.permutation(n)[: k * size])
        obs = batch.obs[perm].view(k, size, -1)
        actions = batch.actions[perm].view(k, size, -1)
        adv = batch.advantages[perm].view(k, size)
        if batch.advantages_normalized:
            adv = (adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)
        return zip(obs, actions, old_log_probs[perm].view(k, size), adv)

    def update(self, batch: Batch) -> MetricRow:
        theta_old = snapshot(self.policy)
        params = self.policy.all_params()
        # log pi_old(a|s) + (A/2) log 2 pi: the ratio then needs only the z^2 and log sigma terms
        old_log_probs = batch.log_probs + 0.5 * math.log(2 * math.pi) * batch.actions.shape[1]
        epochs_done, stopped = 0, False
        for _ in range(self.cfg.epochs):
            for minibatch in self._epoch_minibatches(batch, old_log_probs):
                loss, approx_kl = self._minibatch_loss(*minibatch)
                if self.cfg.target_kl > 0 and approx_kl > 1.5 * self.cfg.target_kl:
                    stopped = True
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm, foreach=True)
                self.optimizer.step()
            if stopped:
                break
            epochs_done += 1
        row = empty_row(self.writers)
        row["epochs"] = epochs_done
        reason = restore_if_invalid(self.policy, theta_old)
        if reason:
            row.update(skipped=True, skip_reason=f"{reason}; restored theta_old")
        return policy_stats(self.policy, batch, row)
