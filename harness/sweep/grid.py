"""Expand a suite into its grid of tasks, one resolved RunConfig per (label, env, seed).

Override precedence, lowest first: the variant's registry defaults (resolve_config), the suite's
[overrides], [algo_overrides.ALGO], [env_overrides."ENV"], a variant's own overrides, the grid
point, and the command line's --set. Every task is resolved here, before anything runs, so a
bad suite fails fast with one ConfigError instead of half a sweep.

`wandb.*` keys are tracking settings, not part of a run's identity: they are taken out of the
configs (so switching --wandb never renames a run) and returned separately by `wandb_settings`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from npgbench.harness.core.config import (
    ConfigError,
    RunConfig,
    WandbConfig,
    apply_overrides,
    closest,
)
from npgbench.harness.core.identity import run_id
from npgbench.suites import Suite

TRACKING_PREFIX = "wandb."


@dataclass
class Task:
    """One run of the grid: what the sweep hands to a worker."""

    label: str
    """Algorithm or variant label, plus grid values: "npg_cg[update.kl_delta=0.02]"."""
    algo: str
    env: str
    seed: int
    grid: dict[str, Any]
    cfg: RunConfig
    run_id: str
    aliases: list[str] = field(default_factory=list)
    """Labels of other grid points that resolved to the identical config (run once)."""

    @property
    def env_steps(self) -> int:
        """Steps the run will take: whole updates, as the runner rounds up."""
        per = self.cfg.sampler.steps_per_update
        return -(-self.cfg.total_steps // per) * per


def has_key(cfg: Any, dotted: str) -> bool:
    """Whether the dotted path names a leaf field of the config (update.* depends on algo)."""
    obj = cfg
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or part not in {
            f.name for f in dataclasses.fields(obj)
        }:
            return False
        obj = getattr(obj, part)
    return not dataclasses.is_dataclass(obj)


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(map(str, value)) + ")"
    return str(value)


def _identity(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if not k.startswith(TRACKING_PREFIX)}


def wandb_settings(suite: Suite, cli_overrides: dict[str, Any]) -> WandbConfig:
    """W&B settings from the suite's and the command line's wandb.* keys (validated)."""
    keys = {
        k: v
        for k, v in {**suite.overrides, **cli_overrides}.items()
        if k.startswith(TRACKING_PREFIX)
    }
    return apply_overrides(RunConfig(), keys).wandb


def base_tasks(suite: Suite, only: list[str] | None = None) -> list[tuple[str, str, dict]]:
    """(label, algo, variant overrides) per algorithm and variant, narrowed by --algos."""
    bases = [(a, a, {}) for a in suite.algos]
    bases += [(label, v["algo"], v["overrides"]) for label, v in suite.variants.items()]
    if only:
        choices = {label for label, _, _ in bases} | {algo for _, algo, _ in bases}
        for name in only:
            if name not in choices:
                raise ConfigError(
                    f"--algos: {name!r} is not in suite {suite.name}: {closest(name, choices)}"
                )
        bases = [b for b in bases if b[0] in only or b[1] in only]
    return bases


def grid_points(suite: Suite, algo: str, probe: RunConfig) -> list[dict[str, Any]]:
    """Cartesian product of the grid keys that apply to this algorithm's config."""
    keys = {k: v for k, v in suite.grid.items() if has_key(probe, k)}
    keys.update(suite.algo_grid.get(algo, {}))
    if not keys:
        return [{}]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*keys.values())]


def expand(
    suite: Suite,
    algos: list[str] | None = None,
    envs: list[str] | None = None,
    seeds: list[int] | None = None,
    steps: int | None = None,
    cli_overrides: dict[str, Any] | None = None,
) -> list[Task]:
    """The suite's grid (narrowed by the arguments) with every config resolved and validated."""
    from npgbench.harness.runner import resolve_config

    cli = _identity(cli_overrides or {})
    for name in envs or []:
        if name not in suite.envs:
            raise ConfigError(
                f"--envs: {name!r} is not in suite {suite.name}: {closest(name, suite.envs)}"
            )
    env_list = [e for e in suite.envs if not envs or e in envs]
    seed_list = list(seeds) if seeds is not None else list(suite.seeds)
    budget = steps or suite.steps
    bases = base_tasks(suite, algos)
    probes = _probes(suite)
    check_grid_size(suite, bases, probes, len(env_list) * len(seed_list))
    tasks, by_id = [], {}
    for (label, algo, variant), env in itertools.product(bases, env_list):
        for point in grid_points(suite, algo, probes[algo]):
            full = label + _point_suffix(point)
            layers = {
                **suite.overrides,
                **suite.algo_overrides.get(algo, {}),
                **suite.env_overrides.get(env, {}),
                **variant,
                **point,
                **cli,
            }
            for seed in seed_list:
                try:
                    cfg = resolve_config(algo, env, seed, budget, _identity(layers))
                except ConfigError as exc:
                    raise ConfigError(f"suite {suite.name}, {full} on {env}: {exc}") from None
                task = Task(full, algo, env, seed, point, cfg, run_id(cfg))
                if task.run_id in by_id:  # e.g. a variant equal to the plain algorithm
                    by_id[task.run_id].aliases.append(full)
                    continue
                by_id[task.run_id] = task
                tasks.append(task)
    return tasks


MAX_RUNS = 100_000
"""Most runs one sweep plans: every run is resolved before anything starts, so a grid of
10**6 points would sit in planning for hours instead of being refused."""


def check_grid_size(suite: Suite, bases, probes: dict[str, RunConfig], per_point: int) -> None:
    """Refuse a grid of more than MAX_RUNS runs, counted before any point is built."""
    total = 0
    for _, algo, _ in bases:
        keys = {k: v for k, v in suite.grid.items() if has_key(probes[algo], k)}
        keys.update(suite.algo_grid.get(algo, {}))
        total += math.prod(len(v) for v in keys.values()) * per_point
    if total > MAX_RUNS:
        raise ConfigError(
            f"suite {suite.name}: {total:,d} runs planned, more than {MAX_RUNS:,d}: narrow it "
            "(--algos, --envs, --seeds, fewer grid values) or split it into several suites"
        )


def _probes(suite: Suite) -> dict[str, RunConfig]:
    """Algorithm -> its default config on the suite's first env (which keys it has); refuses
    a [grid] key that no algorithm of the suite has."""
    from npgbench.harness.runner import resolve_config

    probes = {algo: resolve_config(algo, suite.envs[0]) for _, algo, _ in base_tasks(suite)}
    for key in suite.grid:  # a grid key no algorithm has is a typo, not an empty product
        if not any(has_key(p, key) for p in probes.values()):
            raise ConfigError(f"{suite.path}: grid.{key}: no algorithm of the suite has this key")
    return probes


def _point_suffix(point: dict[str, Any]) -> str:
    """What a grid point adds to a label: "[update.lr=0.1,update.clip=0.2]", "" for none."""
    return "[" + ",".join(f"{k}={_fmt(v)}" for k, v in point.items()) + "]" if point else ""


__all__ = ["Task", "expand", "wandb_settings", "has_key", "base_tasks", "grid_points"]
