"""A suite file's TOML table -> a validated Suite; every error is one ConfigError naming the
file and the key. Sections are read in a fixed order (name, algos, variants, seeds, steps,
grid, thresholds, score ranges, references, then envs and the override tables), so a file
with several mistakes always reports the same one first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from npgbench.harness.core.config import ConfigError, closest
from npgbench.suites.schema import (
    ALGO_KEYWORDS,
    CONFIG_SECTIONS,
    PROTOCOLS,
    REFERENCE_KEYS,
    REFERENCE_REQUIRED,
    SAFE_NAME,
    TOP_KEYS,
    VARIANT_KEYS,
    Suite,
)


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


def parse_suite(data: dict, path: Path) -> Suite:
    """The Suite of one file's parsed TOML `data`; ConfigError on the first bad key."""
    r = _Reader(path)
    r.unknown(data, TOP_KEYS, "")
    name, description = _name(r, data, path)
    algos = data.get("algos")
    keyword = algos if algos in ALGO_KEYWORDS else None
    algos = (keyword,) if keyword else r.str_list(data, "algos") if algos else ()
    variants = _variants(r, data)
    if not algos and not variants:
        raise r.fail(
            "algos", 'expected a list of algorithms, "all", "natural", or [variants.*] tables'
        )
    seeds = _seeds(r, data)
    steps = data.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise r.fail("steps", f"expected a positive integer step budget, got {steps!r}")
    grid, algo_grid = _grids(r, data)
    thresholds = {
        env: r.number(f"thresholds.{env}", v) for env, v in r.table(data, "thresholds").items()
    }
    score_ranges = _score_ranges(r, data)
    references = [
        _reference(r, i, ref, variants) for i, ref in enumerate(data.get("references", []))
    ]
    return Suite(
        name=name,
        description=description,
        envs=r.str_list(data, "envs"),
        algos=algos,
        seeds=seeds,
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


def _name(r: _Reader, data: dict, path: Path) -> tuple[str, str]:
    """(name, description); the name defaults to the file stem and must be a folder name."""
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
    return name, description


def _variants(r: _Reader, data: dict) -> dict[str, dict[str, Any]]:
    """[variants.LABEL] tables -> label -> {"algo", "description", "overrides" (flattened)}."""
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
    return variants


def _seeds(r: _Reader, data: dict) -> tuple[int, ...]:
    seeds = data.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or len(set(seeds)) != len(seeds)
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise r.fail("seeds", f"expected a non-empty list of distinct integers >= 0, got {seeds!r}")
    return tuple(seeds)


def _grids(r: _Reader, data: dict) -> tuple[dict[str, list], dict[str, dict[str, list]]]:
    """The [grid] table split into (dotted config key -> values, algo -> {key -> values})."""
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
    return grid, algo_grid


def _score_ranges(r: _Reader, data: dict) -> dict[str, dict[str, float]]:
    """[score_ranges."ENV"] tables -> env -> {"min", "max"}, min below max."""
    score_ranges = {}
    for env, rng in r.table(data, "score_ranges").items():
        if not isinstance(rng, dict):
            raise r.fail(f"score_ranges.{env}", "expected a table with min and max")
        r.unknown(rng, {"min", "max"}, f"score_ranges.{env}.")
        lo, hi = (r.number(f"score_ranges.{env}.{k}", rng.get(k)) for k in ("min", "max"))
        if not lo < hi:
            raise r.fail(f"score_ranges.{env}", f"min {lo} must be below max {hi}")
        score_ranges[env] = {"min": lo, "max": hi}
    return score_ranges


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
