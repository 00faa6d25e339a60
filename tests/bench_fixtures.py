"""A tiny synthetic batch for the bench tests (no environment)."""

from __future__ import annotations

import torch
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch


def tiny_batch(policy: GaussianPolicy, n: int = 64, seed: int = 0) -> Batch:
    """n random states [n, O], actions drawn from the policy, random advantages."""
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, policy.mean_net[0].in_features, generator=gen)
    with torch.no_grad():
        mean, std = policy(obs)
        actions = mean + std * torch.randn(mean.shape, generator=gen)
        log_probs = policy.log_prob(obs, actions)
    zeros = torch.zeros(n)
    adv = torch.randn(n, generator=gen)
    return Batch(obs, actions, log_probs, mean, std.clone(), adv, zeros, zeros, [], [])
