"""npg_efisher: NPG preconditioned by the empirical Fisher of the buffer actions' scores.

    x = (F_emp + lambda I)^-1 g,   F_emp = (1/N) sum_i s_i s_i^T = S^T S,
    s_i = grad_theta log pi_theta(a_i | s_i) at theta_old,   S = [s_1; ...; s_N] / sqrt(N)  [N, P]

with a_i the actions *of the batch* (the ones the sampler took), where npg_exact's sampled
estimator draws fresh a_i ~ pi_theta_old. Kunstner, Balles & Hennig (2019), "Limitations of
the empirical Fisher approximation for natural gradient descent" (NeurIPS): F_emp is the
Fisher only in expectation over labels drawn from the model itself. On-policy buffer actions
are such draws, so here F_emp is an unbiased one-sample-per-state estimate of F, but built
from the same samples as g; for actions from any other policy (replayed or off-policy data,
or a policy that has moved since sampling) it is a different matrix at any N (tests/).
Because the surrogate gradient at theta_old is g = (1/N) sum_i A_i s_i = S^T A / sqrt(N),
    x = argmin_w |S w - A / sqrt(N)|^2 + lambda |w|^2,
the ridge regression of the advantages on the scores: the least-squares fit of compatible
function approximation (Sutton et al. 2000; Kakade 2001, "A Natural Policy Gradient").

S: npg-bench's layer-factored `rows_at` (npgbench.algorithms.fisher.rows) at the batch's actions.

Solved exactly in float64 by Cholesky, in the smaller of two forms (N rows, P parameters):
    Gram   N < P   (S^T S + lambda I)^-1 g = (g - S^T (S S^T + lambda I)^-1 S g) / lambda
                   (Woodbury); S S^T [N, N] by the layer-factored rows, S never formed
    dense  N >= P  S^T S + lambda I [P, P];  x = L^-T L^-1 g
A failed factorisation or non-finite scores raise FloatingPointError, which the natural
skeleton records as a skipped update (skip_reason "preconditioner failed: ...").

Diagnostics: fisher_cond = cond(F_emp + lambda I), as npg_exact records that of its own
estimate (power iteration for the top eigenvalue; the bottom one is lambda in the Gram form,
where F_emp has a null space, else inverse iteration: an estimate from below), and
efisher_rows = N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from npgbench.plugin import (
    Batch,
    ConfigError,
    CostArm,
    GaussianPolicy,
    PolicyShape,
    PreconditionerConfig,
    damped_condition_number,
    linear_layers,
    row_width,
    rows_at,
)
from npgbench.plugin import check_memory as exact_memory

F64 = torch.float64
FORMS = ("auto", "gram", "dense")


@dataclass(frozen=True)
class EFisherConfig(PreconditionerConfig):
    damping: float = 1e-2
    """lambda in (F_emp + lambda I). Must be > 0: F_emp has rank <= N (batch rows), below P
    for most policies, and the Gram form divides by it. 1e-2 as npg_exact (the Tikhonov
    damping of K-FAC/ACKTR for a directly inverted Fisher), so the two differ only in F."""
    efisher_max_memory_mb: float = 2048.0
    """Refuse when the estimated float64 memory of the solve exceeds this (as npg_exact's
    exact_max_memory_mb): the Gram form needs ~16 N^2 bytes, the dense form ~16 P^2.
    Checked when the run is resolved, before anything is written."""

    COST_ARMS: ClassVar[dict[str, CostArm]] = {
        "npg_efisher": CostArm(
            claim="Gram form of the N buffer rows while N < n: O(N^2 W + N^3), nearly flat in "
            "n at a fixed batch; dense O(N n^2 + n^3) below that",
            expected_exponent="0-0.5",
        )
    }

    def validate(self) -> None:
        # before the shared checks, so a negative damping gets this message too
        if not self.damping > 0:
            raise ConfigError(
                f"update.damping must be > 0 for npg_efisher, got {self.damping} "
                "(F_emp has rank <= batch rows and the Gram form divides by it)"
            )
        super().validate()
        if not self.efisher_max_memory_mb > 0:
            raise ConfigError("update.efisher_max_memory_mb must be > 0")

    def check_shape(self, shape: PolicyShape, batch_size: int) -> None:
        """The memory limit from the policy's sizes alone (fit checks it again)."""
        check_memory(batch_size, shape.num_params, row_width(shape.layer_sizes), "auto",
                     self.efisher_max_memory_mb)  # fmt: skip

    def preconditioner(self, seed: int) -> EmpiricalFisher:
        # `seed` is unused: the rows are the buffer's own actions, nothing is sampled
        return EmpiricalFisher(self.damping, self.efisher_max_memory_mb)


def check_memory(num_rows: int, num_params: int, width: int, form: str, limit_mb: float) -> str:
    """The solve form (auto: Gram when N < P); ConfigError when it needs more than limit_mb."""
    form = ("gram" if num_rows < num_params else "dense") if form == "auto" else form
    return exact_memory(
        "npg_efisher (buffer rows", num_rows, num_params, width, form, limit_mb,
        "update.efisher_max_memory_mb", "use a smaller batch or policy, or raise the limit",
    )  # fmt: skip


class EmpiricalFisher:
    """(F_emp + lambda I)^-1 by float64 Cholesky, Gram form when N < P, dense otherwise."""

    def __init__(
        self,
        damping: float,
        max_memory_mb: float = 2048.0,
        cond_iters: int = 30,
        form: str = "auto",
    ):
        if not damping > 0:
            raise ValueError(f"EmpiricalFisher needs damping > 0, got {damping}")
        if form not in FORMS:
            raise ValueError(f"form {form!r}: valid: {', '.join(FORMS)}")
        self.damping, self.max_memory_mb, self.cond_iters = damping, max_memory_mb, cond_iters
        self.requested_form = form  # 'gram' or 'dense' forced: tests compare the two
        self.form, self.rows, self.matrix, self.chol = "", None, None, None
        self._cond = math.nan

    def state_dict(self) -> dict:
        """Stateless between updates (refitted from each batch): nothing to checkpoint."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        """Score rows of the batch's own actions at theta_old; factor the damped matrix."""
        self.rows, self.matrix, self.chol, self._cond = None, None, None, math.nan
        layers = linear_layers(policy)
        sizes = (layers[0].in_features, *(m.out_features for m in layers))
        self.form = check_memory(
            len(batch), policy.num_params(), row_width(sizes), self.requested_form,
            self.max_memory_mb,
        )  # fmt: skip
        rows = rows_at(policy, batch.obs, batch.actions).to(F64)  # the buffer's own actions
        matrix = rows.gram() if self.form == "gram" else rows.fisher()
        # checked here, not left to the Cholesky: a NaN score must never pass as a direction
        if not torch.isfinite(matrix).all():
            raise FloatingPointError(f"non-finite scores of the buffer actions ({self.form} form)")
        damped = matrix.clone()
        damped.diagonal().add_(self.damping)
        chol, info = torch.linalg.cholesky_ex(damped)
        if info.item() != 0:
            raise FloatingPointError(
                f"Cholesky of the damped empirical Fisher failed ({self.form} form, "
                f"minor {info.item()})"
            )
        self.rows, self.matrix, self.chol = rows, matrix, chol

    def _chol_solve(self, b: torch.Tensor) -> torch.Tensor:
        # two triangular solves: faster than cholesky_solve for one right-hand side
        y = torch.linalg.solve_triangular(self.chol, b[:, None], upper=False)
        return torch.linalg.solve_triangular(self.chol.T, y, upper=True)[:, 0]

    def _check(self, v: torch.Tensor) -> None:
        if self.chol is None:
            raise RuntimeError("EmpiricalFisher: call fit(policy, batch) first")
        if v.shape != (self.rows.num_params,):
            raise ValueError(f"expected a vector [{self.rows.num_params}], got {tuple(v.shape)}")

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """x = (F_emp + lambda I)^-1 g: g [P] -> x [P], in float64, returned in g's dtype."""
        self._check(g)
        return self._solve64(g.to(F64)).to(g.dtype)

    def _solve64(self, g: torch.Tensor) -> torch.Tensor:
        if self.form == "dense":
            return self._chol_solve(g)
        rows = self.rows
        return (g - rows.rmatvec(self._chol_solve(rows.matvec(g)))) / self.damping

    def fisher_matvec(self, v: torch.Tensor) -> torch.Tensor:
        """F_emp v (undamped): v [P] -> [P], float64."""
        self._check(v)
        v = v.to(F64)
        return self.matrix @ v if self.form == "dense" else self.rows.rmatvec(self.rows.matvec(v))

    def condition_number(self) -> float:
        """cond(F_emp + lambda I) = (lambda_max(F_emp) + lambda) / lambda_min(F_emp + lambda I).

        lambda_max by power iteration on the stored matrix (S S^T has F_emp's nonzero
        spectrum); lambda_min = lambda in the Gram form (N < P leaves F_emp a null space),
        else by inverse iteration through the Cholesky solve. Rayleigh quotients throughout.
        """
        null_space = self.form == "gram" and self.rows.num_rows < self.rows.num_params
        return damped_condition_number(
            self.matrix, self._solve64, self.damping, self.rows.num_params, null_space,
            self.cond_iters,
        )  # fmt: skip

    def diagnostics(self) -> dict[str, float]:
        if self.chol is None:
            return {}
        if math.isnan(self._cond):  # lazily: called after the skeleton's solve timer stops
            self._cond = self.condition_number()
        return {"fisher_cond": self._cond, "efisher_rows": float(self.rows.num_rows)}
