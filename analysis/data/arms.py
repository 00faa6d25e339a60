"""Arms matched by configuration across suites: which runs are "the same experiment".

An arm is a set of complete runs whose experiment settings are equal (everything but the env
and the seed). A run's settings are its config.json flattened to dotted keys, without
- its identity (run_id, config_hash, seed, env),
- tracking and measurement settings (wandb.*, checkpoint.*, diagnostics.*: they change what is
  recorded, not what is learned; the held-out diagnostics leave the update and its random
  draws unchanged),
- fields at their hash-neutral default (harness/core/identity.py HASH_NEUTRAL_DEFAULTS: a
  config written before such a field existed is the same experiment as one that writes it
  at that value).
So a reference run of one suite (controlled-1m's npg_cg) and an arm of another suite that
declares "controlled-1m's protocol" land in the same arm when their settings agree, whatever
the suite is called. Two runs of one arm, task and seed (the same experiment recorded twice,
e.g. with and without diagnostics) are one run: the first in run-id order is kept.

An ArmSpec picks arms by a few settings (`where`); a comparison pairs two arms whose settings
differ only in the keys of the factor it tests (`pair`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import pandas as pd
from npgbench.analysis.data.variants import run_settings
from npgbench.harness.core.identity import HASH_NEUTRAL_DEFAULTS
from npgbench.harness.core.run_files import RunStatus

IDENTITY = frozenset({"run_id", "config_hash", "seed", "env"})
NOT_EXPERIMENT = ("wandb.", "checkpoint.", "diagnostics.")
"""Setting prefixes that do not define the experiment."""


@dataclass(frozen=True)
class ArmSpec:
    """A named arm, picked by the settings it must have (neutral defaults count as set)."""

    name: str
    where: dict = field(default_factory=dict)


@dataclass(eq=False)
class Arm:
    """Runs with equal experiment settings. runs[env] = run ids, one per seed, by seed."""

    settings: dict
    runs: dict[str, list[str]]
    seeds: dict[str, list[int]]
    labels: list[str]
    """'label (suite)' of its runs, for the reader."""
    duplicates: int = 0
    """Runs left out as repeats of a kept run (same arm, task and seed)."""

    def tasks(self) -> list[str]:
        return sorted(self.runs)

    def on_tasks(self, tasks) -> Arm:
        """This arm with only the runs of `tasks` (those it has)."""
        keep = sorted(set(tasks) & set(self.runs))
        runs = {e: self.runs[e] for e in keep}
        return replace(self, runs=runs, seeds={e: self.seeds[e] for e in keep})


def experiment_settings(runs: pd.DataFrame) -> dict[str, dict]:
    """run_id -> the settings that define its experiment (module docstring)."""
    out = {}
    for run_id, flat in run_settings(runs).items():
        out[run_id] = {
            k: v
            for k, v in flat.items()
            if k not in IDENTITY
            and not k.startswith(NOT_EXPERIMENT)
            and not (k in HASH_NEUTRAL_DEFAULTS and same(v, HASH_NEUTRAL_DEFAULTS[k]))
        }
    return out


def same(a, b) -> bool:
    """Settings equality: numbers by value (1 == 1.0, float round-off ignored), lists by item."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def setting(settings: dict, key: str):
    """A setting's value, its hash-neutral default where left out (None: not set)."""
    return settings.get(key, HASH_NEUTRAL_DEFAULTS.get(key))


def build_arms(runs: pd.DataFrame) -> list[Arm]:
    """Every arm of the complete runs (runs: load.RunSet.runs), in a stable order."""
    done = runs[runs["status"] == RunStatus.COMPLETE].sort_values("run_id", kind="stable")
    done = done.drop_duplicates("run_id")
    settings = experiment_settings(done)
    arms: dict[str, Arm] = {}
    for rec in done.itertuples(index=False):
        s = settings[rec.run_id]
        key = json.dumps(s, sort_keys=True, default=str)
        arm = arms.setdefault(key, Arm(s, {}, {}, []))
        seeds = arm.seeds.setdefault(rec.env, [])
        if int(rec.seed) in seeds:
            arm.duplicates += 1
            continue
        seeds.append(int(rec.seed))
        arm.runs.setdefault(rec.env, []).append(rec.run_id)
        label = f"{rec.label} ({rec.study})" if rec.study else str(rec.label)
        if label not in arm.labels:
            arm.labels.append(label)
    for arm in arms.values():
        for env in arm.runs:
            order = sorted(range(len(arm.seeds[env])), key=arm.seeds[env].__getitem__)
            arm.runs[env] = [arm.runs[env][i] for i in order]
            arm.seeds[env] = [arm.seeds[env][i] for i in order]
    return list(arms.values())


def matches(arm: Arm, where: dict) -> bool:
    return all(same(setting(arm.settings, k), v) for k, v in where.items())


def select(arms: list[Arm], where: dict) -> list[Arm]:
    """The arms that have every setting of `where`."""
    return [a for a in arms if matches(a, where)]


def differing(a: Arm, b: Arm) -> tuple[set[str], set[str]]:
    """(keys both arms set to different values, keys only one arm sets)."""
    both = a.settings.keys() & b.settings.keys()
    shared = {k for k in both if not same(a.settings[k], b.settings[k])}
    return shared, set(a.settings.keys() ^ b.settings.keys())


def single_factor(a: Arm, b: Arm, factor: frozenset[str], own_settings: bool) -> bool:
    """True when a and b differ only in the factor's keys. own_settings: the factor is the
    algorithm, whose own settings (keys only one of them has) may differ too."""
    shared, one_sided = differing(a, b)
    return shared <= factor and (own_settings or one_sided <= factor)


def pair(
    arms: list[Arm],
    x: ArmSpec,
    y: ArmSpec,
    factor: frozenset[str],
    common: dict,
    own_settings: bool = False,
) -> tuple[Arm, Arm] | str:
    """The one (X, Y) arm pair that fits the specs, the common settings and differs only in
    the factor; otherwise why not (no arm, or several candidate pairs)."""
    xs = select(arms, {**common, **x.where})
    ys = select(arms, {**common, **y.where})
    if not xs or not ys:
        missing = " and ".join(s.name for s, found in ((x, xs), (y, ys)) if not found)
        return f"no runs of {missing}"
    found = [(a, b) for a in xs for b in ys if single_factor(a, b, factor, own_settings)]
    if len(found) == 1:
        return found[0]
    if not found:
        return f"no {x.name} / {y.name} arms differing only in {', '.join(sorted(factor))}"
    return f"{len(found)} candidate arm pairs for {x.name} / {y.name}: ambiguous"
