"""Every runnable variant: the built-ins of `ALGORITHMS` plus plugins found by entry point.

A plugin is an installed package that declares, in its pyproject.toml,

    [project.entry-points."npgbench.algorithms"]
    npg_efisher = "npgbench_efisher:VARIANT"

where `VARIANT` is an `npgbench.algorithms.Variant`. The entry point's name is the variant's
name (`npgbench run npg_efisher ...`, `algos = ["npg_efisher"]` in a suite). Plugins load in
whichever process asks (the CLI, a loky worker, a dask worker), so a plugin installed in the
workers' environment runs there with no edit of npg-bench (importlib.metadata entry points,
https://packaging.python.org/en/latest/specifications/entry-points/).

A plugin that fails to import, is not a Variant, takes a built-in's name (or another
plugin's), runs `make_natural` with a config that is not a `PreconditionerConfig`, or
declares a metrics column (Variant.metrics) whose name or W&B key the core schema already has
is refused with one PluginError line naming the entry point.
"""

from __future__ import annotations

import functools
from importlib import metadata

from npgbench.algorithms import ALGORITHMS, Variant
from npgbench.algorithms.fisher import PreconditionerConfig
from npgbench.harness.core.config import ConfigError, closest
from npgbench.harness.core.metrics import with_extra

ENTRY_POINT_GROUP = "npgbench.algorithms"


class PluginError(ConfigError):
    """A plugin entry point that cannot be used (one line, naming it)."""


def _describe(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    source = f" (from {dist.name} {dist.version})" if dist is not None else ""
    return f"entry point {ENTRY_POINT_GROUP}:{ep.name} = {ep.value}{source}"


def _load(ep: metadata.EntryPoint) -> Variant:
    try:
        variant = ep.load()
    except Exception as exc:  # any import-time failure of the user's package
        raise PluginError(f"{_describe(ep)} failed to load: {type(exc).__name__}: {exc}") from None
    if not isinstance(variant, Variant):
        raise PluginError(
            f"{_describe(ep)} is a {type(variant).__name__}, not an npgbench.algorithms.Variant"
        )
    if is_natural(variant) and not issubclass(variant.config, PreconditionerConfig):
        raise PluginError(
            f"{_describe(ep)} uses make_natural, so its config must subclass "
            f"npgbench.algorithms.fisher.PreconditionerConfig (got {variant.config.__name__})"
        )
    try:
        with_extra(variant.metrics)
    except ValueError as exc:
        raise PluginError(f"{_describe(ep)}: Variant.metrics: {exc}") from None
    return variant


@functools.cache
def plugins() -> dict[str, Variant]:
    """Variants registered by installed packages under ENTRY_POINT_GROUP (loaded once)."""
    found: dict[str, Variant] = {}
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in ALGORITHMS:
            raise PluginError(
                f"{_describe(ep)} clashes with the built-in variant {ep.name!r}; rename it "
                f"(built-ins: {', '.join(ALGORITHMS)})"
            )
        if ep.name in found:
            raise PluginError(f"{_describe(ep)}: another installed plugin also names {ep.name!r}")
        found[ep.name] = _load(ep)
    return found


def registry() -> dict[str, Variant]:
    """name -> Variant: the built-ins in their listed order, then plugins by name."""
    return {**ALGORITHMS, **plugins()}


def lookup(name: str) -> Variant:
    """The variant called `name`; ConfigError naming the closest valid names otherwise."""
    variants = registry()
    if name not in variants:
        raise ConfigError(f"unknown algorithm {name!r}: {closest(name, variants)}")
    return variants[name]


def is_natural(variant: Variant) -> bool:
    """Whether a variant runs the natural-gradient skeleton with a preconditioner of its own
    config (npg_*, trpo, and plugins built on `make_natural`), so that the fidelity, cost and
    coverage checks that mean "every NPG variant" include it."""
    from npgbench.algorithms.natural import make_natural

    return variant.make is make_natural


def preconditioner_variants(variants: dict[str, Variant]) -> list[str]:
    """The natural-gradient variants of `variants` with a preconditioner config of their own,
    in order: one name per direction (trpo runs npg_cg's config, so it is left out). What
    `algos = "natural"` in a suite and the arms of `bench fisher-cost` mean by "every NPG
    approximation"."""
    names, seen = [], set()
    for name, variant in variants.items():
        if is_natural(variant) and variant.config not in seen:
            seen.add(variant.config)
            names.append(name)
    return names


def natural_config(name: str):
    """The update config a variant runs with: its config class with its `update.*` protocol
    defaults applied (trpo: CGConfig with max_backtracks 10)."""
    import dataclasses

    variant = lookup(name)
    defaults = {k.removeprefix("update."): v for k, v in variant.defaults.items()}
    return dataclasses.replace(
        variant.config(), **{k: v for k, v in defaults.items() if "." not in k}
    )
