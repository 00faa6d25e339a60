"""ALGORITHMS: the registry of variants (name -> Variant). Greppable, no import-time magic.

Adding a variant = one file with a config dataclass and an updater, plus one line here.
An updater is any object with `update(batch) -> dict` that moves `policy.natural_params()`
in place; the runner fits the value function and logs the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from algorithms.ppo import PPOConfig, PPOUpdater
from algorithms.vanilla import VanillaConfig, VanillaUpdater


@dataclass(frozen=True)
class Variant:
    description: str
    """One line for `npgbench list`."""
    config: type
    """Dataclass of the variant's hyperparameters (RunConfig.update)."""
    make: Callable[..., Any]
    """make(policy, update_config, seed) -> updater with update(batch) -> dict."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Dotted RunConfig overrides this variant's protocol sets before the user's."""


ALGORITHMS: dict[str, Variant] = {
    "vanilla": Variant(
        "policy gradient with GAE baseline; Adam or SGD step in parameter space",
        VanillaConfig,
        lambda policy, cfg, seed: VanillaUpdater(policy, cfg),
    ),
    "ppo": Variant(
        "PPO clipped surrogate, Adam over minibatch epochs (PPO-paper defaults)",
        PPOConfig,
        lambda policy, cfg, seed: PPOUpdater(policy, cfg, seed),
    ),
}
