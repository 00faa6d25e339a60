"""GAE and bootstrapping on a deterministic toy env with hand-computed returns (SB3 test_gae style).

ToyChain: obs = [t], reward 1 every step, terminates after `term_at` steps (if set) and is
truncated by the TimeLimit after `max_episode_steps`. V(s) = 10 everywhere, gamma = 0.5.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from npgbench.harness.core.config import PolicyConfig, SamplerConfig
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch, Sampler, compute_gae
from torch import nn

V = 10.0
GAMMA = 0.5


class ToyChain(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, term_at: int = 0):
        self.term_at, self.t = term_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0]), {}

    def step(self, action):
        self.t += 1
        terminated = self.term_at > 0 and self.t >= self.term_at
        return np.array([float(self.t)]), 1.0, terminated, False, {}


class ConstantValue(nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.full(obs.shape[:1], V)


class ObsValue(nn.Module):
    """V(s) = s[0] = steps taken in the episode: tells the final obs from the reset obs."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, 0].double()


def toy_returns(
    term_at: int, max_steps: int, steps: int, lam: float = 1.0, value_fn: nn.Module | None = None
) -> np.ndarray:
    env_id = f"ToyChain-t{term_at}-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=ToyChain, kwargs={"term_at": term_at})
    cfg = SamplerConfig(
        num_envs=1,
        steps_per_update=steps,
        gamma=GAMMA,
        gae_lambda=lam,
        normalize_obs=False,
        normalize_advantages=False,
        normalize_rewards=False,
    )
    sampler = Sampler(env_id, cfg, max_steps, seed=0)
    policy = GaussianPolicy(1, 1, PolicyConfig())
    batch = sampler.collect(policy, value_fn or ConstantValue(), torch.Generator().manual_seed(0))
    return batch.returns.numpy()


def test_terminated_does_not_bootstrap():
    # 3-step episode ending in termination: G2 = 1, G1 = 1.5, G0 = 1.75
    np.testing.assert_allclose(toy_returns(term_at=3, max_steps=100, steps=3), [1.75, 1.5, 1.0])


def test_truncated_bootstraps_from_final_observation():
    # time limit after 3 steps: G2 = 1 + 0.5 * V = 6, G1 = 4, G0 = 3
    np.testing.assert_allclose(toy_returns(term_at=0, max_steps=3, steps=3), [3.0, 4.0, 6.0])


def test_truncation_inside_the_batch_uses_final_not_reset_observation():
    # V(s) = t. Episode 1 is truncated after 3 steps (final obs t=3, V=3): G2 = 1 + 0.5 * 3 = 2.5,
    # G1 = 2.25, G0 = 2.125. Bootstrapping from the autoreset obs (t=0) would give G2 = 1.
    # Step 3 starts episode 2 and is cut by the batch: 1 + 0.5 * V(t=1) = 1.5.
    returns = toy_returns(term_at=0, max_steps=3, steps=4, value_fn=ObsValue())
    np.testing.assert_allclose(returns, [2.125, 2.25, 2.5, 1.5])


def test_terminated_and_truncated_together_does_not_bootstrap():
    np.testing.assert_allclose(toy_returns(term_at=3, max_steps=3, steps=3), [1.75, 1.5, 1.0])


def test_cut_by_batch_bootstraps_from_next_observation():
    # batch ends mid-episode after 2 steps: G1 = 1 + 0.5 * V = 6, G0 = 4
    np.testing.assert_allclose(toy_returns(term_at=0, max_steps=100, steps=2), [4.0, 6.0])


def test_trace_restarts_after_episode_boundary():
    # two 2-step terminated episodes then a cut: [1.5, 1, 1.5, 1] and the cut step 1 + 5 = 6
    np.testing.assert_allclose(
        toy_returns(term_at=2, max_steps=100, steps=5), [1.5, 1.0, 1.5, 1.0, 6.0]
    )


def test_lambda_zero_is_one_step_td_target():
    # lambda = 0: return_t = r + gamma (1 - term) V(s'): 6 mid-episode, 1 at termination
    np.testing.assert_allclose(
        toy_returns(term_at=3, max_steps=100, steps=3, lam=0.0), [6.0, 6.0, 1.0]
    )


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.5), (1.0, 1.0)])
def test_compute_gae_matches_definition(gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k} within an episode, on random data."""
    rng = np.random.default_rng(0)
    T = 7
    rewards, values, next_values = rng.normal(size=(3, T, 1))
    terminated = np.zeros((T, 1))
    dones = np.zeros((T, 1))
    dones[3] = 1.0  # truncation at t=3: bootstrap, but stop the trace
    adv, ret = compute_gae(rewards, values, next_values, terminated, dones, gamma, lam)
    delta = rewards + gamma * next_values - values
    for t in range(T):
        end = 4 if t <= 3 else T
        expected = sum((gamma * lam) ** (k - t) * delta[k] for k in range(t, end))
        np.testing.assert_allclose(adv[t], expected, rtol=1e-12)
    np.testing.assert_allclose(ret, adv + values)


def test_compute_gae_refuses_inputs_that_are_not_t_by_n():
    """A [T] or [T, 1] input would broadcast into a wrong [T, N] result: refused by name."""
    rewards, values = np.zeros((5, 2)), np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"next_values must be \[T, N\] = \[5, 2\], got \[5, 1\]"):
        compute_gae(rewards, values, np.zeros((5, 1)), values, values, 0.99, 0.95)
    with pytest.raises(ValueError, match=r"rewards must be \[T, N\], got \[5\]"):
        compute_gae(np.zeros(5), values, values, values, values, 0.99, 0.95)


def _batch(**wrong) -> Batch:
    b, o, a = 6, 3, 2
    tensors = {
        "obs": torch.zeros(b, o),
        "actions": torch.zeros(b, a),
        "log_probs": torch.zeros(b),
        "old_mean": torch.zeros(b, a),
        "old_std": torch.ones(a),
        "advantages": torch.zeros(b),
        "returns": torch.zeros(b),
        "values": torch.zeros(b),
    }
    return Batch(**{**tensors, **wrong}, episode_returns=[], episode_lengths=[])


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("obs", (6,), r"Batch.obs must be \[B, O\], got \[6\]"),
        ("actions", (5, 2), r"Batch.actions must be \[B=6, A\], got \[5, 2\]"),
        ("log_probs", (6, 1), r"Batch.log_probs must be \[6\] \(B=6, A=2\), got \[6, 1\]"),
        ("old_mean", (6, 3), r"Batch.old_mean must be \[6, 2\]"),
        ("old_std", (6, 2), r"Batch.old_std must be \[2\]"),
        ("returns", (5,), r"Batch.returns must be \[6\]"),
    ],
)
def test_a_batch_refuses_inconsistent_shapes_naming_the_tensor(name, shape, message):
    assert len(_batch()) == 6 and len(_batch().rows(slice(0, 4))) == 4
    with pytest.raises(ValueError, match=message):
        _batch(**{name: torch.zeros(shape)})
