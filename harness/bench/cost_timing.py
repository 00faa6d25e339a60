"""The arms of `npgbench bench update-cost` and the timing of one update per arm.

An arm is an updater built by its registry entry (`Variant.make`) at a config: at the
benchmark's shapes, the suite's own config of every variant; in the scaling sweep, the cost
arms the preconditioner configs declare (`PreconditionerConfig.COST_ARMS`, with the claimed
cost) plus the plain gradient and PPO, whose claims are stated here.

Every repetition times the same work: the updater is primed by one untimed update (Adam
moments, K-FAC running factors, the sampled-Fisher generator's first draws) and its state
kept (`state_dict`, the checkpoint contract); each timed call builds a new updater on a copy
of the policy at theta_old and loads that state (a deep copy of the updater itself would
copy autograd graphs that torch refuses to copy).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import time
from dataclasses import dataclass
from typing import Any

from npgbench.algorithms.fisher import CostArm
from npgbench.harness.bench.cost_stats import interleaved
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch

BASELINE_CLAIMS = {
    "vanilla": CostArm(
        claim="O(R n): one gradient over the R rows (plus one Fisher-vector product for the "
        "kl step rule)",
        expected_exponent="1",
        batch_exponent="1",
    ),
    "ppo": CostArm(
        claim="O(E R n): E epochs of minibatch gradient steps over the R rows",
        expected_exponent="1",
        batch_exponent="1",
    ),
}
"""Claimed costs of the variants without a preconditioner (no COST_ARMS of their own)."""


@dataclass(frozen=True)
class Arm:
    """One updater configuration to time."""

    label: str
    algo: str
    """Registry name whose `make` builds the updater."""
    update: Any
    """The update config it runs with."""
    cost: CostArm = CostArm()
    """The claimed cost (empty for the benchmark-shape arms, which are not fitted)."""


@dataclass(frozen=True)
class Timing:
    """One timed `updater.update(batch)`: seconds of CPU (this thread) and wall time, and of
    the preconditioner's fit and solve inside it (NaN for updaters without one)."""

    arm: str
    rep: int
    position: int
    cpu: float
    wall: float
    fit_cpu: float = float("nan")
    solve_cpu: float = float("nan")
    fit_wall: float = float("nan")
    solve_wall: float = float("nan")


def suite_arms(tasks) -> list[Arm]:
    """One arm per task of a suite expanded on one env and one seed (grid.expand), labelled
    by the suite's label, at the suite's resolved update config."""
    return [Arm(t.label, t.algo, t.cfg.update) for t in tasks]


def sweep_arms(tasks) -> list[Arm]:
    """The scaling sweep's arms: every preconditioner cost arm of the registry (fisher_cost),
    then the suite's vanilla and ppo when it runs them, with their stated claims."""
    from npgbench.harness.bench.fisher_cost import cost_arms

    arms = [Arm(label, cfg_algo(cfg), cfg, arm) for label, (cfg, arm) in cost_arms().items()]
    arms += [
        Arm(t.label, t.algo, t.cfg.update, BASELINE_CLAIMS[t.algo])
        for t in tasks
        if t.algo in BASELINE_CLAIMS and t.label == t.algo
    ]
    return arms


def cfg_algo(cfg) -> str:
    """The registry name whose config class is type(cfg) (the first: npg_cg before trpo)."""
    from npgbench.algorithms.registry import registry

    return next(name for name, v in registry().items() if v.config is type(cfg))


class TimedPreconditioner:
    """Wraps a preconditioner and clocks its fit and solve (CPU of this thread and wall);
    every other attribute is the wrapped one's."""

    def __init__(self, inner):
        self.inner = inner
        self.fit_cpu = self.solve_cpu = self.fit_wall = self.solve_wall = 0.0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def fit(self, policy, batch) -> None:
        c0, w0 = time.thread_time(), time.perf_counter()
        self.inner.fit(policy, batch)
        self.fit_cpu += time.thread_time() - c0
        self.fit_wall += time.perf_counter() - w0

    def solve(self, g):
        c0, w0 = time.thread_time(), time.perf_counter()
        x = self.inner.solve(g)
        self.solve_cpu += time.thread_time() - c0
        self.solve_wall += time.perf_counter() - w0
        return x


@dataclass
class Primed:
    """An arm's updater state after one untimed update, and the policy at theta_old: every
    timed call builds its updater from these, so every repetition does the same work."""

    arm: Arm
    policy: GaussianPolicy
    state: dict | None
    """updater.state_dict() after the priming update (None: the updater has none, a plugin
    preconditioner without state_dict; it is then timed fresh each time)."""

    def build(self):
        """A new updater on a copy of the policy, with the primed state loaded."""
        from npgbench.algorithms.registry import lookup

        updater = lookup(self.arm.algo).make(copy.deepcopy(self.policy), self.arm.update, 0, None)
        if self.state is not None:
            updater.load_state_dict(copy.deepcopy(self.state))
        return updater


def primed(arm: Arm, policy: GaussianPolicy, batch: Batch) -> Primed:
    """Prime the arm's updater with one update on `batch` from `policy` (left untouched)."""
    template = Primed(arm, copy.deepcopy(policy), None)
    updater = template.build()
    updater.update(batch)
    try:
        template.state = updater.state_dict()
    except NotImplementedError:
        template.state = None
    return template


def time_once(template: Primed, batch: Batch, rep: int, position: int) -> Timing:
    """One timed update of an updater built from `template` (garbage collection off while
    the clock runs, as timeit does; no gc.collect() before it: with torch loaded a full
    collection costs seconds)."""
    updater = template.build()
    timed = None
    if hasattr(updater, "precond"):
        timed = updater.precond = TimedPreconditioner(updater.precond)
    gc.disable()
    try:
        c0, w0 = time.thread_time(), time.perf_counter()
        updater.update(batch)
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
    finally:
        gc.enable()
    arm = template.arm.label
    if timed is None:
        return Timing(arm, rep, position, cpu, wall)
    return Timing(
        arm, rep, position, cpu, wall, timed.fit_cpu, timed.solve_cpu, timed.fit_wall,
        timed.solve_wall,
    )  # fmt: skip


def time_arms(arms: list[Arm], policy: GaussianPolicy, batch: Batch, reps: int) -> list[Timing]:
    """Every arm `reps` times on the same (policy, batch), interleaved (cost_stats.interleaved).
    The priming update of each arm is its untimed warm-up (first calls allocate and load
    lazily)."""
    templates = {arm.label: primed(arm, policy, batch) for arm in arms}
    return [
        time_once(templates[label], batch, rep, position)
        for rep, position, label in interleaved([a.label for a in arms], reps)
    ]


def timing_rows(timings: list[Timing], **point) -> list[dict]:
    """CSV rows: the point's fields (study, env, hidden, batch, n_params) and each timing."""
    return [{**point, **dataclasses.asdict(t)} for t in timings]
