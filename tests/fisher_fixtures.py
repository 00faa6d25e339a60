"""Small float64 policies and hand-made batches for the Fisher and natural-update tests."""

from __future__ import annotations

import copy

import torch
from npgbench.harness.core.config import PolicyConfig
from npgbench.harness.core.policy import GaussianPolicy, std_inverse
from npgbench.harness.core.rollout import Batch


def small_policy(
    obs_dim: int = 3,
    act_dim: int = 2,
    hidden: tuple[int, ...] = (5, 4),
    std_param: str = "log",
    init_std: float = 0.7,
    seed: int = 0,
) -> GaussianPolicy:
    """A float64 policy with default (not orthogonal) init, so every layer carries curvature.

    hidden=() gives the linear-Gaussian policy mu = W s + b.
    """
    torch.manual_seed(seed)
    cfg = PolicyConfig(
        hidden_sizes=hidden, std_param=std_param, init_std=init_std, orthogonal_init=False
    )
    return GaussianPolicy(obs_dim, act_dim, cfg).double()


def make_batch(policy: GaussianPolicy, n: int = 64, seed: int = 0) -> Batch:
    """n states ~ N(0, I) (+ an offset, so the bias column is not orthogonal to the inputs),
    actions from pi_theta, random standardised advantages; pi_old = the policy as it is."""
    gen = torch.Generator().manual_seed(seed)
    obs_dim = policy.mean_net[0].in_features
    obs = torch.randn(n, obs_dim, generator=gen, dtype=torch.float64) + 0.3
    with torch.no_grad():
        mean, std = policy(obs)
        actions = mean + std * torch.randn(mean.shape, generator=gen, dtype=torch.float64)
        log_probs = policy.log_prob(obs, actions)
    adv = torch.randn(n, generator=gen, dtype=torch.float64)
    adv = (adv - adv.mean()) / adv.std()
    zeros = torch.zeros(n, dtype=torch.float64)
    return Batch(
        obs=obs,
        actions=actions,
        log_probs=log_probs,
        old_mean=mean,
        old_std=std.clone(),
        advantages=adv,
        returns=zeros,
        values=zeros,
        episode_returns=[],
        episode_lengths=[],
    )


def copy_with_std_param(policy: GaussianPolicy, std_param: str) -> GaussianPolicy:
    """Same mean net and the same sigma, the std vector in another parameterisation."""
    sigma = policy.std().detach()
    other = copy.deepcopy(policy)
    other.std_param = std_param
    with torch.no_grad():
        other.std_w.copy_(torch.tensor([std_inverse(float(s), std_param) for s in sigma]))
    return other
