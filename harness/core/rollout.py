"""Sampler: a batch of on-policy transitions from a vector env, GAE with correct bootstrapping.

Bootstrapping rules (DLR-RM/stable-baselines3#633 and #658: bootstrap on truncation only;
openai/gym#3102: terminated and truncated can both be true):
    terminated           -> no bootstrap (the episode really ended; also when truncated too)
    truncated only       -> bootstrap from V(true final observation), info["final_obs"]
    cut by batch end     -> bootstrap from V(next observation)
"""

from __future__ import annotations

import dataclasses
from typing import cast

import numpy as np
import torch
from gymnasium.spaces import Box
from npgbench.harness.core.config import SamplerConfig
from npgbench.harness.core.envs import (
    IdentityNorm,
    RewardScaler,
    RunningNorm,
    load_vector_env_state,
    make_vector_env,
    vector_env_state,
)
from npgbench.harness.core.policy import GaussianPolicy, ValueNet


@dataclasses.dataclass
class Batch:
    """One update's data, flattened over time and envs (B = T * N).

    obs [B, O] normalised with the statistics of the moment they were sampled (frozen since);
    actions [B, A] unclipped samples; log_probs [B] and old_mean [B, A], old_std [A] of
    pi_old (detached); advantages [B] (normalised if configured); returns [B] value targets.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    old_mean: torch.Tensor
    old_std: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor
    episode_returns: list[float]
    episode_lengths: list[int]
    advantages_normalized: bool = True
    """Whether the sampler standardised advantages (PPO then also does so per minibatch)."""

    def __post_init__(self) -> None:
        """Refuse a batch whose tensors disagree on B or A (one line naming the tensor)."""
        if self.obs.ndim != 2:
            raise ValueError(f"Batch.obs must be [B, O], got {list(self.obs.shape)}")
        b = self.obs.shape[0]
        if self.actions.ndim != 2 or self.actions.shape[0] != b:
            raise ValueError(f"Batch.actions must be [B={b}, A], got {list(self.actions.shape)}")
        a = self.actions.shape[1]
        expected = {
            "log_probs": (b,),
            "advantages": (b,),
            "returns": (b,),
            "values": (b,),
            "old_mean": (b, a),
            "old_std": (a,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(
                    f"Batch.{name} must be {list(shape)} (B={b}, A={a}), got {list(got)}"
                )

    def __len__(self) -> int:
        return self.obs.shape[0]

    def rows(self, index: slice | torch.Tensor) -> Batch:
        """The batch restricted to rows `index` (per-state tensors sliced; old_std [A] and the
        episode lists, which are not per row, kept whole)."""
        return dataclasses.replace(
            self,
            obs=self.obs[index],
            actions=self.actions[index],
            log_probs=self.log_probs[index],
            old_mean=self.old_mean[index],
            advantages=self.advantages[index],
            returns=self.returns[index],
            values=self.values[index],
        )


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over a [T, N] rollout (every input [T, N]).

    next_values[t] is V of the state that followed step t: V(final obs) at a truncation,
    V(next obs) otherwise (batch cut included). terminated stops bootstrapping; dones
    (terminated | truncated) stops the lambda-trace at the episode boundary.
        delta_t = r_t + gamma (1 - term_t) V'_t - V_t
        A_t     = delta_t + gamma lam (1 - done_t) A_{t+1},   A_T = 0
    Returns (advantages [T, N], returns = advantages + values [T, N]).
    """
    # rlax style: the ranks and shapes are checked at entry, since broadcasting would turn a
    # [T] or [T, 1] input into a silently wrong [T, N] result
    if rewards.ndim != 2:
        raise ValueError(f"compute_gae: rewards must be [T, N], got {list(rewards.shape)}")
    inputs = {"values": values, "next_values": next_values, "terminated": terminated}
    for name, array in {**inputs, "dones": dones}.items():
        if array.shape != rewards.shape:
            raise ValueError(
                f"compute_gae: {name} must be [T, N] = {list(rewards.shape)}, got {list(array.shape)}"
            )
    T = rewards.shape[0]
    adv = np.zeros_like(rewards, dtype=np.float64)
    last = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in reversed(range(T)):
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        last = delta + gamma * lam * (1.0 - dones[t]) * last
        adv[t] = last
    return adv, adv + values


@dataclasses.dataclass
class Rollout:
    """Raw buffers of one collection, [T, N, ...]; final_obs maps (t, env) of a truncation to
    the normalised true final observation."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: dict[tuple[int, int], np.ndarray] = dataclasses.field(default_factory=dict)
    episode_returns: list[float] = dataclasses.field(default_factory=list)
    episode_lengths: list[int] = dataclasses.field(default_factory=list)


class Sampler:
    """Owns the training vector env, the observation normaliser and the reward scaler."""

    def __init__(self, env_id: str, cfg: SamplerConfig, max_episode_steps: int, seed: int):
        self.cfg = cfg
        self.envs = make_vector_env(env_id, cfg.num_envs, max_episode_steps)
        obs_dim = self.obs_dim
        self.obs_norm = (
            RunningNorm((obs_dim,), cfg.obs_clip) if cfg.normalize_obs else IdentityNorm((obs_dim,))
        )
        self.reward_scaler = (
            RewardScaler(cfg.num_envs, cfg.gamma, cfg.reward_clip)
            if cfg.normalize_rewards
            else None
        )
        # Seed through the first reset only; autoreset continues the same RNG (Gymnasium#1321).
        self.obs, _ = self.envs.reset(seed=seed)
        self.envs.action_space.seed(seed)
        self.act_low = self.action_space.low
        self.act_high = self.action_space.high
        self.ep_return = np.zeros(cfg.num_envs)
        self.ep_length = np.zeros(cfg.num_envs, dtype=np.int64)

    @property
    def obs_dim(self) -> int:
        return cast(Box, self.envs.single_observation_space).shape[0]

    @property
    def action_space(self) -> Box:
        """One env's action space (a 1-D Box: check_env_spaces refuses any other)."""
        return cast(Box, self.envs.single_action_space)

    @property
    def act_dim(self) -> int:
        return self.action_space.shape[0]

    def _scale(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        return reward if self.reward_scaler is None else self.reward_scaler(reward, done)

    @torch.no_grad()
    def collect(self, policy: GaussianPolicy, value_fn: ValueNet, gen: torch.Generator) -> Batch:
        """Step every env steps_per_update / num_envs times and return the batch."""
        T, N = self.cfg.steps_per_update // self.cfg.num_envs, self.cfg.num_envs
        buf = Rollout(
            obs=np.zeros((T, N, self.obs_dim), dtype=np.float32),
            actions=np.zeros((T, N, self.act_dim), dtype=np.float32),
            rewards=np.zeros((T, N)),
            terminated=np.zeros((T, N)),
            truncated=np.zeros((T, N)),
        )
        std = policy.std()
        noise = torch.randn((T, N, self.act_dim), generator=gen)
        for t in range(T):
            self.obs_norm.update(self.obs)
            obs_n = self.obs_norm(self.obs)
            mean = policy.mean_net(torch.from_numpy(obs_n))
            action = (mean + std * noise[t]).numpy()
            self.obs, reward, term, trunc, info = self.envs.step(
                np.clip(action, self.act_low, self.act_high)
            )
            self.ep_return += reward
            self.ep_length += 1
            done = term | trunc
            for i in np.flatnonzero(done):
                buf.episode_returns.append(float(self.ep_return[i]))
                buf.episode_lengths.append(int(self.ep_length[i]))
                if trunc[i] and not term[i]:
                    buf.final_obs[(t, int(i))] = self.obs_norm(info["final_obs"][i])
            self.ep_return[done] = 0.0
            self.ep_length[done] = 0
            buf.obs[t], buf.actions[t] = obs_n, action
            buf.rewards[t], buf.terminated[t] = self._scale(reward, done), term
            buf.truncated[t] = trunc
        return self._finish(policy, value_fn, buf)

    def _finish(self, policy: GaussianPolicy, value_fn: ValueNet, buf: Rollout) -> Batch:
        """Values, bootstrap values, GAE and pi_old's statistics for the filled buffers."""
        T, N = buf.rewards.shape
        obs = torch.from_numpy(buf.obs.reshape(T * N, -1))
        actions = torch.from_numpy(buf.actions.reshape(T * N, -1))
        values = value_fn(obs).double().numpy().reshape(T, N)
        next_values = np.empty_like(values)
        next_values[:-1] = values[1:]
        next_values[-1] = value_fn(torch.from_numpy(self.obs_norm(self.obs))).double().numpy()
        if buf.final_obs:
            keys = list(buf.final_obs)
            final = np.stack([buf.final_obs[k] for k in keys])
            v_final = value_fn(torch.from_numpy(final)).double().numpy()
            for (t, i), v in zip(keys, v_final):
                next_values[t, i] = v
        dones = np.maximum(buf.terminated, buf.truncated)
        adv, returns = compute_gae(
            buf.rewards,
            values,
            next_values,
            buf.terminated,
            dones,
            self.cfg.gamma,
            self.cfg.gae_lambda,
        )
        adv = adv.reshape(-1)
        if self.cfg.normalize_advantages and adv.size > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        old_mean, old_std = policy(obs)
        return Batch(
            obs=obs,
            actions=actions,
            log_probs=policy.log_prob(obs, actions),
            old_mean=old_mean,
            old_std=old_std.detach().clone(),
            advantages=torch.as_tensor(adv, dtype=torch.float32),
            returns=torch.as_tensor(returns.reshape(-1), dtype=torch.float32),
            values=torch.as_tensor(values.reshape(-1), dtype=torch.float32),
            episode_returns=buf.episode_returns,
            episode_lengths=buf.episode_lengths,
            advantages_normalized=self.cfg.normalize_advantages,
        )

    def state_dict(self) -> dict:
        """What the next `collect` depends on: every env's state, the pending observation
        [N, O], the returns and lengths of the episodes in flight, both normalisers.
        Raises harness.core.envs.StateUnsupported for an env whose state cannot be captured."""
        scaler = self.reward_scaler
        return {
            "envs": vector_env_state(self.envs),
            "obs": torch.from_numpy(np.array(self.obs)),
            "ep_return": torch.from_numpy(self.ep_return.copy()),
            "ep_length": torch.from_numpy(self.ep_length.copy()),
            "obs_norm": self.obs_norm.state_dict(),
            "reward_scaler": None if scaler is None else scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        load_vector_env_state(self.envs, state["envs"])
        self.obs = state["obs"].numpy().copy()
        self.ep_return = state["ep_return"].numpy().copy()
        self.ep_length = state["ep_length"].numpy().copy()
        self.obs_norm.load_state_dict(state["obs_norm"])
        if self.reward_scaler is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])

    def close(self) -> None:
        self.envs.close()
