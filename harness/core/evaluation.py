"""A saved policy replayed: evaluation episodes with frozen normaliser statistics, and the
final policy of a run directory loaded back."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from npgbench.harness.core.config import PolicyConfig
from npgbench.harness.core.envs import IdentityNorm, RunningNorm
from npgbench.harness.core.policy import GaussianPolicy


@torch.no_grad()
def evaluate(
    policy: GaussianPolicy,
    obs_norm: RunningNorm,
    env_id: str,
    episodes: int,
    seed: int,
    max_episode_steps: int = 0,
    noise: torch.Generator | None = None,
) -> list[float]:
    """Returns of `episodes` episodes with frozen normaliser statistics.

    Actions are the policy mean, or with `noise` samples mean + std * eps drawn from that
    generator (the stochastic test episodes of Tianshou); either is clipped to the action box.
    """
    env = gym.make(env_id, max_episode_steps=max_episode_steps if max_episode_steps > 0 else None)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box), space  # check_env_spaces admitted only boxes
    low, high = space.low, space.high
    std = policy.std()  # no sampling: the noise generator is drawn from only per step
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        total, done = 0.0, False
        while not done:
            action = policy.mean_net(torch.from_numpy(obs_norm(obs)))
            if noise is not None:
                action = action + std * torch.randn(action.shape, generator=noise)
            obs, reward, term, trunc, _ = env.step(np.clip(action.numpy(), low, high))
            total += float(reward)
            done = term or trunc
        returns.append(total)
    env.close()
    return returns


def mean_std(values: list[float]) -> tuple[float, float]:
    """(mean, population std) of episode returns; (nan, nan) when there are none."""
    return (float(np.mean(values)), float(np.std(values))) if values else (math.nan, math.nan)


def load_policy(run_dir: Path) -> tuple[GaussianPolicy, RunningNorm, dict]:
    """The saved final policy, its normaliser and config.json content."""
    state = torch.load(Path(run_dir) / "policy.pt", weights_only=True)
    cfg = state["config"]
    env = gym.make(cfg["env"])
    obs_space, act_space = env.observation_space, env.action_space
    assert isinstance(obs_space, gym.spaces.Box) and isinstance(act_space, gym.spaces.Box)
    obs_dim, act_dim = obs_space.shape[0], act_space.shape[0]
    env.close()
    pcfg = PolicyConfig(**{**cfg["policy"], "hidden_sizes": tuple(cfg["policy"]["hidden_sizes"])})
    policy = GaussianPolicy(obs_dim, act_dim, pcfg)
    policy.load_state_dict(state["policy"])
    norm = RunningNorm((obs_dim,))
    norm.load_state_dict(state["obs_norm"])
    if not cfg["sampler"]["normalize_obs"]:
        norm = IdentityNorm((obs_dim,))
    return policy, norm, cfg
