"""What a suite is: the parsed `Suite` and the keys a suite file may hold (the file format is
described in suites/__init__.py; suites/parse.py reads a file into a Suite)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from npgbench.harness.core.config import RunConfig

TOP_KEYS = {
    "name",
    "description",
    "envs",
    "algos",
    "seeds",
    "steps",
    "overrides",
    "algo_overrides",
    "env_overrides",
    "variants",
    "grid",
    "thresholds",
    "score_ranges",
    "references",
}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A suite name: one path component that cannot climb (no '/', no leading '.')."""
VARIANT_KEYS = {"algo", "overrides", "description"}
REFERENCE_KEYS = {
    "env",
    "algo",
    "label",
    "value",
    "std",
    "source",
    "protocol",
    "env_version",
    "steps",
}
REFERENCE_REQUIRED = REFERENCE_KEYS - {"std", "algo", "label"}
PROTOCOLS = ("best", "final")
ALGO_KEYWORDS = ("all", "natural")
"""`algos = "all"`: every registered variant, installed plugins included; `"natural"`: every
natural-gradient approximation (expanded by harness/sweep/suite_checks.py, which knows the
registry)."""
# Top-level RunConfig fields: a [grid] key starting with one of these is a dotted config key,
# anything else names an algorithm ([grid.ppo]).
CONFIG_SECTIONS = set(RunConfig.__dataclass_fields__)


@dataclass(frozen=True)
class Suite:
    """One parsed suite. Field names are a contract with analysis/: keep them."""

    name: str
    description: str
    envs: tuple[str, ...]
    algos: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    overrides: dict[str, Any] = field(default_factory=dict)
    algo_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    """label -> {"algo": str, "overrides": {dotted: value}, "description": str}."""
    grid: dict[str, list] = field(default_factory=dict)
    """dotted key -> values, expanded for every algo whose config has the key."""
    algo_grid: dict[str, dict[str, list]] = field(default_factory=dict)
    """algo -> {dotted key -> values} ([grid.ALGO] tables)."""
    thresholds: dict[str, float] = field(default_factory=dict)
    score_ranges: dict[str, dict[str, float]] = field(default_factory=dict)
    """env -> {"min": float, "max": float}."""
    references: list[dict[str, Any]] = field(default_factory=list)
    """[{env, algo, label (None: every group of algo), value, std (None when unpublished),
    source, protocol, env_version, steps}]."""
    path: str = ""
