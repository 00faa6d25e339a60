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

Fidelity (diagnostics.fidelity_every = K): every K updates, before the step, x is compared
with the exact natural gradient x* = (F + lambda I)^-1 g of the analytic dense Fisher (same
lambda, or npg_exact's default 1e-2 for an undamped preconditioner):
    fidelity_cosine   = cos(x, x*)
    fidelity_kl_ratio = x^T F x / x*^T F x*   predicted KL of beta x over that of beta x*
and with x*_own = (F + D)^-1 g, D the preconditioner's own damping model (`damping_matvec`:
K-FAC's factored Tikhonov damping is not lambda I, so against x* its cosine stays below 1
even where G (x) A = F exactly; lambda I for the others, where x*_own = x*):
    fidelity_cosine_own, fidelity_kl_ratio_own   the same two numbers against x*_own
`fisher_cond` = cond(F + lambda I): npg_exact records its own estimate every update; the
other variants record the analytic F's on fidelity updates (NaN otherwise).

Row keys: the metrics.parquet columns harness/core/metrics.py declares with writer "natural"
(NaN where a quantity was not reached), skipped, skip_reason, kl and entropy (after the
step), and the preconditioner's diagnostics(). `accepted` is present only when a line search
is configured (max_backtracks > 0): plain NPG rows have no such key (n/a in analysis, not a
0% failure rate). A failed TRPO line search is accepted=False with skipped=False: the update
ran and was rejected; `skipped` marks numerical failures (accepted=False there too).
"""

from __future__ import annotations

import math
import time

import torch
from npgbench.algorithms.common import Row, policy_stats, surrogate
from npgbench.algorithms.fisher import NaturalConfig, Preconditioner, PreconditionerConfig
from npgbench.algorithms.fisher.exact import ExactFisher
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.algorithms.heldout import COLUMNS as HELDOUT_COLUMNS
from npgbench.algorithms.heldout import HeldOut
from npgbench.algorithms.line_search import backtracking_line_search
from npgbench.harness.core.config import DiagnosticsConfig
from npgbench.harness.core.config_checks import check_fidelity_size
from npgbench.harness.core.policy import GaussianPolicy, flat_grad, flat_params, set_flat_params
from npgbench.harness.core.rollout import Batch

NAN = math.nan
FIDELITY_DEFAULT_DAMPING = 1e-2  # npg_exact's default, for preconditioners without damping


class Fidelity:
    """Compares a direction with the exact natural gradient of the analytic dense Fisher."""

    def __init__(self, every: int, damping: float):
        self.every, self.damping = every, damping

    @classmethod
    def build(
        cls, policy: GaussianPolicy, diagnostics: DiagnosticsConfig | None, damping: float
    ) -> Fidelity | None:
        if diagnostics is None or diagnostics.fidelity_every <= 0:
            return None
        check_fidelity_size(diagnostics, policy.num_params())
        return cls(diagnostics.fidelity_every, damping if damping > 0 else FIDELITY_DEFAULT_DAMPING)

    def measure(
        self,
        policy: GaussianPolicy,
        batch: Batch,
        g: torch.Tensor,
        x: torch.Tensor,
        precond: Preconditioner,
    ) -> dict[str, float]:
        """g, x [P] -> cosine and KL ratio of x against x* and x*_own, and cond(F + lambda I)."""
        assert g.shape == x.shape == (policy.num_params(),), (g.shape, x.shape)
        reference = ExactFisher(self.damping, "analytic", max_memory_mb=math.inf)
        reference.fit(policy, batch)
        x64, g64 = x.double(), g.double()
        x_ref = reference.solve(g64)
        own_damping = getattr(precond, "damping_matvec", None)  # optional: lambda I if absent
        x_own = x_ref if own_damping is None else own_model_solve(reference, own_damping, g64)
        cosine, ratio = compare_directions(x64, x_ref, reference.fisher_matvec)
        cosine_own, ratio_own = compare_directions(x64, x_own, reference.fisher_matvec)
        return {
            "fidelity_cosine": cosine,
            "fidelity_kl_ratio": ratio,
            "fidelity_cosine_own": cosine_own,
            "fidelity_kl_ratio_own": ratio_own,
            "fisher_cond": reference.condition_number(),
        }


def compare_directions(x: torch.Tensor, x_ref: torch.Tensor, fisher_matvec) -> tuple[float, float]:
    """(cos(x, x_ref), x^T F x / x_ref^T F x_ref) of two float64 directions [P]."""
    cosine = float(x @ x_ref / (x.norm() * x_ref.norm()))
    return cosine, float(x @ fisher_matvec(x)) / float(x_ref @ fisher_matvec(x_ref))


def own_model_solve(reference: ExactFisher, damping_matvec, g: torch.Tensor) -> torch.Tensor:
    """(F + D)^-1 g [P] for the analytic dense F of `reference` and a damping model D given
    by its product (D symmetric positive definite), in float64 by Cholesky."""
    fisher = reference.dense_fisher()
    eye = torch.eye(fisher.shape[0], dtype=fisher.dtype)
    damped = torch.stack([damping_matvec(e).to(fisher.dtype) for e in eye])  # D^T = D
    damped += fisher
    chol = torch.linalg.cholesky(damped)
    return torch.cholesky_solve(g[:, None], chol)[:, 0]


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

    def _empty_row(self) -> Row:
        keys = (
            "beta",
            "g_dot_x",
            "x_fisher_x",
            "predicted_kl",
            "grad_norm",
            "cg_residual",
            "time_grad",
            "time_fisher_fit",
            "time_solve",
            "time_line_search",
            "time_fidelity",
            "fisher_cond",
            "fidelity_cosine",
            "fidelity_kl_ratio",
        )
        row: Row = dict.fromkeys(keys, NAN)
        if self.heldout is not None:
            row.update(dict.fromkeys(HELDOUT_COLUMNS, NAN))
        row.update(kl_delta=self.cfg.kl_delta, backtracks=0, skipped=False, skip_reason="")
        if self._has_line_search():
            row["accepted"] = False
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

    def _skip(self, row: Row, reason: str, theta_old: torch.Tensor, batch: Batch) -> Row:
        set_flat_params(self.policy.all_params(), theta_old)
        row.update(skipped=True, skip_reason=reason)
        if self._has_line_search():
            row["accepted"] = False
        return {**row, **policy_stats(self.policy, batch)}

    def update(self, batch: Batch) -> Row:
        policy, cfg, row = self.policy, self.cfg, self._empty_row()
        params = policy.all_params()
        theta_old = flat_params(params)
        fidelity = self.fidelity if self._fidelity_due() else None
        heldout = self.heldout if self._heldout_due() else None
        self.updates += 1

        t0 = time.perf_counter()
        objective = surrogate(policy, batch)
        g = flat_grad(objective, params)
        surrogate_old = float(objective.detach())
        row["grad_norm"] = float(g.norm())
        t1 = time.perf_counter()
        row["time_grad"] = t1 - t0
        if not torch.isfinite(g).all():
            return self._skip(row, "non-finite gradient", theta_old, batch)

        try:
            self.precond.fit(policy, batch)
            t2 = time.perf_counter()
            x = self.precond.solve(g).detach()
        except (FloatingPointError, torch.linalg.LinAlgError) as exc:
            return self._skip(row, f"preconditioner failed: {exc}", theta_old, batch)
        t3 = time.perf_counter()
        row.update(time_fisher_fit=t2 - t1, time_solve=t3 - t2)
        num_params = policy.num_params()
        if not x.shape == g.shape == (num_params,):  # protects the step from a plugin's shape
            return self._skip(
                row,
                f"{type(self.precond).__name__}.solve returned shape {list(x.shape)} for g "
                f"{list(g.shape)}, expected [{num_params}]",
                theta_old,
                batch,
            )
        row.update(self.precond.diagnostics())
        if not torch.isfinite(x).all():
            return self._skip(row, "non-finite direction x", theta_old, batch)

        if fidelity is not None:
            f0 = time.perf_counter()
            measured = fidelity.measure(policy, batch, g, x, self.precond)
            if not math.isnan(float(row["fisher_cond"])):  # npg_exact keeps its own estimate
                measured.pop("fisher_cond")
            row.update(measured, time_fidelity=time.perf_counter() - f0)
        if heldout is not None:
            h0 = time.perf_counter()
            row.update(heldout.measure(policy, batch, self.precond, cfg))
            row["time_heldout"] = time.perf_counter() - h0

        t4 = time.perf_counter()
        quad = float(x @ FisherOperator(policy, batch.obs)(x).detach())
        row.update(g_dot_x=float(g @ x), x_fisher_x=quad)
        if not (math.isfinite(quad) and quad > 0):
            return self._skip(row, f"x^T F x = {quad} (not finite and positive)", theta_old, batch)
        # NOTE: baselines/spinningup/Tianshou normalise by x^T (F + lambda I) x (damped_quad)
        norm = quad + self.precond.damping * float(x @ x) if cfg.damped_quad else quad
        beta = math.sqrt(2 * cfg.kl_delta / norm) if cfg.step_rule == "kl" else cfg.fixed_step
        row.update(beta=beta, predicted_kl=0.5 * beta**2 * quad)
        step = beta * x

        if cfg.max_backtracks > 0:

            def try_step(fraction: float) -> tuple[float, float]:
                set_flat_params(params, theta_old + fraction * step)
                stats = policy_stats(policy, batch)
                with torch.no_grad():
                    return stats["kl"], float(surrogate(policy, batch)) - surrogate_old

            result = backtracking_line_search(
                try_step,
                lambda: set_flat_params(params, theta_old),
                cfg.kl_delta,
                cfg.max_backtracks,
                cfg.backtrack_coeff,
            )
            row.update(backtracks=result.backtracks, accepted=result.accepted)
        else:
            set_flat_params(params, theta_old + step)
            reason = policy.invalid_reason()
            if reason:
                row["time_line_search"] = time.perf_counter() - t4
                return self._skip(row, reason, theta_old, batch)
        row["time_line_search"] = time.perf_counter() - t4
        return {**row, **policy_stats(policy, batch)}


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
