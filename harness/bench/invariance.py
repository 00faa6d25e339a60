"""Parameterisation invariance of each update direction: one deterministic step on a real batch.

For each family of exact reparameterisations theta = T(phi) of one policy (bench/reparam.py)
and each direction, one step of equal predicted KL (step rule kl, beta = sqrt(2 kl_delta /
x^T F x)) is taken from theta and from phi by the real update (algorithms/natural.py with the
variant's own preconditioner), and the two updated policies are compared on the batch states:

    kl_between = mean_s KL(pi_theta'(.|s) || pi_phi'(.|s))      0 for an invariant step

against kl_delta and damping. x does not depend on kl_delta: each (direction, damping) is
solved once at the smallest kl_delta and its step scaled by sqrt(kl_delta / smallest), which
is the step rule's own beta at every kl_delta. Everything runs in float64.

Theory checked:
  exact natural gradient  invariant to every invertible linear T up to damping (the phi solve
      is (F + lambda (T T^T)^-1)^-1 g in theta, so the gap closes as lambda -> 0 when F is
      nonsingular) and to nonlinear T to first order (steps differ by O(beta^2): kl_between =
      O(kl_delta^2)): Amari 1998, "Natural gradient works efficiently in learning", Neural
      Computation 10(2); Kakade 2001, "A natural policy gradient", NIPS 14. A sampled Fisher
      with fewer rows than parameters is singular: the damping decides the step in its null
      space at every lambda, so no invariance is predicted for it (npg_exact sampled, R < P)
      under maps of the mean net; maps of the std vector alone are still predicted invariant
      (every sample determines the std coordinates, so the null space barely touches them).
  K-FAC  invariant to affine maps of each layer's inputs and pre-activation outputs, up to its
      factored damping: Martens & Grosse 2015, "Optimizing neural networks with
      Kronecker-factored approximate curvature", ICML, section 10.
  diagonal Fisher  to per-parameter scaling (diagonal T or Jacobian) only.
  plain gradient (vanilla, kl step) and 10-iteration CG: to none; CG run to convergence is the
      exact (analytic) solve and inherits its invariance.

Verdict per (direction, family) at lambda*, the smallest damping at which every solve of the
direction converged (CG relative residual <= --cg-rtol; every damping for the others): with
r(lambda) = max over kl_delta of kl_between / kl_delta, "invariant" iff r(lambda*) < --tol
and the discrepancy is the damping's, i.e. r(lambda*) <= r(largest damping) / 10 (or below
1e-10, rounding). A discrepancy the damping does not move is structural: "not invariant".
For two steps of equal KL delta, kl_between / delta = 2 (1 - cos_F) to second order (cos_F:
their cosine in the Fisher metric), so --tol 1e-3 is an angle of 1.8 degrees between them.
For a nonlinear T the theory is first order: the log-log slope of kl_between in kl_delta
(reported) is 2 for a direction invariant to first order and 1 for one that is not.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from npgbench.algorithms.common import surrogate
from npgbench.algorithms.fisher import NaturalConfig
from npgbench.algorithms.fisher.identity import Identity
from npgbench.algorithms.natural import NaturalUpdater
from npgbench.harness.bench.reparam import PulledBack, Reparam
from npgbench.harness.bench.saved_batch import SavedBatch
from npgbench.harness.core.policy import (
    GaussianPolicy,
    flat_grad,
    flat_params,
    gaussian_kl,
    set_flat_params,
)
from npgbench.harness.core.rollout import Batch

NAN = math.nan


@dataclass(frozen=True)
class Direction:
    """One update direction: a registered variant's preconditioner with config overrides."""

    name: str
    variant: str | None
    """Registry variant whose config builds the preconditioner; None: identity (vanilla)."""
    overrides: tuple[tuple[str, object], ...]
    kind: str | None
    """PulledBack kind for chain-rule families; None: no phi-space form there (K-FAC)."""
    invariant_to: str
    """Theory: all (linear T up to damping), diagonal, layerwise or none."""
    converged: bool = False
    """Run CG to --cg-rtol (at most --cg-max-iters iterations)."""

    @property
    def sampled(self) -> bool:
        return dict(self.overrides).get("estimator") == "sampled"


DIRECTIONS = (
    Direction("vanilla", None, (), "identity", "none"),
    Direction("npg_exact", "npg_exact", (("estimator", "sampled"),), "exact", "all"),
    Direction("npg_exact_analytic", "npg_exact", (("estimator", "analytic"),), "exact", "all"),
    Direction("npg_diag", "npg_diag", (("estimator", "sampled"),), "diagonal", "diagonal"),
    Direction("npg_kfac", "npg_kfac", (("estimator", "sampled"),), None, "layerwise"),
    Direction("npg_cg", "npg_cg", (("cg_iters", 10),), "cg", "none"),
    Direction("npg_cg_converged", "npg_cg", (), "cg", "all", converged=True),
)


@dataclass(frozen=True)
class Settings:
    kl_deltas: tuple[float, ...]
    dampings: tuple[float, ...]
    kappa: float
    seed: int
    cg_max_iters: int
    cg_rtol: float
    tol: float


@dataclass(frozen=True)
class Row:
    """One CSV row: the discrepancy of one direction under one family at (kl_delta, damping)."""

    family: str
    direction: str
    kl_delta: float
    damping: float
    kl_between: float
    kl_ratio: float
    """kl_between / kl_delta."""
    predicted: str
    """Theory's answer: yes / no (first order for nonlinear families)."""
    linear: bool
    cg_residual: float
    """Largest relative CG residual of the two solves (NaN for other directions)."""


@dataclass
class Step:
    """An updated copy of a policy: theta_old [P] and the step [P] at the reference kl_delta."""

    policy: GaussianPolicy
    theta: torch.Tensor
    step: torch.Tensor
    cg_residual: float


def predicted(direction: Direction, rep: Reparam, rank_deficient: bool) -> str:
    """yes / no / n/a: theory's answer for this direction under this family (module docstring)."""
    if rep.policy is None and direction.kind is None:
        return "n/a"
    rule = direction.invariant_to
    ok = {
        "all": not (direction.sampled and rank_deficient and not rep.std_only),
        "diagonal": rep.diagonal,
        "layerwise": rep.layerwise,
    }.get(rule, False)
    return "yes" if ok else "no"


def gradient_norm(policy: GaussianPolicy, batch: Batch, rep: Reparam | None) -> float:
    """|g| in the parameters the solve sees (phi for a chain-rule family): CG's tolerance."""
    g = flat_grad(surrogate(policy, batch), policy.all_params())
    if rep is not None and rep.chain is not None:
        g = rep.chain.apply(g.double(), transpose=True)
    return float(g.norm())


def build(direction: Direction, damping: float, cfg: Settings, g_norm: float, rep, cache):
    """The preconditioner of `direction` at `damping`: the variant's own (its registry config
    with the overrides), or its chain-rule form for a chain-rule family `rep`."""
    from npgbench.algorithms.registry import natural_config

    options = dict(direction.overrides)
    if direction.converged:
        options.update(cg_iters=cfg.cg_max_iters, cg_tol=(cfg.cg_rtol * g_norm) ** 2)
    if rep is not None and rep.chain is not None:
        return PulledBack(
            direction.kind, rep.chain, damping, seed=cfg.seed, fisher_cache=cache, **options
        )
    if direction.variant is None:
        return Identity()
    config = dataclasses.replace(natural_config(direction.variant), damping=damping, **options)
    return config.preconditioner(cfg.seed)


def natural_step(policy: GaussianPolicy, precond, batch: Batch, kl_delta: float) -> Step:
    """One real natural-gradient update of a copy of `policy` (step rule kl, no line search)."""
    work = copy.deepcopy(policy)
    theta = flat_params(work.all_params())
    row = NaturalUpdater(work, precond, NaturalConfig(kl_delta=kl_delta)).update(batch)
    step = flat_params(work.all_params()) - theta
    if row["skipped"]:
        step = torch.full_like(theta, NAN)  # the update failed: no comparison
    return Step(work, theta, step, float(row.get("cg_residual", NAN)))


@torch.no_grad()
def outputs(step: Step, scale: float, obs: torch.Tensor):
    """(mean [B, A], std [A]) after theta_old + scale * step, or None for an invalid policy."""
    set_flat_params(step.policy.all_params(), step.theta + scale * step.step)
    if step.policy.invalid_reason():
        return None
    return step.policy(obs)


@torch.no_grad()
def kl_between(a: Step, b: Step, scale: float, obs: torch.Tensor) -> float:
    """mean_s KL(pi_a || pi_b) of the two policies after their scaled steps (NaN if invalid)."""
    out_a, out_b = outputs(a, scale, obs), outputs(b, scale, obs)
    if out_a is None or out_b is None:
        return NAN
    return float(gaussian_kl(*out_a, *out_b).mean())


def measure(
    saved: SavedBatch, reps: dict[str, Reparam], directions: list[Direction], cfg: Settings
) -> list[Row]:
    """Every (family, direction, damping, kl_delta) of the benchmark, as CSV rows."""
    base, batch = saved.policy, saved.batch
    rank_deficient = len(batch) < base.num_params()  # sampled rows: one per state
    ref, cache, rows = min(cfg.kl_deltas), {}, []
    for damping in cfg.dampings:
        for direction in directions:
            started = time.perf_counter()
            precond = build(direction, damping, cfg, gradient_norm(base, batch, None), None, cache)
            theta_step = natural_step(base, precond, batch, ref)
            for rep in reps.values():
                answer = predicted(direction, rep, rank_deficient)
                if answer == "n/a":
                    continue
                policy = rep.policy if rep.policy is not None else base
                g_norm = gradient_norm(policy, batch, rep)
                precond = build(direction, damping, cfg, g_norm, rep, cache)
                phi_step = natural_step(policy, precond, batch, ref)
                residual = max(theta_step.cg_residual, phi_step.cg_residual)
                for delta in cfg.kl_deltas:
                    kl = kl_between(theta_step, phi_step, math.sqrt(delta / ref), batch.obs)
                    rows.append(
                        Row(rep.family, direction.name, delta, damping, kl, kl / delta, answer,
                            rep.linear, residual)
                    )  # fmt: skip
            seconds = time.perf_counter() - started
            print(f"  damping {damping:g} {direction.name:<20} {seconds:7.1f}s", flush=True)
    return rows
