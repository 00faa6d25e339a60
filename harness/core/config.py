"""Run configuration: frozen dataclasses, dotted `--set key=value` overrides, validation.

A run is fully described by one `RunConfig`. Every field carries a docstring (the string
literal under it), so `npgbench list --fields` and the README can show what each knob does.
The variant-specific hyperparameters live in `RunConfig.update`, whose class comes from the
registry entry of `RunConfig.algo`. A run's identity (hash, run id) is harness/core/identity.py.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from npgbench.harness.core.config_checks import check_numbers  # noqa: E402

# Defined in errors.py so that config_checks (which validate() calls) need not import this
# module; re-exported here, where every caller has always found them.
from npgbench.harness.core.errors import ConfigError as ConfigError  # noqa: E402
from npgbench.harness.core.errors import closest as closest  # noqa: E402


@dataclass(frozen=True)
class SamplerConfig:
    num_envs: int = 16
    """Parallel environments in the gymnasium SyncVectorEnv."""
    steps_per_update: int = 2048
    """Environment steps per policy update (over all envs); must be a multiple of num_envs."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda (bias/variance trade-off of the advantage estimate)."""
    normalize_obs: bool = True
    """Running mean/std observation normalisation, updated only while sampling."""
    obs_clip: float = 10.0
    """Clip normalised observations to [-obs_clip, obs_clip]."""
    normalize_advantages: bool = True
    """Standardise advantages per batch (PPO: per minibatch)."""
    normalize_rewards: bool = True
    """Scale rewards by the running std of the discounted return (value targets only see this)."""
    reward_clip: float = 10.0
    """Clip scaled rewards to [-reward_clip, reward_clip]."""


@dataclass(frozen=True)
class PolicyConfig:
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy mean MLP."""
    activation: str = "tanh"
    """Hidden activation: tanh or relu."""
    std_param: str = "log"
    """Std parameterisation: log (sigma=exp(w)), softplus (sigma=softplus(w)), identity (sigma=w)."""
    init_std: float = 1.0
    """Initial action std; w is set so every parameterisation starts from this sigma."""
    orthogonal_init: bool = True
    """Orthogonal init (gain sqrt 2, last layer 0.01) as in the 37 PPO details."""
    param_scale: float = 1.0
    """s: every Linear layer of the mean net is fed s x and stores W / s, so the function at
    init is the same for every s but the coordinates are not (a reparameterisation: weights
    move s^2 times as far per unit of gradient as biases and std). 1 leaves the net as it was."""


@dataclass(frozen=True)
class ValueConfig:
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the value MLP."""
    lr: float = 1e-3
    """Adam learning rate of the value fit."""
    epochs: int = 5
    """Passes over the batch per value fit (baselines TRPO: vf_iters=5)."""
    minibatch_size: int = 256
    """Minibatch size of the value fit (8 Adam steps per pass over a 2048-step batch)."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip of the value fit (inf disables)."""


@dataclass(frozen=True)
class EvalConfig:
    every: int = 10
    """Evaluate the mean action every this many iterations (0 disables)."""
    episodes: int = 5
    """Episodes per evaluation."""
    sampled: bool = False
    """Also evaluate with actions sampled from the policy (Tianshou's test episodes sample:
    its on-policy policies default to deterministic_eval=False), logged as
    eval_sampled_return_mean / _std beside the mean-action columns."""


@dataclass(frozen=True)
class DiagnosticsConfig:
    fidelity_every: int = 0
    """Every K updates, compare the direction with the exact natural gradient (0 disables)."""
    fidelity_max_params: int = 20_000
    """Refuse fidelity diagnostics on policies with more parameters than this."""
    heldout_every: int = 0
    """Every K updates, measure the step on states it was not computed from (0 disables):
    the direction of the same preconditioner fitted on half the batch (even rows), its
    first-order gain and KL on that half and on the other; and the KL of the update on the next
    batch's states. Diagnostic only: the update itself and its random draws are unchanged."""
    snapshot_every: int = 0
    """Every K updates, keep the policy (policy.pt's content) as snapshots/it<K>.pt in the run
    directory, for offline measurements on the run's own trajectory (0 disables)."""


FIDELITY_DEFAULT_DAMPING = 1e-2
"""lambda of the fidelity reference (F + lambda I)^-1 g for a variant without damping of its
own (vanilla): npg_exact's default. A variant with update.damping > 0 is compared at that."""


WANDB_MODES = ("auto", "online", "offline", "disabled")
"""The W&B mirror's modes: the one list `--wandb`, `wandb.mode` and the mirror accept."""


@dataclass(frozen=True)
class WandbConfig:
    mode: str = "auto"
    """auto (WANDB_MODE if set, else online with credentials, else offline), online, offline
    or disabled; the default of both `npgbench run` and `npgbench sweep`."""
    project: str = "npg-bench"
    """W&B project (WANDB_PROJECT overrides the default)."""
    group: str = ""
    """W&B group; empty: suite__label__env, so W&B aggregates the seeds of one variant."""


@dataclass(frozen=True)
class CheckpointConfig:
    every: int = 25
    """Save <run_dir>/checkpoint.pt every this many iterations (0 disables), and on SIGINT /
    SIGTERM in a top-level process; an incomplete run continues from it bit-identically.
    Tracking, not the experiment: left out of the run hash."""


@dataclass(frozen=True)
class RunConfig:
    algo: str = "ppo"
    """Registered algorithm name (see `npgbench list`)."""
    env: str = "InvertedPendulum-v5"
    """Gymnasium environment id."""
    seed: int = 0
    """The one integer every random stream of the run is spawned from."""
    total_steps: int = 100_000
    """Environment-step budget of the run."""
    max_episode_steps: int = 0
    """Override the env's time limit (0 keeps the registered one)."""
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    update: typing.Any = None
    """The variant's own hyperparameters (a dataclass from the registry entry)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)


# ----------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[str, str]:
    """Split `key=value`; raise ConfigError on a malformed override."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"malformed override {text!r}: expected key=value, e.g. update.kl_delta=0.02"
        )
    return key.strip(), value.strip()


def _coerce(value: typing.Any, hint: typing.Any, key: str) -> typing.Any:
    """Convert a CLI string (or TOML value) to the field's declared type, or raise."""
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            low = str(value).lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
        if hint is float:
            if isinstance(value, bool) or float(value) != float(value):  # NaN is never a setting
                raise ValueError
            return float(value)
        if hint is str:
            return str(value)
        if origin is tuple:
            items = (
                value
                if isinstance(value, (list, tuple))
                else [v for v in str(value).strip("()[] ").split(",") if v.strip()]
            )
            return tuple(int(v) for v in items)
    except (TypeError, ValueError):
        pass
    else:
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{key}: expected {name}, got {value!r}")


def _set_path(obj: typing.Any, path: list[str], value: typing.Any, full: str) -> typing.Any:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    head = path[0]
    if head not in names:
        raise ConfigError(f"unknown config key {full!r}: {closest(head, names)}")
    current = getattr(obj, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"unknown config key {full!r}: {head} has no sub-fields")
        return dataclasses.replace(obj, **{head: _set_path(current, path[1:], value, full)})
    if dataclasses.is_dataclass(current):
        raise ConfigError(f"{full!r} is a section; set one of its fields, e.g. {full}.<field>")
    return dataclasses.replace(obj, **{head: _coerce(value, hints[head], full)})


IDENTITY_KEYS = ("algo", "env", "seed")
"""Chosen by --algo/--env/--seed (they select the variant's config class): never by --set."""


def apply_overrides(cfg: RunConfig, overrides: dict[str, typing.Any]) -> RunConfig:
    """Return cfg with each dotted key set; unknown keys and bad types raise ConfigError."""
    for key, value in overrides.items():
        if key in IDENTITY_KEYS:
            raise ConfigError(f"{key!r} cannot be overridden with --set; use --{key}")
        cfg = _set_path(cfg, key.split("."), value, key)
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    """Reject impossible hyperparameters before anything is written."""
    check_numbers(cfg)
    s = cfg.sampler
    checks = [
        (cfg.total_steps > 0, "total_steps must be positive"),
        (cfg.seed >= 0, "seed must be a non-negative integer"),
        (cfg.max_episode_steps >= 0, "max_episode_steps must be >= 0"),
        (
            s.obs_clip > 0 and s.reward_clip > 0,
            "sampler.obs_clip and sampler.reward_clip must be positive",
        ),
        (s.num_envs > 0, "sampler.num_envs must be positive"),
        (s.steps_per_update >= s.num_envs, "sampler.steps_per_update must be >= num_envs"),
        (
            s.num_envs > 0 and s.steps_per_update % s.num_envs == 0,
            "sampler.steps_per_update must be a multiple of num_envs",
        ),
        (0 < s.gamma <= 1, "sampler.gamma must be in (0, 1]"),
        (0 <= s.gae_lambda <= 1, "sampler.gae_lambda must be in [0, 1]"),
        (
            cfg.policy.std_param in ("log", "softplus", "identity"),
            "policy.std_param: valid: identity, log, softplus",
        ),
        (cfg.policy.activation in ("tanh", "relu"), "policy.activation: valid: relu, tanh"),
        (cfg.policy.init_std > 0, "policy.init_std must be positive"),
        (
            math.isfinite(cfg.policy.param_scale) and cfg.policy.param_scale > 0,
            "policy.param_scale must be a positive finite number (1: no reparameterisation)",
        ),
        (
            cfg.diagnostics.heldout_every >= 0 and cfg.diagnostics.snapshot_every >= 0,
            "diagnostics.heldout_every and diagnostics.snapshot_every must be >= 0 (0 disables)",
        ),
        (
            cfg.value.lr > 0 and cfg.value.epochs >= 0,
            "value.lr must be positive, value.epochs >= 0",
        ),
        (cfg.value.minibatch_size > 0, "value.minibatch_size must be positive"),
        (cfg.value.max_grad_norm > 0, "value.max_grad_norm must be positive (inf disables)"),
        (
            all(h > 0 for h in cfg.policy.hidden_sizes + cfg.value.hidden_sizes),
            "policy.hidden_sizes and value.hidden_sizes must be positive widths, e.g. 64,64",
        ),
        (
            cfg.wandb.mode in WANDB_MODES,
            f"wandb.mode: valid: {', '.join(sorted(WANDB_MODES))}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    check = getattr(cfg.update, "validate", None)
    if check is not None:
        check()


def field_docs(cls: type) -> dict[str, str]:
    """Docstrings under each field of a dataclass and of its dataclass bases, read from source."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        klass_def = tree.body[0]
        if not isinstance(klass_def, ast.ClassDef):
            continue
        body = klass_def.body
        for node, nxt in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
                if not isinstance(node.target, ast.Name):
                    continue
                if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                    docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs
