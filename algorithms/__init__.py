"""ALGORITHMS: the registry of variants (name -> Variant). Greppable, no import-time magic.

Adding a variant = one file with a config dataclass and an updater, plus one line here.
An updater is any object with `update(batch) -> dict` that moves `policy.all_params()`
in place; the runner fits the value function and logs the rest. The natural-gradient family
shares one update (algorithms/natural.py); each entry only picks its preconditioner's config
(algorithms/fisher/). Fidelity diagnostics apply to updates through that skeleton; ppo and
vanilla's adam rule have no single direction to compare and ignore them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from npgbench.algorithms.fisher.cg import CGConfig
from npgbench.algorithms.fisher.diagonal import DiagonalConfig
from npgbench.algorithms.fisher.exact import ExactConfig
from npgbench.algorithms.fisher.kfac import KFACConfig
from npgbench.algorithms.natural import make_natural
from npgbench.algorithms.ppo import PPOConfig, PPOUpdater
from npgbench.algorithms.vanilla import VanillaConfig, make_vanilla
from npgbench.harness.core.families import FAMILIES
from npgbench.harness.core.metrics import Metric


@dataclass(frozen=True)
class Variant:
    description: str
    """One line for `npgbench list`."""
    config: type
    """Dataclass of the variant's hyperparameters (RunConfig.update)."""
    make: Callable[..., Any]
    """make(policy, update_config, seed, diagnostics) -> updater with update(batch) -> dict;
    diagnostics is RunConfig.diagnostics (harness.core.config.DiagnosticsConfig)."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Dotted RunConfig overrides this variant's protocol sets before the user's."""
    metrics: tuple[Metric, ...] = ()
    """metrics.parquet columns of this variant's own, beyond the core schema's
    (harness/core/metrics.py: METRICS), e.g. a plugin preconditioner's diagnostics(): each
    gets its documented meaning and W&B key instead of other/<column>. A name or W&B key the
    core schema already declares is refused."""
    family: str = ""
    """What kind of update the variant is, a key of harness/core/families.py FAMILIES:
    "natural" (a Fisher-preconditioned direction), "vanilla" (the plain gradient, the
    baseline), "ppo", or "other". Recorded in each run's meta.json, where analysis reads which
    runs are natural-gradient arms. "" (a plugin's default): "natural" when `make` is
    make_natural, else "other"."""

    def __post_init__(self) -> None:
        if not self.family:
            family = "natural" if self.make is make_natural else "other"
            object.__setattr__(self, "family", family)
        if self.family not in FAMILIES:
            raise ValueError(f"Variant.family {self.family!r}: valid: {', '.join(FAMILIES)}")


ALGORITHMS: dict[str, Variant] = {
    "vanilla": Variant(
        "policy gradient with GAE baseline; Adam, SGD or KL-budget step in parameter space",
        VanillaConfig,
        make_vanilla,
        family="vanilla",
    ),
    "npg_exact": Variant(
        "NPG, dense Fisher (sampled or analytic), direct float64 solve (Gram form if cheaper)",
        ExactConfig,
        make_natural,
    ),
    "npg_diag": Variant(
        "NPG, diagonal Fisher (sampled squared scores or analytic)",
        DiagonalConfig,
        make_natural,
    ),
    "npg_kfac": Variant(
        "NPG, K-FAC per Linear layer (ACKTR's sampled Fisher), exact std block",
        KFACConfig,
        make_natural,
    ),
    "npg_cg": Variant(
        "truncated NPG (TNPG): conjugate gradient on Fisher-vector products",
        CGConfig,
        make_natural,
    ),
    "trpo": Variant(
        "TRPO: npg_cg direction + backtracking line search on KL and surrogate",
        CGConfig,
        make_natural,
        {"update.max_backtracks": 10},
    ),
    "ppo": Variant(
        "PPO clipped surrogate, Adam over minibatch epochs (PPO-paper defaults)",
        PPOConfig,
        lambda policy, cfg, seed, diagnostics=None: PPOUpdater(policy, cfg, seed),
        family="ppo",
    ),
}
