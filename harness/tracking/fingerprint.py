"""The code a run was made with: recorded in meta.json under "code", outside the run's hash.

A run's identity is its config hash, so editing a variant's code leaves its run ids unchanged;
the fingerprint is how a later sweep can tell that a complete run was made by other code:

    npgbench_version        the installed package version
    git_sha                 HEAD of the checkout the package runs from ("unknown" if none)
    variant_modules         the modules that define the variant: its make() and its config class
                            (for the natural family: algorithms/natural.py and the
                            preconditioner's module), sorted
    variant_source_sha256   sha256 over those modules' source files, in that order
    plugin_dist, plugin_version
                            the distribution that provides a plugin variant ("" for built-ins)

The git sha changes with every commit, so staleness is judged on the variant's own source and
the plugin version, not on it; a refactor shown result-neutral on the reference runs is
declared in source_ledger.py, so the runs made before it stay current. Shared code (sampler,
policy, core) is covered by the git sha and by tests/test_reference_runs.py, which keeps
same-seed results bit-identical across commits.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from importlib import metadata
from pathlib import Path

from npgbench.algorithms.registry import ENTRY_POINT_GROUP, lookup, plugins
from npgbench.harness.core.source_ledger import resolve
from npgbench.harness.tracking.run_dir import git_sha


def _package_version() -> str:
    try:
        return metadata.version("npg-bench")
    except metadata.PackageNotFoundError:
        return "unknown"


def _plugin_dist(algo: str) -> tuple[str, str]:
    if algo not in plugins():
        return "", ""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if ep.name == algo and dist is not None:
            return dist.name, dist.version
    return "", ""


def variant_modules(algo: str) -> list[str]:
    """Names of the modules that define `algo`'s update: its make() and its config class."""
    variant = lookup(algo)
    modules = {variant.make.__module__, variant.config.__module__}
    return sorted(modules)


def _source_sha256(modules: list[str]) -> str:
    digest = hashlib.sha256()
    for name in modules:
        path = Path(inspect.getsourcefile(importlib.import_module(name)) or "")
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<no source>")
    return digest.hexdigest()


def code_fingerprint(algo: str) -> dict[str, str | list[str]]:
    """The "code" entry of meta.json for a run of `algo` made by the installed code."""
    modules = variant_modules(algo)
    dist, version = _plugin_dist(algo)
    return {
        "npgbench_version": _package_version(),
        "git_sha": git_sha(),
        "variant_modules": modules,
        "variant_source_sha256": _source_sha256(modules),
        "plugin_dist": dist,
        "plugin_version": version,
    }


def stale_reasons(recorded: dict | None, installed: dict) -> list[str]:
    """What differs between a run's recorded fingerprint and the installed code's, judged on
    the variant's own source (up to source_ledger's declared result-equivalent refactors) and
    its plugin version ([] when nothing, or nothing recorded)."""
    if not recorded:
        return []
    reasons = []
    # Both sides resolved: a checkout whose own source is a ledger key (an older commit that
    # carries the ledger) judges the runs made by that very source current.
    made_by = resolve(str(recorded.get("variant_source_sha256", "")))
    if made_by != resolve(installed["variant_source_sha256"]):
        modules = ", ".join(installed["variant_modules"])
        reasons.append(f"variant source changed ({modules})")
    for key in ("plugin_dist", "plugin_version"):
        if recorded.get(key, "") != installed[key]:
            reasons.append(f"{key} {recorded.get(key, '')!r} -> {installed[key]!r}")
    return reasons
