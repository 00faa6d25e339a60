"""Conformance tests for npg-bench plugins, shipped with the package so that a plugin author
with only a pip install can run them:

    npgbench check-plugin npg_mine          # the tests for one installed plugin
    pytest --pyargs npgbench.testing        # every installed plugin (NPGBENCH_PLUGIN=name: one)

They check what the harness relies on (the documented API in npgbench.plugin): the entry
point loads a Variant whose config documents every field and refuses bad values with a
ConfigError; a tiny run completes and writes the metrics schema (core columns and the
variant's own, declared ones); the same seed gives the same metrics; a run interrupted after
a checkpoint and resumed equals the uninterrupted run (when the updater keeps state); and for
a natural-gradient variant, the preconditioner's solve keeps g's shape and dtype and its
diagnostics are floats of declared columns.
"""

from __future__ import annotations

import os

PLUGIN_ENV = "NPGBENCH_PLUGIN"
"""Environment variable naming the one plugin to test (unset: every installed plugin)."""


def plugin_names() -> list[str]:
    """The plugins under test: NPGBENCH_PLUGIN, or every installed one."""
    from npgbench.algorithms.registry import plugins

    chosen = os.environ.get(PLUGIN_ENV, "").strip()
    return [chosen] if chosen else sorted(plugins())


def main(argv: list[str]) -> int:
    """`npgbench check-plugin NAME [pytest args]`: the conformance tests for one plugin."""
    from npgbench.algorithms.registry import plugins
    from npgbench.harness.core.config import ConfigError, closest

    if not argv or argv[0].startswith("-"):
        raise ConfigError("usage: npgbench check-plugin NAME [pytest options]")
    name, rest = argv[0], argv[1:]
    installed = plugins()
    if name not in installed:
        valid = closest(name, installed) if installed else "no plugin is installed"
        raise ConfigError(f"check-plugin: {name!r} is not an installed plugin: {valid}")
    import pytest

    os.environ[PLUGIN_ENV] = name
    return int(pytest.main(["--pyargs", "npgbench.testing", "-p", "no:cacheprovider", *rest]))


__all__ = ["PLUGIN_ENV", "main", "plugin_names"]
