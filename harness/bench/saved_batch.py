"""A real on-policy batch and the policy that sampled it, saved once and reused (float64).

The policy is a saved final policy of a run (`policy.pt` with its observation normaliser and
value net, harness/runner.py) or a freshly initialised one (seeded). One batch of `states`
environment steps is collected with the run's sampler settings (GAE advantages from the
saved value net, standardised), seeded, so the same request gives the same batch; it is
saved with the policy to `path` and read back on the next call instead of resampling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from npgbench.algorithms.fisher.rows import linear_layers
from npgbench.harness.core.config import ConfigError, PolicyConfig, SamplerConfig, ValueConfig
from npgbench.harness.core.policy import ACTIVATIONS, GaussianPolicy, ValueNet
from npgbench.harness.core.rollout import Batch, Sampler

F64 = torch.float64


@dataclass(frozen=True)
class BatchSource:
    """Where the batch comes from: `policy` is a run directory holding policy.pt, or "init"
    (a fresh policy of `hidden` on `env`, seeded `seed`)."""

    policy: str
    env: str
    hidden: tuple[int, ...]
    states: int
    seed: int


@dataclass
class SavedBatch:
    policy: GaussianPolicy  # float64
    batch: Batch  # float64, pi_old = policy
    source: BatchSource


def _from_run(source: BatchSource) -> tuple[GaussianPolicy, ValueNet, Sampler]:
    from npgbench.harness.core.evaluation import load_policy

    run_dir = Path(source.policy)
    if not (run_dir / "policy.pt").is_file():
        raise ConfigError(f"--policy {run_dir}: no policy.pt there; give a run directory or init")
    policy, norm, cfg = load_policy(run_dir)
    state = torch.load(run_dir / "policy.pt", weights_only=True)
    value = ValueNet(policy.mean_net[0].in_features, ValueConfig(**_tuple(cfg["value"])))
    value.load_state_dict(state["value"])
    sampler_cfg = SamplerConfig(**{**cfg["sampler"], "steps_per_update": source.states})
    _check_states(sampler_cfg)
    sampler = Sampler(cfg["env"], sampler_cfg, cfg["max_episode_steps"], source.seed)
    if sampler_cfg.normalize_obs:
        sampler.obs_norm.load_state_dict(norm.state_dict())
    return policy, value, sampler


def _fresh(source: BatchSource) -> tuple[GaussianPolicy, ValueNet, Sampler]:
    sampler_cfg = SamplerConfig(steps_per_update=source.states)
    _check_states(sampler_cfg)
    sampler = Sampler(source.env, sampler_cfg, 0, source.seed)
    torch.manual_seed(source.seed)
    policy = GaussianPolicy(
        sampler.obs_dim, sampler.act_dim, PolicyConfig(hidden_sizes=source.hidden)
    )
    return policy, ValueNet(sampler.obs_dim, ValueConfig()), sampler


def _tuple(section: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}


def _check_states(cfg: SamplerConfig) -> None:
    if cfg.steps_per_update % cfg.num_envs:
        raise ConfigError(
            f"--states {cfg.steps_per_update}: must be a multiple of the {cfg.num_envs} envs"
        )


def as_float64(policy: GaussianPolicy, batch: Batch) -> Batch:
    """The batch in float64 with pi_old's statistics recomputed by the float64 policy."""
    obs, actions = batch.obs.to(F64), batch.actions.to(F64)
    with torch.no_grad():
        mean, std = policy(obs)
        log_probs = policy.log_prob(obs, actions)
    return dataclasses.replace(
        batch,
        obs=obs,
        actions=actions,
        log_probs=log_probs,
        old_mean=mean,
        old_std=std.clone(),
        advantages=batch.advantages.to(F64),
        returns=batch.returns.to(F64),
        values=batch.values.to(F64),
    )


def sample(source: BatchSource) -> SavedBatch:
    """Collect one batch of source.states steps (seeded) from the source's policy."""
    policy, value, sampler = (_fresh if source.policy == "init" else _from_run)(source)
    try:
        batch = sampler.collect(policy, value, torch.Generator().manual_seed(source.seed))
    finally:
        sampler.close()
    policy = policy.double()
    return SavedBatch(policy, as_float64(policy, batch), source)


def save(saved: SavedBatch, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = saved.policy
    torch.save(
        {
            "source": dataclasses.asdict(saved.source),
            "policy": policy.state_dict(),
            "std_param": policy.std_param,
            "sizes": [m.in_features for m in linear_layers(policy)] + [policy.std_w.numel()],
            "activation": activation_name(policy),
            "batch": dataclasses.asdict(saved.batch),
        },
        path,
    )


def activation_name(policy: GaussianPolicy) -> str:
    """The key of ACTIVATIONS whose module the mean net uses ("tanh" for a net without one)."""
    for name, cls in ACTIVATIONS.items():
        if any(isinstance(m, cls) for m in policy.mean_net):
            return name
    return "tanh"


def load(path: Path) -> SavedBatch:
    data = torch.load(path, weights_only=True)
    sizes = data["sizes"]
    cfg = PolicyConfig(
        hidden_sizes=tuple(sizes[1:-1]), std_param=data["std_param"], activation=data["activation"]
    )
    policy = GaussianPolicy(sizes[0], sizes[-1], cfg).double()
    policy.load_state_dict(data["policy"])
    source = data["source"]
    source = BatchSource(**{**source, "hidden": tuple(source["hidden"])})
    return SavedBatch(policy, Batch(**data["batch"]), source)


def load_or_sample(source: BatchSource, path: Path) -> SavedBatch:
    """The batch saved at `path` when it was sampled for this same source; else sample and
    save it. A file there from another source is refused (ConfigError, nothing written)."""
    if path.is_file():
        saved = load(path)
        if saved.source != source:
            raise ConfigError(
                f"--batch-file {path} holds a batch of {saved.source}, not of this request; "
                "delete it or give another --batch-file"
            )
        print(f"reusing the batch saved in {path}", flush=True)
        return saved
    saved = sample(source)
    save(saved, path)
    print(f"sampled {source.states} states, saved with the policy to {path}", flush=True)
    return saved
