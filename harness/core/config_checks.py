"""Numeric sanity of a resolved RunConfig, beyond each field's own range checks.

`validate()` in harness/core/config.py calls `check_numbers` first, so a config that would divide
by zero, train for 10^18 steps or step with an infinite learning rate is refused with one
line before anything is written. `check_policy_size` needs the env's dimensions and is called
by `npgbench run` and `npgbench sweep` once the env is known (before a run directory exists).
"""

from __future__ import annotations

import dataclasses
import math
import typing

from npgbench.harness.core.errors import ConfigError

MAX_TOTAL_STEPS = 10**10
"""Largest step budget accepted: 10,000x the 1M-step budget of the published MuJoCo results
(about 20 CPU-days per run at the 5-7k steps/s measured here); anything larger is a typo."""

INFINITE_ALLOWED = frozenset({"value.max_grad_norm", "update.max_grad_norm"})
"""Float fields whose docs say "inf disables" (a gradient-norm clip of inf is no clip); every
other float must be finite (an infinite lr, kl_delta or damping is never a setting)."""

POSITIVE_SIZES = (
    "sampler.num_envs",
    "sampler.steps_per_update",
    "value.minibatch_size",
    "eval.episodes",
    "diagnostics.fidelity_max_params",
)
"""Integer fields that size something and must be >= 1."""

NON_NEGATIVE = ("eval.every", "diagnostics.fidelity_every", "value.epochs")
"""Integer fields where 0 means off."""


def _leaves(obj: typing.Any, prefix: str = "") -> typing.Iterator[tuple[str, typing.Any]]:
    """(dotted name, value) of every non-dataclass field, depth first."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value


def check_numbers(cfg: typing.Any) -> None:
    """Finite floats, positive sizes, a sane step budget, at least one hidden layer.

    Runs before the field-by-field checks of validate(), which divide by sampler.num_envs.
    """
    values = dict(_leaves(cfg))
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            if not (value == math.inf and key in INFINITE_ALLOWED):
                raise ConfigError(f"{key} must be a finite number, got {value}")
    for key in POSITIVE_SIZES:
        if values[key] <= 0:
            raise ConfigError(f"{key} must be a positive integer, got {values[key]}")
    for key in NON_NEGATIVE:
        if values[key] < 0:
            raise ConfigError(f"{key} must be >= 0 (0 disables), got {values[key]}")
    if cfg.total_steps > MAX_TOTAL_STEPS:
        raise ConfigError(
            f"total_steps {cfg.total_steps:,d} is above the cap of {MAX_TOTAL_STEPS:,d} steps "
            "(10,000x a 1M-step benchmark run); is it a typo?"
        )
    for key in ("policy.hidden_sizes", "value.hidden_sizes"):
        if not values[key]:
            raise ConfigError(f"{key} is empty: give at least one hidden width, e.g. 64,64")


MAX_POLICY_PARAMS = 100_000_000
"""Largest policy a run builds (400 MB of float32 weights, before optimiser state): a bigger
one is a typo, refused before config.json is written instead of failing in the allocator."""


@dataclasses.dataclass(frozen=True)
class PolicyShape:
    """Sizes of the harness.core.policy.GaussianPolicy a config builds for an env, known
    before any tensor exists: the mean MLP over layer_sizes [obs_dim, *hidden, act_dim] plus
    one std parameter per action dimension."""

    layer_sizes: tuple[int, ...]

    @classmethod
    def of(cls, cfg: typing.Any, obs_dim: int, act_dim: int) -> PolicyShape:
        return cls((obs_dim, *cfg.policy.hidden_sizes, act_dim))

    @property
    def act_dim(self) -> int:
        return self.layer_sizes[-1]

    @property
    def num_params(self) -> int:
        pairs = zip(self.layer_sizes[:-1], self.layer_sizes[1:])
        return sum(n_in * n_out + n_out for n_in, n_out in pairs) + self.act_dim


def check_fidelity_size(diagnostics: typing.Any, num_params: int) -> None:
    """Refuse fidelity diagnostics on a policy too large for the dense analytic Fisher."""
    every, limit = diagnostics.fidelity_every, diagnostics.fidelity_max_params
    if every > 0 and num_params > limit:
        raise ConfigError(
            f"diagnostics.fidelity_every needs the dense analytic Fisher, but the policy has "
            f"{num_params} parameters > diagnostics.fidelity_max_params={limit}; use a smaller "
            "policy or set fidelity_every=0"
        )


def check_policy_size(cfg: typing.Any, obs_dim: int, act_dim: int) -> None:
    """Checks that need the env's dimensions, made when the run is resolved so that they fail
    before config.json and meta.json exist: the fidelity size limit (the same test
    algorithms/natural.py `Fidelity.build` makes), and the update config's own
    `check_shape(shape, batch_size)` where it has one (npg_exact's memory limit)."""
    shape = PolicyShape.of(cfg, obs_dim, act_dim)
    if shape.num_params > MAX_POLICY_PARAMS:
        raise ConfigError(
            f"policy.hidden_sizes {tuple(cfg.policy.hidden_sizes)}: {shape.num_params:,d} "
            f"parameters, more than {MAX_POLICY_PARAMS:,d}"
        )
    check_fidelity_size(cfg.diagnostics, shape.num_params)
    check_shape = getattr(cfg.update, "check_shape", None)  # optional, like validate()
    if check_shape is not None:
        check_shape(shape, cfg.sampler.steps_per_update)
