"""The arms F5 compares (docs/analysis-plan.md, family F5): its two reparameterisation families,
the arms tested under each with the invariance theory predicts of them (Amari 1998; Kakade
2001; Martens & Grosse 2015, section 10), and each arm's twins: the same variant at the
family's default and at each alternative, equal in every other setting, found by
configuration across suites and cut to the tasks they are compared on. claims/reparam.py
tests them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npgbench.analysis.claims import planned
from npgbench.analysis.data.arms import Arm, ArmSpec, pair

KL = {"update.step_rule": "kl", "update.kl_delta": 0.01}
BASELINE = "vanilla_kl"
PLAIN = "not invariant (plain gradient)"
VANILLA_KL = {"algo": "vanilla", **KL}
VANILLA_SGD = {"algo": "vanilla", "update.step_rule": "sgd", "update.lr": 0.1}
NPG_CG = {"algo": "npg_cg", "update.damping": 0.1, "update.cg_iters": 10, "update.cg_rtol": 0.0, **KL}  # fmt: skip
EXACT = {"algo": "npg_exact", **KL}


@dataclass(frozen=True, eq=False)  # hashed by identity: its arms hold dicts
class Family:
    """One reparameterisation family of F5 and the arms tested under it."""

    name: str
    key: str
    """The config field that reparameterises the policy."""
    default: object
    """Its value in every other analysis (planned.PROTOCOL's)."""
    alternatives: tuple
    arms: tuple
    """(name, settings, prediction, tested against the plain gradient in F5) per arm."""
    tasks: tuple[str, ...] = ("Hopper-v5",)
    """The tasks its suites run (the analysis plan's): the table is interim until each
    arm's twins have runs on all of them."""

    def label(self, value) -> str:
        return f"s={value:g}" if self.key == "policy.param_scale" else str(value)


PARAM_SCALE = Family("param_scale", "policy.param_scale", 1.0, (10.0,), (
    ("vanilla_kl", VANILLA_KL, PLAIN, False),
    ("vanilla_sgd", VANILLA_SGD, PLAIN, False),
    ("npg_exact", {**EXACT, "update.damping": 0.01},
     "invariant up to damping (exact natural gradient)", True),
    ("exact_d0.1", {**EXACT, "update.damping": 0.1},
     "invariant up to damping (exact natural gradient; 10x npg_exact's damping)", True),
    ("npg_cg", NPG_CG, "invariant up to damping and CG truncation (10 iterations)", True),
    ("npg_kfac", {"algo": "npg_kfac", "update.damping": 0.01, "update.kfac_stat_decay": 0.95, **KL},
     "invariant to per-layer input scaling, up to damping (K-FAC)", True),
    ("npg_diag", {"algo": "npg_diag", "update.damping": 0.01, **KL},
     "invariant to per-parameter scaling, up to damping (diagonal Fisher)", True),
), ("Hopper-v5", "Walker2d-v5"))  # fmt: skip
STD_PARAM = Family("std_param", "policy.std_param", "log", ("softplus", "identity"), (
    ("vanilla_kl", VANILLA_KL, PLAIN, False),
    ("vanilla_sgd", VANILLA_SGD, PLAIN, False),
    ("npg_exact", {**EXACT, "update.damping": 0.01},
     "invariant to first order, up to damping (exact natural gradient)", True),
    ("npg_exact_lowdamp", {**EXACT, "update.damping": 0.001},
     "invariant to first order, up to damping (exact natural gradient; damping 1e-3)", True),
    ("npg_cg", NPG_CG, "invariant to first order, up to damping and CG truncation", True),
))  # fmt: skip
FAMILIES = (PARAM_SCALE, STD_PARAM)
KEYS = tuple(f.key for f in FAMILIES)
"""The keys F5 varies (report/study.py leaves them out of its protocol check)."""


@dataclass
class Twins:
    """One variant under one family: its arm at each alternative found, beside the default's
    arm they all share (base), and why each other alternative has none."""

    base: Arm | None = None
    arms: dict = field(default_factory=dict)
    """alternative value -> its Arm."""
    missing: dict = field(default_factory=dict)
    """alternative value -> why it has no arm (no runs, ambiguous, another default arm)."""

    @property
    def complete(self) -> bool:
        return self.base is not None and not self.missing

    def on_every_task(self, tasks) -> bool:
        """Whether the default and every alternative have runs on each of `tasks`."""
        return self.complete and all(set(tasks) <= set(a.runs) for a in self.all_arms())

    def all_arms(self) -> list[Arm]:
        """The alternatives' arms and the default's (none without a pair)."""
        return [*self.arms.values(), *([self.base] if self.base else [])]


def twins(arms: list[Arm], family: Family, name: str, where: dict) -> Twins:
    """The arms of one variant at the family's default and at each alternative, each pair
    differing only in the family's key (found by configuration across suites)."""
    common = planned.protocol_without((family.key,))
    base = ArmSpec(f"{name} at {family.label(family.default)}", {**where, family.key: family.default})  # fmt: skip
    out = Twins()
    for value in family.alternatives:
        alt = ArmSpec(f"{name} at {family.label(value)}", {**where, family.key: value})
        found = pair(arms, alt, base, frozenset({family.key}), common)
        if isinstance(found, str):
            out.missing[value] = found
        elif out.base is not None and found[1] is not out.base:
            out.missing[value] = f"{alt.name} pairs with another {base.name} arm: ambiguous"
        else:
            out.base, out.arms[value] = found[1], found[0]
    return on_paired_tasks(out)


def on_paired_tasks(found: Twins) -> Twins:
    """found with every arm cut to the tasks it is compared on (the default arm, often
    controlled-1m's on three tasks, to those an alternative shares), so the final-return
    estimator and the interim state depend only on runs F5 compares."""
    if found.base is None:
        return found
    shared = set().union(*(set(a.runs) for a in found.arms.values())) & set(found.base.runs)
    arms = {value: a.on_tasks(shared) for value, a in found.arms.items()}
    return Twins(found.base.on_tasks(shared), arms, dict(found.missing))


def all_paired_tasks(found: Twins) -> list[str]:
    """The tasks on which the default and every alternative found have runs."""
    return sorted(set(found.base.runs).intersection(*(a.runs for a in found.arms.values())))


def found_twins(data: planned.PlannedData) -> dict[tuple[Family, str], Twins]:
    """(family, arm name) -> twins(...) for every arm of every family."""
    return {(f, name): twins(data.arms, f, name, where) for f in FAMILIES for name, where, _, _ in f.arms}  # fmt: skip
