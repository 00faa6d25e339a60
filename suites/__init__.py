"""Suites: named experiment grids in TOML (stdlib tomllib), shipped as package data.

A suite file holds (every key but `envs`, `algos` and `steps` is optional):

    name, description         str (name defaults to the file stem)
    envs                      ["Hopper-v5", ...]
    algos                     ["ppo", ...] or "all" (every registered variant)
    seeds                     [0, 1, 2]  (explicit; default [0])
    steps                     environment-step budget of every run
    [overrides]               dotted key -> value, all runs
    [algo_overrides.ALGO]     dotted key -> value, runs of that algorithm
    [env_overrides."ENV"]     dotted key -> value, runs on that env
    [variants.LABEL]          algo = "...", overrides = {...}: a labelled extra task
    [grid]                    dotted key -> [values] (for the algos whose config has the key);
    [grid.ALGO]               dotted key -> [values] for one algorithm; cartesian product
    [thresholds]              env -> return threshold (steps-to-threshold)
    [score_ranges."ENV"]      min, max (normalised scores)
    [[references]]            env, algo and/or label, value, std?, source, protocol
                              (best|final), env_version, steps: published numbers shown
                              beside ours; label names a [variants.LABEL] (its algo is
                              implied) so a reference can attach to one variant

Dotted keys may be written quoted (`"sampler.num_envs" = 8`) or as TOML nested tables; both
are flattened. Loading never imports torch unless `check_names` is set, so the analysis
layer can read references and thresholds without the training stack.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npgbench.harness.core.config import ConfigError, RunConfig, closest

SUITE_DIR = Path(__file__).resolve().parent
SUITES: list[str] = sorted(p.stem for p in SUITE_DIR.glob("*.toml"))
"""Names of the suites shipped in this package (suites/*.toml)."""

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


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """{"sampler": {"num_envs": 8}, "a.b": 1} -> {"sampler.num_envs": 8, "a.b": 1}."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = value
    return out


class _Reader:
    """Type-checks one file's values; every error names the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def unknown(self, table: dict, allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise ConfigError(
                    f"{self.path}: unknown key {where}{key!r}: {closest(key, allowed)}"
                )

    def table(self, data: dict, key: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {value!r}")
        return value

    def str_list(self, data: dict, key: str) -> tuple[str, ...]:
        value = data.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a non-empty list of strings, got {value!r}")
        if len(set(value)) != len(value):
            raise self.fail(key, f"duplicate entries in {value!r}")
        return tuple(value)

    def number(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        return float(value)


def _parse(data: dict, path: Path) -> Suite:
    r = _Reader(path)
    r.unknown(data, TOP_KEYS, "")
    name = data.get("name", path.stem)
    description = data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise r.fail("name", "name and description must be strings")
    if not SAFE_NAME.fullmatch(name):
        # The name becomes a folder (results/<name>/) and the W&B group: "../../x" or an
        # absolute path would write outside results/.
        raise r.fail(
            "name", f"{name!r} is not a plain folder name: use letters, digits, '.', '_', '-'"
        )
    algos = data.get("algos")
    algos = ("all",) if algos == "all" else r.str_list(data, "algos") if algos else ()
    variants = {}
    for label, spec in r.table(data, "variants").items():
        if not isinstance(spec, dict) or not isinstance(spec.get("algo"), str):
            raise r.fail(f"variants.{label}", 'expected a table with algo = "NAME"')
        r.unknown(spec, VARIANT_KEYS, f"variants.{label}.")
        variants[label] = {
            "algo": spec["algo"],
            "description": str(spec.get("description", "")),
            "overrides": _flatten(r.table(spec, "overrides")),
        }
    if not algos and not variants:
        raise r.fail("algos", 'expected a list of algorithms, "all", or [variants.*] tables')
    seeds = data.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or len(set(seeds)) != len(seeds)
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise r.fail("seeds", f"expected a non-empty list of distinct integers >= 0, got {seeds!r}")
    steps = data.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise r.fail("steps", f"expected a positive integer step budget, got {steps!r}")
    grid, algo_grid = {}, {}
    for key, value in r.table(data, "grid").items():
        if key.split(".")[0] in CONFIG_SECTIONS:
            grid.update(_flatten({key: value}))
        elif isinstance(value, dict):
            algo_grid[key] = _flatten(value)
        else:
            raise r.fail(f"grid.{key}", "expected a dotted config key or an algorithm table")
    for where, table in [("grid", grid), *((f"grid.{a}", g) for a, g in algo_grid.items())]:
        for key, values in table.items():
            if not isinstance(values, list) or not values:
                raise r.fail(
                    f"{where}.{key}", f"expected a non-empty list of values, got {values!r}"
                )
    thresholds = {
        env: r.number(f"thresholds.{env}", v) for env, v in r.table(data, "thresholds").items()
    }
    score_ranges = {}
    for env, rng in r.table(data, "score_ranges").items():
        if not isinstance(rng, dict):
            raise r.fail(f"score_ranges.{env}", "expected a table with min and max")
        r.unknown(rng, {"min", "max"}, f"score_ranges.{env}.")
        lo, hi = (r.number(f"score_ranges.{env}.{k}", rng.get(k)) for k in ("min", "max"))
        if not lo < hi:
            raise r.fail(f"score_ranges.{env}", f"min {lo} must be below max {hi}")
        score_ranges[env] = {"min": lo, "max": hi}
    references = [
        _reference(r, i, ref, variants) for i, ref in enumerate(data.get("references", []))
    ]
    return Suite(
        name=name,
        description=description,
        envs=r.str_list(data, "envs"),
        algos=algos,
        seeds=tuple(seeds),
        steps=steps,
        overrides=_flatten(r.table(data, "overrides")),
        algo_overrides={a: _flatten(t) for a, t in r.table(data, "algo_overrides").items()},
        env_overrides={e: _flatten(t) for e, t in r.table(data, "env_overrides").items()},
        variants=variants,
        grid=grid,
        algo_grid=algo_grid,
        thresholds=thresholds,
        score_ranges=score_ranges,
        references=references,
        path=str(path),
    )


def _reference(r: _Reader, i: int, ref: Any, variants: dict) -> dict[str, Any]:
    where = f"references[{i}]"
    if not isinstance(ref, dict):
        raise r.fail(where, "expected a table")
    r.unknown(ref, REFERENCE_KEYS, f"{where}.")
    ref = dict(ref)
    missing = sorted(REFERENCE_REQUIRED - set(ref))
    if not {"algo", "label"} & set(ref):
        missing.append("algo or label")
    if missing:
        raise r.fail(where, f"missing {', '.join(missing)}")
    label = ref.get("label")
    if label in variants:  # a variant's reference: its algorithm is implied
        implied = variants[label]["algo"]
        if ref.setdefault("algo", implied) != implied:
            raise r.fail(f"{where}.algo", f"{ref['algo']!r}, but variant {label!r} runs {implied}")
    elif label is not None:  # a plain algorithm's own label
        ref.setdefault("algo", label)
    if ref["protocol"] not in PROTOCOLS:
        raise r.fail(f"{where}.protocol", f"{ref['protocol']!r}: valid: {', '.join(PROTOCOLS)}")
    out = {k: ref.get(k) for k in sorted(REFERENCE_KEYS)}
    out["value"] = r.number(f"{where}.value", ref["value"])
    out["std"] = None if ref.get("std") is None else r.number(f"{where}.std", ref["std"])
    return out


def suite_path(name_or_path: str | Path) -> Path:
    """A shipped suite by name, or a suite file by path; ConfigError naming the shipped suites.

    A bare name (no '/', no .toml suffix) always means a shipped suite, so a file in the
    working directory named like one never shadows it; write ./NAME for such a file.
    """
    text = str(name_or_path)
    if looks_like_path(text):
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"suite file not found: {path}")
        return path
    if text not in SUITES:
        raise ConfigError(
            f"unknown suite {text!r}: {closest(text, SUITES)} (a suite file: give its path, "
            "ending in .toml or containing /)"
        )
    return SUITE_DIR / f"{text}.toml"


def looks_like_path(text: str) -> bool:
    """Whether --suite names a file: it contains a path separator or ends in .toml."""
    return "/" in text or os.sep in text or text.endswith(".toml")


def load_suite(name_or_path: str | Path) -> Suite:
    """Parse and validate a suite file; ConfigError (one line naming file and key) on bad input.

    Names are not checked against the algorithm and env registries here (suites sit below the
    algorithms, and analysis/ reads suites without torch): npgbench.harness.suite_checks does
    that for the commands that run a suite.
    """
    path = suite_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    return _parse(data, path)


__all__ = ["SUITES", "Suite", "load_suite", "suite_path"]
