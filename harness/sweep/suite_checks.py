"""Suites checked against the registries: algorithm names (built-ins and plugins) and envs.

The suites package parses and validates a file on its own (core only, no torch); the commands
that run a suite (sweep, list) check its names here, in the orchestration layer, which is the
one that knows the algorithm registry.
"""

from __future__ import annotations

from pathlib import Path

from npgbench.algorithms.registry import preconditioner_variants, registry
from npgbench.harness.core.config import ConfigError, closest
from npgbench.harness.core.envs import check_env_id
from npgbench.suites import Suite, load_suite


def load_checked_suite(name_or_path: str | Path) -> Suite:
    """load_suite, then check_suite: what `npgbench sweep` runs."""
    return check_suite(load_suite(name_or_path))


def check_suite(suite: Suite) -> Suite:
    """Check algorithm and env names against the registries (imports torch and gymnasium).

    Expands algos = "all" to every registered variant, installed plugins included, and
    "natural" to every natural-gradient approximation (registry.preconditioner_variants:
    npg_cg, not trpo). Shipped suites whose runs must stay fixed list their variants
    instead, so installing a plugin never changes what they run. References, thresholds and
    per-env tables must name envs of the suite; algo tables must name algorithms the suite
    runs.
    """
    variants = registry()

    def known_algo(name: str, where: str) -> None:
        if name not in variants:
            raise ConfigError(
                f"{suite.path}: {where}: unknown algorithm {name!r}: {closest(name, variants)}"
            )

    keywords = {
        ("all",): tuple(variants),
        ("natural",): tuple(preconditioner_variants(variants)),
    }
    algos = keywords.get(suite.algos, suite.algos)
    for name in algos:
        known_algo(name, "algos")
    for label, spec in suite.variants.items():
        known_algo(spec["algo"], f"variants.{label}.algo")
        _check_label(suite, label, spec["algo"], algos, variants)
    for env in suite.envs:
        try:
            check_env_id(env)
        except ConfigError as exc:
            raise ConfigError(f"{suite.path}: envs: {exc}") from None
    _check_algo_tables(suite, algos, known_algo)
    _check_env_tables(suite)
    return Suite(**{**suite.__dict__, "algos": algos})


def _check_label(suite: Suite, label: str, algo: str, algos, variants) -> None:
    """A variant label is one printable line (it names runs in every line and table), and
    never the name of another algorithm, nor one the suite runs as itself."""
    where = f"{suite.path}: variants.{label!r}"
    if not label.strip() or not label.isprintable() or label != label.strip():
        raise ConfigError(f"{where}: a label must be non-empty printable text on one line")
    if label in variants and label != algo:
        raise ConfigError(f"{where}: the label is the name of algorithm {label}, not {algo}")
    if label in algos:
        raise ConfigError(f"{where}: the label is also in algos: rename the variant")


def _check_algo_tables(suite: Suite, algos: tuple[str, ...], known_algo) -> None:
    """[algo_overrides.A], [grid.A] and references name algorithms (and labels) the suite
    runs; known_algo(name, where) raises for a name the registry lacks."""
    used = set(algos) | {spec["algo"] for spec in suite.variants.values()}
    for where, keys in [("algo_overrides", suite.algo_overrides), ("grid", suite.algo_grid)]:
        for name in keys:
            known_algo(name, f"{where}.{name}")
            if name not in used:
                raise ConfigError(
                    f"{suite.path}: {where}.{name}: {name} is not run by this suite "
                    f"(valid: {', '.join(sorted(used))})"
                )
    labels = {*algos, *suite.variants}
    for ref in suite.references:
        if ref["label"] is not None and ref["label"] not in labels:
            raise ConfigError(
                f"{suite.path}: references.label: {ref['label']!r} is not run by this suite: "
                f"{closest(ref['label'], labels)}"
            )
        known_algo(ref["algo"], "references.algo")


def _check_env_tables(suite: Suite) -> None:
    """Per-env overrides, thresholds, score ranges and references name envs of the suite."""
    envs_used = [
        *suite.env_overrides,
        *suite.thresholds,
        *suite.score_ranges,
        *(ref["env"] for ref in suite.references),
    ]
    for env in envs_used:
        if env not in suite.envs:
            raise ConfigError(
                f"{suite.path}: env {env!r} is not in this suite's envs: {closest(env, suite.envs)}"
            )
