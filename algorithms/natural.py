"""The one natural-gradient update shared by vanilla (sgd, kl), npg_* and trpo.

Straight line, mjrl style; the variants differ only in the preconditioner P (algorithms/fisher):

    g    = grad_theta L at theta_old,  L(theta) = mean(pi_theta(a|s) / pi_old(a|s) * A)   [P]
    P.fit(policy, batch)               curvature statistics at theta_old, pi_old detached
    x    = P.solve(g) ~ (F + lambda I)^-1 g                                               [P]
    quad = x^T F x                     one Fisher-vector product, the same analytic F for
                                       every variant (undamped: the predicted KL of the step
                                       is 1/2 beta^2 quad; baselines/spinningup normalise by
                                       x^T (F + lambda I) x: option damped_quad)
    beta = sqrt(2 kl_delta / quad)     step rule kl: every variant takes a step of equal
                                       predicted KL and they differ only in direction
         = fixed_step                  step rule fixed (Tianshou NPG's actor-step-size)
    theta = theta_old + beta x         or a backtracking line search on top (line_search.py)

F = mean_s J(s)^T I(s) J(s) is the Hessian of mean KL(pi_old || pi_theta) at theta_old with
pi_old detached; I(s) is the closed-form Fisher of the Gaussian head in the policy's std
parameterisation (fisher/products.py).

Failures are recorded, never hidden: a non-finite g or x, a non-finite or non-positive x^T F x,
a failed factorisation, or non-finite parameters (or sigma <= 0) after the step leave
theta_old in place with `skipped` and `skip_reason`. NaN is never replaced by zero.

Diagnostics, every K updates before the step and never changing it: the direction's fidelity
to the exact natural gradient (fidelity.py, diagnostics.fidelity_every) and the held-out
step measures (heldout.py, diagnostics.heldout_every).

Row keys: the row starts as `empty_row` of the writers "update" and "natural" under the
conditions this updater meets (harness/core/metric_rows.py), every column at its absent value
(NaN where a quantity was not reached), then takes skipped, skip_reason, kl and entropy (after
the step) and, once the solve has run, the preconditioner's diagnostics() (its own row: writer
"cg" or "exact"; a plugin's own columns join through MetricRow.extend). `accepted`
is declared only when a line search is configured (max_backtracks > 0): plain NPG rows have no
such key (n/a in analysis, not a 0% failure rate). A failed TRPO line search is accepted=False with skipped=False: the update
ran and was rejected; `skipped` marks numerical failures (accepted=False there too).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from npgbench.algorithms.common import mean_kl, policy_stats, surrogate
from npgbench.algorithms.fidelity import Fidelity
from npgbench.algorithms.fisher import NaturalConfig, Preconditioner, PreconditionerConfig
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.algorithms.heldout import HeldOut
from npgbench.algorithms.line_search import backtracking_line_search
from npgbench.harness.core.config import DiagnosticsConfig
from npgbench.harness.core.metric_rows import MetricRow, empty_row
from npgbench.harness.core.policy import GaussianPolicy, flat_grad, flat_params, set_flat_params
from npgbench.harness.core.rollout import Batch


@dataclass(frozen=True)
class Direction:
    """An update's direction at theta_old: g = grad L [P], x = P.solve(g) [P], and L(theta_old)
    (the line search's reference)."""

    g: torch.Tensor
    x: torch.Tensor
    surrogate_old: float


class NaturalUpdater:
    """update(batch) -> metrics row; moves `policy.all_params()` in place."""

    def __init__(
        self,
        policy: GaussianPolicy,
        precond: Preconditioner,
        cfg: NaturalConfig,
        fidelity: Fidelity | None = None,
        heldout: HeldOut | None = None,
    ):
        self.policy, self.precond, self.cfg, self.fidelity = policy, precond, cfg, fidelity
        self.heldout = heldout
        self.updates = 0

    def update(self, batch: Batch) -> MetricRow:
        """One update, in mjrl npg_cg's order: g, P.fit, x = P.solve(g), diagnostics, step."""
        row = self._empty_row()
        theta_old = flat_params(self.policy.all_params())
        fidelity = self.fidelity if self._fidelity_due() else None
        heldout = self.heldout if self._heldout_due() else None
        self.updates += 1
        direction = self.direction(batch, row)
        if isinstance(direction, str):
            return self._skip(row, direction, theta_old, batch)
        self._diagnose(batch, direction, row, fidelity, heldout)
        reason = self.step(batch, direction, theta_old, row)
        if reason:
            return self._skip(row, reason, theta_old, batch)
        return policy_stats(self.policy, batch, row)

    def direction(self, batch: Batch, row: MetricRow) -> Direction | str:
        """g = grad L(theta_old) [P], P.fit, x = P.solve(g) [P]: the Direction, or why there is
        none (the skip reason). Writes grad_norm, the timings and P's diagnostics into row."""
        policy = self.policy
        t0 = time.perf_counter()
        objective = surrogate(policy, batch)
        g = flat_grad(objective, policy.all_params())
        row["grad_norm"] = float(g.norm())
        t1 = time.perf_counter()
        row["time_grad"] = t1 - t0
        if not torch.isfinite(g).all():
            return "non-finite gradient"
        try:
            self.precond.fit(policy, batch)
            t2 = time.perf_counter()
            x = self.precond.solve(g).detach()
        except (FloatingPointError, torch.linalg.LinAlgError) as exc:
            return f"preconditioner failed: {exc}"
        row.update(time_fisher_fit=t2 - t1, time_solve=time.perf_counter() - t2)
        num_params = policy.num_params()
        if not x.shape == g.shape == (num_params,):  # protects the step from a plugin's shape
            return (
                f"{type(self.precond).__name__}.solve returned shape {list(x.shape)} for g "
                f"{list(g.shape)}, expected [{num_params}]"
            )
        row.extend(self.precond.diagnostics())  # a plugin's own columns too (Variant.metrics)
        if not torch.isfinite(x).all():
            return "non-finite direction x"
        return Direction(g, x, float(objective.detach()))

    def _diagnose(
        self,
        batch: Batch,
        direction: Direction,
        row: MetricRow,
        fidelity: Fidelity | None,
        heldout: HeldOut | None,
    ) -> None:
        """The diagnostics due this update (fidelity, held-out step), at theta_old."""
        if fidelity is not None:
            f0 = time.perf_counter()
            measured = fidelity.measure(self.policy, batch, direction.g, direction.x, self.precond)
            if not math.isnan(float(row["fisher_cond"])):  # npg_exact keeps its own estimate
                measured.pop("fisher_cond")
            row.update(measured, time_fidelity=time.perf_counter() - f0)
        if heldout is not None:
            h0 = time.perf_counter()
            row.update(heldout.measure(self.policy, batch, self.precond, self.cfg))
            row["time_heldout"] = time.perf_counter() - h0

    def step(
        self, batch: Batch, direction: Direction, theta_old: torch.Tensor, row: MetricRow
    ) -> str:
        """theta = theta_old + beta x, beta by the step rule, or a backtracking line search on
        that step: '' when the parameters stand, else the skip reason (the caller restores)."""
        policy, cfg, x = self.policy, self.cfg, direction.x
        t4 = time.perf_counter()
        quad = float(x @ FisherOperator(policy, batch.obs)(x).detach())
        row.update(g_dot_x=float(direction.g @ x), x_fisher_x=quad)
        if not (math.isfinite(quad) and quad > 0):
            return f"x^T F x = {quad} (not finite and positive)"
        # NOTE: baselines/spinningup/Tianshou normalise by x^T (F + lambda I) x (damped_quad)
        norm = quad + self.precond.damping * float(x @ x) if cfg.damped_quad else quad
        beta = math.sqrt(2 * cfg.kl_delta / norm) if cfg.step_rule == "kl" else cfg.fixed_step
        row.update(beta=beta, predicted_kl=0.5 * beta**2 * quad)
        reason = ""
        if cfg.max_backtracks > 0:
            self._line_search(batch, theta_old, beta * x, direction.surrogate_old, row)
        else:
            set_flat_params(policy.all_params(), theta_old + beta * x)
            reason = policy.invalid_reason()
        row["time_line_search"] = time.perf_counter() - t4
        return reason

    def _line_search(
        self,
        batch: Batch,
        theta_old: torch.Tensor,
        step: torch.Tensor,
        surrogate_old: float,
        row: MetricRow,
    ) -> None:
        """TRPO's backtracking on `step` [P] (line_search.py); records backtracks, accepted."""
        policy, cfg = self.policy, self.cfg
        params = policy.all_params()

        def try_step(fraction: float) -> tuple[float, float]:
            set_flat_params(params, theta_old + fraction * step)
            with torch.no_grad():
                kl = float(mean_kl(policy, batch))
                return kl, float(surrogate(policy, batch)) - surrogate_old

        result = backtracking_line_search(
            try_step,
            lambda: set_flat_params(params, theta_old),
            cfg.kl_delta,
            cfg.max_backtracks,
            cfg.backtrack_coeff,
        )
        row.update(backtracks=result.backtracks, accepted=result.accepted)

    def state_dict(self) -> dict:
        """The update count (the fidelity schedule) and the preconditioner's own state.

        Raises NotImplementedError for a preconditioner without state_dict(): a plugin whose
        state is unknown cannot resume bit-identically (the runner then keeps no checkpoints).
        """
        save = getattr(self.precond, "state_dict", None)
        if save is None:
            raise NotImplementedError(f"{type(self.precond).__name__} has no state_dict()")
        return {"updates": self.updates, "precond": save()}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
        self.precond.load_state_dict(state["precond"])

    writers = ("update", "natural")
    """The metrics.WRITERS whose columns every row of update() starts with; the
    preconditioner's diagnostics() (writer "cg", "exact", or a plugin's own columns) join once
    the solve has run, so a row skipped before it has none of them (NaN in metrics.parquet)."""

    @property
    def conditions(self) -> tuple[str, ...]:
        """The metrics.CONDITIONS this updater's rows meet (line search, fidelity, held-out)."""
        held = {
            "line search": self._has_line_search(),
            "fidelity": self.fidelity is not None,
            "held-out": self.heldout is not None,
        }
        return tuple(c for c, on in held.items() if on)

    def _empty_row(self) -> MetricRow:
        row = empty_row(self.writers, self.conditions)
        row["kl_delta"] = self.cfg.kl_delta
        return row

    def _fidelity_due(self) -> bool:
        return self.fidelity is not None and self.updates % self.fidelity.every == 0

    def _heldout_due(self) -> bool:
        return self.heldout is not None and self.heldout.due(self.updates)

    def _has_line_search(self) -> bool:
        """`accepted` is logged only when a line search is configured (max_backtracks > 0):
        without one there is nothing to accept or reject, and analysis reads the absent
        column as n/a rather than as a 0% failed-line-search rate."""
        return self.cfg.max_backtracks > 0

    def _skip(
        self, row: MetricRow, reason: str, theta_old: torch.Tensor, batch: Batch
    ) -> MetricRow:
        set_flat_params(self.policy.all_params(), theta_old)
        row.update(skipped=True, skip_reason=reason)
        if self._has_line_search():
            row["accepted"] = False
        return policy_stats(self.policy, batch, row)


def make_natural(
    policy: GaussianPolicy,
    cfg: PreconditionerConfig,
    seed: int,
    diagnostics: DiagnosticsConfig | None = None,
) -> NaturalUpdater:
    """Registry `make` of the NPG family: cfg builds its own preconditioner (seeded)."""
    fidelity = Fidelity.build(policy, diagnostics, cfg.damping)
    heldout = HeldOut.build(diagnostics)
    return NaturalUpdater(policy, cfg.preconditioner(seed), cfg, fidelity, heldout)
