"""npg_exact: the full dense Fisher, no structural approximation, solved directly in float64.

    x = (F + lambda I)^-1 g,   F = S^T S  (rows S from `rows.py`)
    sampled  (default) S_i = grad log pi(a_i|s_i) / sqrt(N), a_i ~ pi_theta_old fresh:
             F_hat = mean_i S_i S_i^T, an unbiased estimate of F with rank <= N
    analytic S = I^1/2 J / sqrt(B):  F = mean_s J^T I J exactly

Two equivalent solves, whichever costs fewer flops (R rows, P parameters, W row width):
    dense  F + lambda I [P, P], Cholesky; x = L^-T L^-1 g              ~ R P^2 + P^3 / 3
    Gram   Woodbury: (lambda I + S^T S)^-1 g = (g - S^T (lambda I + S S^T)^-1 S g) / lambda,
           S S^T [R, R] by the layer-factored product, never forming S    ~ R^2 W + R^3 / 3
For Hopper (P = 5.1k) and 2048 sampled rows the Gram form is a 2048 x 2048 Cholesky.
Memory is estimated from the policy's sizes when the run is resolved (and again before the
fit allocates anything); above `exact_max_memory_mb` the run is refused, naming npg_cg. `fisher_cond` = cond(F + lambda I) by power and
inverse iteration: lambda_max from below, lambda_min from above, so an estimate from below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from npgbench.algorithms.fisher import CostArm, FisherEstimatorConfig, SampledEstimator
from npgbench.algorithms.fisher.rows import ScoreRows, linear_layers, score_rows
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.config_checks import PolicyShape
from npgbench.harness.core.metric_rows import MetricRow, empty_row
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch

F64 = torch.float64
FORMS = ("auto", "dense", "gram")


@dataclass(frozen=True)
class ExactConfig(FisherEstimatorConfig):
    damping: float = 1e-2
    """lambda in (F + lambda I). Must be > 0: the sampled F has rank <= batch rows < P. 1e-2 is
    the Tikhonov damping of K-FAC/ACKTR (baselines, ikostrikov), the published value for a
    Fisher inverted directly; 0.1 (CG) also regularises a 10-step truncated solve, and rllab's
    1e-5 / mjrl's 1e-4 rely on that truncation."""
    fisher_samples_per_state: int = 1
    """Actions drawn per batch state for the sampled estimator (rows = batch * this)."""
    exact_max_memory_mb: float = 2048.0
    """Refuse (naming npg_cg) when the estimated float64 memory of the solve exceeds this;
    checked when the run is resolved, before anything is written."""
    exact_form: str = "auto"
    """Solve form: auto (whichever costs fewer flops), dense (P x P Cholesky) or gram
    (Woodbury, R x R); the same x up to rounding. `bench fisher-cost` times both."""

    COST_ARMS: ClassVar[dict[str, CostArm]] = {
        "exact_dense": CostArm(
            {"exact_form": "dense"},
            "O(n^3): dense Cholesky of the n x n Fisher (+ R n^2 to build it from R samples; "
            "the build dominates while n < 3R)",
            "2-3",
            dense_matrix=True,
            batch_exponent="0.5-1",  # R n^2 build, plus the R-independent n^3 / 3 Cholesky
        ),
        "exact_gram": CostArm(
            {"exact_form": "gram"},
            "Gram/Woodbury form: O(R^2 W + R^3) for R rows, W the summed layer widths "
            "(per-layer Gram factors): nearly flat in n at a fixed batch (not n^3)",
            "0-0.5",
            batch_exponent="2-3",  # R^2 W for S S^T, R^3 / 3 for its Cholesky
        ),
    }

    def validate(self) -> None:
        super().validate()
        if not self.damping > 0:
            raise ConfigError(
                "update.damping must be > 0 for npg_exact (the sampled Fisher "
                "is rank-deficient and the Gram form divides by it)"
            )
        if self.fisher_samples_per_state < 1 or not self.exact_max_memory_mb > 0:
            raise ConfigError(
                "update.fisher_samples_per_state >= 1 and update.exact_max_memory_mb > 0 required"
            )
        if self.exact_form not in FORMS:
            raise ConfigError(f"update.exact_form {self.exact_form!r}: valid: {', '.join(FORMS)}")

    def check_shape(self, shape: PolicyShape, batch_size: int) -> None:
        """The memory limit, from the policy's sizes alone (the fit checks it again)."""
        rows = num_rows(self.estimator, batch_size, shape.act_dim, self.fisher_samples_per_state)
        check_memory(
            f"npg_exact ({self.estimator}", rows, shape.num_params, row_width(shape.layer_sizes),
            self.exact_form, self.exact_max_memory_mb,
        )  # fmt: skip

    def preconditioner(self, seed: int) -> ExactFisher:
        return ExactFisher(
            self.damping,
            self.estimator,
            torch.Generator().manual_seed(seed),
            self.fisher_samples_per_state,
            self.exact_max_memory_mb,
            form=self.exact_form,
        )


def row_width(layer_sizes: tuple[int, ...]) -> int:
    """W: the summed widths (in + 1 + out) of the mean MLP's Linear layers over layer_sizes
    [obs, *hidden, act], plus the std block's act columns."""
    pairs = zip(layer_sizes[:-1], layer_sizes[1:])
    return sum(n_in + 1 + n_out for n_in, n_out in pairs) + layer_sizes[-1]


def num_rows(estimator: str, batch_size: int, act_dim: int, samples_per_state: int) -> int:
    """R: rows of S, B * A + A analytic (mean and std blocks), B * k sampled."""
    if estimator == "analytic":
        return batch_size * act_dim + act_dim
    return batch_size * samples_per_state


def check_memory(
    label: str,
    rows: int,
    num_params: int,
    width: int,
    form: str,
    max_memory_mb: float,
    limit_key: str = "update.exact_max_memory_mb",
    advice: str = "use npg_cg (matrix-free Fisher-vector products) or raise the limit",
) -> str:
    """The solve form `plan` picks; one-line ConfigError when it needs > max_memory_mb.

    label names the solve in the message, e.g. "npg_exact (sampled" -> "npg_exact (sampled,
    gram form) needs ~N MB ..."; limit_key and advice say which setting to change."""
    chosen, need = plan(rows, num_params, width, form)
    if need > max_memory_mb * 2**20:
        raise ConfigError(
            f"{label}, {chosen} form) needs ~{need / 2**20:.0f} MB for {rows} rows x "
            f"{num_params} parameters, above {limit_key}={max_memory_mb:.0f}; {advice}"
        )
    return chosen


def plan(num_rows: int, num_params: int, width: int, form: str = "auto") -> tuple[str, float]:
    """('gram' or 'dense', estimated peak float64 bytes) for R rows, P params, row width W.

    form 'auto' picks the one with fewer flops; 'gram' or 'dense' forces it (benchmarks, tests).
    """
    gram_flops = num_rows**2 * width + num_rows**3 / 3
    dense_flops = num_rows * num_params**2 + num_params**3 / 3
    rows_bytes = 8.0 * num_rows * width * 1.5  # float64 rows + the float32 originals
    if form == "gram" or (form == "auto" and gram_flops <= dense_flops):
        return "gram", rows_bytes + 8.0 * 2 * num_rows**2  # S S^T and its Cholesky factor
    chunk = min(num_rows, 1024)
    return "dense", rows_bytes + 8.0 * (2 * num_params**2 + 2 * chunk * num_params)


def damped_condition_number(
    matrix: torch.Tensor,
    solve64,
    damping: float,
    num_params: int,
    null_space: bool,
    iters: int = 30,
) -> float:
    """cond(F + lambda I) of a Fisher stored as `matrix` (F [P, P], or the Gram S S^T [R, R],
    which shares F's nonzero spectrum), float64.

    lambda_max by power iteration on `matrix`; lambda_min = lambda when F has a null space
    (`null_space`: the Gram form with R < P), else by inverse iteration through
    `solve64(u [P]) = (F + lambda I)^-1 u`. Rayleigh quotients, seeded (deterministic).
    """
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(matrix.shape[0], generator=gen, dtype=F64)
    for _ in range(iters):
        v = matrix @ v
        v /= v.norm()
    top = float(v @ matrix @ v) + damping
    if null_space:
        return top / damping
    u = torch.randn(num_params, generator=gen, dtype=F64)
    for _ in range(iters):
        u = solve64(u)
        u /= u.norm()
    return top * float(u @ solve64(u))


@dataclass(frozen=True)
class CholeskyFit:
    """What ExactFisher.fit leaves for solve: the form it chose, the float64 rows, the stored
    matrix (F [P, P] dense, or S S^T [R, R] Gram) and the Cholesky factor of matrix + lambda I."""

    form: str
    rows: ScoreRows
    matrix: torch.Tensor
    chol: torch.Tensor


class ExactFisher(SampledEstimator):
    """Dense (F + lambda I)^-1 by Cholesky in float64, dense or Gram form."""

    def __init__(
        self,
        damping: float,
        estimator: str = "sampled",
        gen: torch.Generator | None = None,
        samples_per_state: int = 1,
        max_memory_mb: float = 2048.0,
        cond_iters: int = 30,
        form: str = "auto",
    ):
        if not damping > 0:
            raise ValueError("ExactFisher needs damping > 0")
        super().__init__(damping, estimator, gen, samples_per_state)
        self.requested_form, self.max_memory_mb, self.cond_iters = form, max_memory_mb, cond_iters
        self.fitted: CholeskyFit | None = None
        """None until fit() succeeds (and again after a failed one)."""
        self._cond = float("nan")

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        self.fitted, self._cond = None, float("nan")
        layers = linear_layers(policy)
        sizes = (layers[0].in_features, *(m.out_features for m in layers))
        n_rows = num_rows(self.estimator, len(batch), sizes[-1], self.samples_per_state)
        form = check_memory(
            f"npg_exact ({self.estimator}", n_rows, policy.num_params(), row_width(sizes),
            self.requested_form, self.max_memory_mb,
        )  # fmt: skip
        rows = score_rows(policy, batch.obs, self.estimator, self.gen, self.samples_per_state)
        rows = rows.to(F64)
        matrix = rows.gram() if form == "gram" else rows.fisher()
        damped = matrix.clone()
        damped.diagonal().add_(self.damping)
        chol, info = torch.linalg.cholesky_ex(damped)
        if info.item() != 0:
            raise FloatingPointError(f"Cholesky of the damped Fisher failed ({form} form)")
        self.fitted = CholeskyFit(form, rows, matrix, chol)

    def state(self) -> CholeskyFit:
        """The fitted solver; RuntimeError when fit() has not succeeded."""
        if self.fitted is None:
            raise RuntimeError("ExactFisher: call fit(policy, batch) before solving")
        return self.fitted

    @property
    def form(self) -> str:
        """The solve form of the last fit: 'dense' or 'gram'."""
        return self.state().form

    @property
    def rows(self) -> ScoreRows:
        """The float64 score rows of the last fit."""
        return self.state().rows

    @property
    def matrix(self) -> torch.Tensor:
        """F [P, P] (dense form) or S S^T [R, R] (Gram form) of the last fit, undamped."""
        return self.state().matrix

    def _chol_solve(self, chol: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # two triangular solves: much faster than cholesky_solve for one right-hand side
        y = torch.linalg.solve_triangular(chol, b[:, None], upper=False)
        return torch.linalg.solve_triangular(chol.T, y, upper=True)[:, 0]

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """x = (F + lambda I)^-1 g: g [P] -> x [P] (computed in float64, returned in g's dtype)."""
        return self._solve64(g.to(F64)).to(g.dtype)

    def _solve64(self, g: torch.Tensor) -> torch.Tensor:
        fit = self.state()
        if fit.form == "dense":
            return self._chol_solve(fit.chol, g)
        rows = fit.rows
        return (g - rows.rmatvec(self._chol_solve(fit.chol, rows.matvec(g)))) / self.damping

    def fisher_matvec(self, v: torch.Tensor) -> torch.Tensor:
        """F v (undamped) of the fitted estimate, float64."""
        fit = self.state()
        if fit.form == "dense":
            return fit.matrix @ v
        return fit.rows.rmatvec(fit.rows.matvec(v))

    def dense_fisher(self) -> torch.Tensor:
        """F [P, P] of the fitted estimate, undamped (formed here once in the Gram form)."""
        fit = self.state()
        return fit.matrix if fit.form == "dense" else fit.rows.fisher()

    def condition_number(self) -> float:
        """cond(F + lambda I) = (lambda_max(F) + lambda) / lambda_min(F + lambda I).

        lambda_max by power iteration on the stored matrix (S S^T shares F's nonzero spectrum);
        lambda_min = lambda when the Gram form has fewer rows than parameters (F then has a
        null space), else by inverse iteration through the Cholesky solve. Rayleigh quotients.
        """
        fit = self.state()
        null_space = fit.form == "gram" and fit.rows.num_rows < fit.rows.num_params
        return damped_condition_number(
            fit.matrix, self._solve64, self.damping, fit.rows.num_params, null_space,
            self.cond_iters,
        )  # fmt: skip

    def diagnostics(self) -> MetricRow:
        if self.fitted is not None and self._cond != self._cond:  # lazily, outside the timers
            self._cond = self.condition_number()
        row = empty_row("exact")
        row["fisher_cond"] = self._cond
        return row
