"""Variant families: what kind of update a variant is, recorded in each run's meta.json.

The registry gives every variant a family (npgbench.algorithms.Variant.family) and the runner
writes it to meta.json as "family" when a run starts. Analysis reads it from there, since it
may not import the registry: which runs are natural-gradient arms of a comparison is then a
recorded fact, never guessed from settings such as update.damping.

Standard library only: analysis imports it without torch.
"""

from __future__ import annotations

FAMILIES = {
    "natural": "a Fisher-preconditioned direction x ~ (F + damping)^-1 g, stepped by the "
    "natural-gradient skeleton (npg_*, trpo, plugins built on make_natural)",
    "vanilla": "the plain gradient g as the direction (vanilla, every step rule: the "
    "baseline the natural family is compared with)",
    "ppo": "the clipped surrogate, Adam over minibatch epochs (ppo)",
    "other": "a plugin's own updater (neither the natural skeleton nor a built-in family)",
}
"""family -> what its variants' updates are; the values Variant.family may take."""

BUILT_IN_FAMILIES = {
    "vanilla": "vanilla",
    "npg_exact": "natural",
    "npg_diag": "natural",
    "npg_kfac": "natural",
    "npg_cg": "natural",
    "trpo": "natural",
    "ppo": "ppo",
}
"""algo -> family for the built-in variants that existed before meta.json recorded "family":
what analysis falls back on for those runs (docs/data's). Frozen: a variant added later has
its family in every meta.json it writes. tests/test_plugins.py checks it against the
registry."""


def recorded_family(meta: dict | None, algo: str) -> str:
    """A run's family: meta.json's "family", else BUILT_IN_FAMILIES[algo] for a run from
    before it was recorded; "" when neither says (an old run of a plugin)."""
    family = (meta or {}).get("family")
    if isinstance(family, str) and family:
        return family
    return BUILT_IN_FAMILIES.get(algo, "")


__all__ = ["BUILT_IN_FAMILIES", "FAMILIES", "recorded_family"]
