"""Small float64 policies and hand-made batches for the npg_efisher tests."""

from __future__ import annotations

import torch
from npgbench.harness.core.config import PolicyConfig
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch

F64 = torch.float64


def small_policy(
    hidden: tuple[int, ...] = (5, 4), std_param: str = "log", seed: int = 0
) -> GaussianPolicy:
    """obs 3 -> actions 2, float64, default (not orthogonal) init so every layer has curvature.

    hidden=() is the linear-Gaussian policy mu = W s + b (P = 10).
    """
    torch.manual_seed(seed)
    cfg = PolicyConfig(
        hidden_sizes=hidden, std_param=std_param, init_std=0.7, orthogonal_init=False
    )
    return GaussianPolicy(3, 2, cfg).double()


def make_batch(
    policy: GaussianPolicy, n: int, seed: int = 0, repeat: int = 1, shift: float = 0.0
) -> Batch:
    """n states ~ N(0.3, I), each repeated `repeat` times (rows N = n * repeat), with actions
    a = mu(s) + sigma (shift + eps): shift 0 samples pi_theta itself (on-policy), shift d
    takes the actions of a policy whose mean is d sigma off (replayed or off-policy data).
    pi_old = the policy as it is; standardised random advantages."""
    gen = torch.Generator().manual_seed(seed)
    obs = (torch.randn(n, 3, generator=gen, dtype=F64) + 0.3).repeat(repeat, 1)
    with torch.no_grad():
        mean, std = policy(obs)
        actions = mean + std * (shift + torch.randn(mean.shape, generator=gen, dtype=F64))
        log_probs = policy.log_prob(obs, actions)
    adv = torch.randn(obs.shape[0], generator=gen, dtype=F64)
    zeros = torch.zeros(obs.shape[0], dtype=F64)
    return Batch(
        obs=obs,
        actions=actions,
        log_probs=log_probs,
        old_mean=mean,
        old_std=std.clone(),
        advantages=(adv - adv.mean()) / adv.std(),
        returns=zeros,
        values=zeros,
        episode_returns=[],
        episode_lengths=[],
    )
