"""Frozen batches for the offline benchmarks (update-cost, fidelity): real states sampled from
a saved policy (a run's policy.pt or a snapshot with the same content) or from a fresh one,
with the observation normaliser frozen, so nothing trains and every batch is reproducible.

A batch seed s gives its own sampler (env seed and action noise from s): one warm-up batch is
drawn and discarded (the envs leave their reset states and the reward scaler, whose state
policy.pt does not keep, gets its statistics), then the batches that are returned.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from npgbench.harness.core.config import ConfigError, RunConfig
from npgbench.harness.core.envs import RunningNorm
from npgbench.harness.core.policy import GaussianPolicy, ValueNet
from npgbench.harness.core.rollout import Batch, Sampler

SECTIONS = ("sampler", "policy", "value", "update", "eval", "diagnostics")
"""config.json sections that configure a run (wandb and checkpoint are tracking only)."""


class FrozenNorm(RunningNorm):
    """A RunningNorm whose statistics never move: sampling reads them, never updates them."""

    def update(self, x) -> None:
        """Frozen: the saved statistics stay as they are."""


@dataclass
class SavedPolicy:
    """A policy to sample from: weights, frozen normaliser, value net and the run's config."""

    source: str
    """The file it was read from ('fresh' for an untrained policy)."""
    cfg: RunConfig
    policy: GaussianPolicy
    obs_norm: RunningNorm
    value_fn: ValueNet

    @property
    def label(self) -> str:
        """run id, plus the snapshot's name when it is not the final policy.pt."""
        name = Path(self.source).stem
        base = f"{self.cfg.algo}__{self.cfg.env}__s{self.cfg.seed}"
        return base if name in ("policy", "fresh") else f"{base}@{name}"


def saved_config(record: dict) -> RunConfig:
    """The RunConfig of a config record (config.json, or policy.pt's "config"), re-resolved
    so that fields added since keep their defaults; ConfigError on a field that no longer
    exists."""
    from npgbench.harness.runner import resolve_config

    overrides = {
        f"{section}.{key}": tuple(value) if isinstance(value, list) else value
        for section in SECTIONS
        for key, value in record.get(section, {}).items()
    }
    overrides["max_episode_steps"] = record.get("max_episode_steps", 0)
    return resolve_config(
        record["algo"], record["env"], record["seed"], record["total_steps"], overrides
    )


def policy_file(path: Path) -> Path:
    """A run directory's policy.pt, or the .pt file itself; ConfigError otherwise."""
    path = Path(path)
    file = path / "policy.pt" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"{path}: neither a run directory with policy.pt nor a .pt file")
    return file


def load_saved(path: Path) -> SavedPolicy:
    """The policy, frozen normaliser and value net saved at `path` (run dir or .pt file)."""
    file = policy_file(path)
    try:
        state = torch.load(file, weights_only=True)
        cfg = saved_config(state["config"])
        saved = fresh_policy(cfg, source=str(file))
        saved.policy.load_state_dict(state["policy"])
        saved.value_fn.load_state_dict(state["value"])
        if cfg.sampler.normalize_obs:
            saved.obs_norm.load_state_dict(state["obs_norm"])
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except Exception as exc:  # a corrupt or foreign file: name it, no traceback
        raise ConfigError(f"cannot load {file}: {type(exc).__name__}: {exc}") from None
    return saved


def fresh_policy(cfg: RunConfig, source: str = "fresh", init_seed: int = 0) -> SavedPolicy:
    """An untrained policy and value net of cfg's shapes, with an identity-start normaliser
    (frozen at mean 0, variance 1: a fresh run's first batch is close to that)."""
    import gymnasium as gym

    env = gym.make(cfg.env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    torch.manual_seed(init_seed)
    policy = GaussianPolicy(obs_dim, act_dim, cfg.policy)
    value_fn = ValueNet(obs_dim, cfg.value)
    clip = cfg.sampler.obs_clip if cfg.sampler.normalize_obs else float("inf")
    return SavedPolicy(source, cfg, policy, FrozenNorm((obs_dim,), clip), value_fn)


def sample_batches(saved: SavedPolicy, count: int, seed: int, steps: int = 2048) -> list[Batch]:
    """`count` consecutive batches of `steps` states each from the saved policy, after one
    discarded warm-up batch; env seed and action noise from `seed`. Batch order is
    [T, N] flattened: row i is env i % num_envs."""
    sampler_cfg = dataclasses.replace(saved.cfg.sampler, steps_per_update=steps)
    sampler = Sampler(saved.cfg.env, sampler_cfg, saved.cfg.max_episode_steps, 1000 + seed)
    frozen = FrozenNorm(saved.obs_norm.mean.shape, saved.obs_norm.clip)
    frozen.load_state_dict(saved.obs_norm.state_dict())
    sampler.obs_norm = frozen
    gen = torch.Generator().manual_seed(seed)
    try:
        batches = [sampler.collect(saved.policy, saved.value_fn, gen) for _ in range(count + 1)]
    finally:
        sampler.close()
    return batches[1:]


def take(batch: Batch, index: torch.Tensor) -> Batch:
    """The rows `index` [K] of a batch (old_std [A] is shared by every row)."""
    rows = {
        f.name: getattr(batch, f.name)[index]
        for f in dataclasses.fields(batch)
        if f.name in ("obs", "actions", "log_probs", "old_mean", "advantages", "returns", "values")
    }
    return dataclasses.replace(batch, **rows, episode_returns=[], episode_lengths=[])


def rebase(batch: Batch, policy: GaussianPolicy) -> Batch:
    """The batch's states and actions with pi_old = `policy` (a policy of another width on
    the same states, for the scaling sweep): old_mean, old_std and log_probs recomputed."""
    with torch.no_grad():
        mean, std = policy(batch.obs)
        log_probs = policy.log_prob(batch.obs, batch.actions)
    return dataclasses.replace(batch, old_mean=mean, old_std=std.clone(), log_probs=log_probs)


def env_halves(batch: Batch, num_envs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of the first and second half of the envs: independent trajectories, so
    the second half holds no state of the first's episodes (row i is env i % num_envs)."""
    env = torch.arange(len(batch)) % num_envs
    return torch.nonzero(env < num_envs // 2)[:, 0], torch.nonzero(env >= num_envs // 2)[:, 0]
