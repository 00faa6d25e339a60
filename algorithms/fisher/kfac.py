"""npg_kfac: Kronecker-factored Fisher per Linear layer (Martens & Grosse 2015; ACKTR).

For layer l with input abar = [a, 1] (bias folded in) and pre-activation gradient delta,
the block of F over vec([W | b]) (row-major) is E[(delta delta^T) (x) (abar abar^T)], which
K-FAC approximates by
    G (x) A,   A = mean_s abar abar^T,   G = sum of delta delta^T over rows (scaled rows)
    sampled  (default) delta = d log pi(a~|s) / dz, a~ ~ pi_theta_old drawn fresh: the true
             Fisher as ACKTR does (baselines acktr `surr_sampled`), not buffer actions
    analytic delta = d (mu_a / sigma_a) / dz for every action dim a (KFLR, Botev et al. 2017)
A and G are running averages (decay `kfac_stat_decay`, the first fit initialises them).
Damping is split between the factors (factored Tikhonov, Martens & Grosse section 6.3):
    (G + gamma_G I) (x) (A + gamma_A I),  gamma_A = pi sqrt(lambda), gamma_G = sqrt(lambda) / pi,
    pi^2 = (tr A / dim A) / (tr G / dim G),
inverted through eigh (torch.linalg):
    X = Q_G [(Q_G^T V Q_A) / ((e_G + gamma_G)(e_A + gamma_A)^T)] Q_A^T.
That is G (x) A + D with D = gamma_A G (x) I + gamma_G I (x) A + lambda I, not + lambda I:
`damping_matvec` applies D, so the fidelity diagnostic can measure the Kronecker
approximation against (F + D)^-1 g as well as against the common (F + lambda I)^-1 g.
The std vector's block is exact: diag(std_fisher) + lambda (no cross terms with the mean).
For a single linear layer with the analytic estimator, G = Sigma^-1 and G (x) A = F exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from npgbench.algorithms.fisher import CostArm, FisherEstimatorConfig, SampledEstimator
from npgbench.algorithms.fisher.rows import ScoreRows, score_rows
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch

F64 = torch.float64


@dataclass(frozen=True)
class KFACConfig(FisherEstimatorConfig):
    damping: float = 1e-2
    """lambda, split between the factors. 1e-2 is ACKTR's epsilon (baselines acktr_cont,
    ikostrikov KFACOptimizer damping)."""
    estimator: str = "sampled"
    """sampled (G from log pi of fresh actions, ACKTR) or analytic (exact G per action dim)."""
    kfac_stat_decay: float = 0.95
    """Running-average decay of A and G (0: current batch only). ACKTR's 0.99 averages over
    ~100 updates of ~320 samples (~32k); 0.95 keeps a similar sample window (~20 x 2048)
    with our batches, and is ACKTR's value-function decay."""

    COST_ARMS: ClassVar[dict[str, CostArm]] = {
        "kfac": CostArm(
            claim="per layer O(d^3) for layer width d (eigendecompositions) + O(R n) "
            "statistics; d ~ sqrt(n), so between O(n) and O(n^1.5)",
            expected_exponent="1-1.5",
            batch_exponent="1",  # the factor statistics; the eigh is independent of R
        )
    }

    def validate(self) -> None:
        super().validate()
        if not self.damping > 0:
            raise ConfigError("update.damping must be > 0 for npg_kfac (the factors are singular)")
        if not 0 <= self.kfac_stat_decay < 1:
            raise ConfigError("update.kfac_stat_decay must be in [0, 1)")

    def preconditioner(self, seed: int) -> KFAC:
        return KFAC(
            self.damping, self.estimator, torch.Generator().manual_seed(seed), self.kfac_stat_decay
        )


@dataclass
class KroneckerBlock:
    """One layer's eigendecompositions and split damping."""

    eig_a: torch.Tensor  # [d_in + 1]
    vec_a: torch.Tensor  # [d_in + 1, d_in + 1]
    eig_g: torch.Tensor  # [d_out]
    vec_g: torch.Tensor  # [d_out, d_out]
    gamma_a: float
    gamma_g: float

    def solve(self, v: torch.Tensor) -> torch.Tensor:
        """[d_out, d_in + 1] -> ((G + gamma_G) (x) (A + gamma_A))^-1 v, same shape."""
        inner = self.vec_g.T @ v @ self.vec_a
        inner = inner / (
            (self.eig_g + self.gamma_g)[:, None] * (self.eig_a + self.gamma_a)[None, :]
        )
        return self.vec_g @ inner @ self.vec_a.T

    def damping_term(self, v: torch.Tensor) -> torch.Tensor:
        """[d_out, d_in + 1] -> D v, D = (G + gamma_G) (x) (A + gamma_A) - G (x) A
        = gamma_A G (x) I + gamma_G I (x) A + lambda I: what the split damping adds to G (x) A."""
        g_v = self.vec_g @ (self.eig_g[:, None] * (self.vec_g.T @ v))
        v_a = ((v @ self.vec_a) * self.eig_a[None, :]) @ self.vec_a.T
        return self.gamma_a * g_v + self.gamma_g * v_a + self.gamma_a * self.gamma_g * v


@dataclass(frozen=True)
class KroneckerFit:
    """What KFAC.fit leaves for solve: the per-layer blocks of the running factors, the rows'
    layout (to split and join flat [P] vectors) and the std block's exact Fisher [A]."""

    blocks: list[KroneckerBlock]
    layout: ScoreRows
    std_fisher: torch.Tensor


def split_damping(a: torch.Tensor, g: torch.Tensor, damping: float) -> tuple[float, float]:
    """(gamma_A, gamma_G) with gamma_A gamma_G = damping, balanced by the factors' mean traces."""
    ratio = (a.trace() / a.shape[0]) / (g.trace() / g.shape[0])
    pi = math.sqrt(float(ratio)) if math.isfinite(float(ratio)) and float(ratio) > 0 else 1.0
    root = math.sqrt(damping)
    return pi * root, root / pi


class KFAC(SampledEstimator):
    """Block-diagonal Kronecker-factored (F + lambda I)^-1 with running-average factors."""

    def __init__(
        self,
        damping: float,
        estimator: str = "sampled",
        gen: torch.Generator | None = None,
        stat_decay: float = 0.95,
    ):
        super().__init__(damping, estimator, gen)
        self.stat_decay = stat_decay
        self.factors: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # (A, G) per layer
        self.fitted: KroneckerFit | None = None
        """None until the first fit() (the running factors are state; this is recomputed)."""

    def state_dict(self) -> dict:
        """The sampled-Fisher generator and the running factors (A, G) per layer; the
        eigendecompositions are recomputed from the factors at every fit."""
        factors = [[a.clone(), g.clone()] for a, g in self.factors or []]
        return {**super().state_dict(), "factors": factors if self.factors else None}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        factors = state["factors"]
        self.factors = None if factors is None else [(a.clone(), g.clone()) for a, g in factors]

    @staticmethod
    def batch_factors(rows: ScoreRows) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This batch's (A [d_in+1, d_in+1], G [d_out, d_out]) per layer, float64."""
        n = rows.state_rows
        return [
            (a[:n].T @ a[:n] / n, d.T @ d) for a, d in zip(rows.inputs, rows.grads, strict=True)
        ]

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None:
        rows = score_rows(policy, batch.obs, self.estimator, self.gen).to(F64)
        new = self.batch_factors(rows)
        if not all(torch.isfinite(a).all() and torch.isfinite(g).all() for a, g in new):
            raise FloatingPointError("non-finite K-FAC factors (running averages left unchanged)")
        if self.factors is None:
            self.factors = new
        else:
            rho = self.stat_decay
            self.factors = [
                (rho * a0 + (1 - rho) * a1, rho * g0 + (1 - rho) * g1)
                for (a0, g0), (a1, g1) in zip(self.factors, new, strict=True)
            ]
        self.fitted = KroneckerFit(
            [self._block(a, g) for a, g in self.factors],
            rows,
            policy.std_fisher().detach().to(F64),
        )

    def state(self) -> KroneckerFit:
        """The fitted solver; RuntimeError before the first fit()."""
        if self.fitted is None:
            raise RuntimeError("KFAC: call fit(policy, batch) before solving")
        return self.fitted

    @property
    def blocks(self) -> list[KroneckerBlock]:
        return self.state().blocks

    @property
    def layout(self) -> ScoreRows:
        return self.state().layout

    @property
    def std_fisher(self) -> torch.Tensor:
        """[A] diag of the std block's Fisher at the last fit."""
        return self.state().std_fisher

    def _block(self, a: torch.Tensor, g: torch.Tensor) -> KroneckerBlock:
        eig_a, vec_a = torch.linalg.eigh(a)
        eig_g, vec_g = torch.linalg.eigh(g)
        gamma_a, gamma_g = split_damping(a, g, self.damping)
        # eigenvalues of PSD factors can come out slightly negative in floating point
        return KroneckerBlock(
            eig_a.clamp(min=0), vec_a, eig_g.clamp(min=0), vec_g, gamma_a, gamma_g
        )

    def solve(self, g: torch.Tensor) -> torch.Tensor:
        """x [P] ~ (F + lambda I)^-1 g, block by block; the std block exactly."""
        fit = self.state()
        blocks, g_std = fit.layout.split(g.to(F64))
        x = [blk.solve(v) for blk, v in zip(fit.blocks, blocks, strict=True)]
        x_std = g_std / (fit.std_fisher + self.damping)
        return ScoreRows.join(x, x_std).to(g.dtype)

    def damping_matvec(self, v: torch.Tensor) -> torch.Tensor:
        """D v [P] of the damping model: solve() inverts G (x) A + D per layer, not G (x) A +
        lambda I (factored Tikhonov); the std block's D is lambda I. The fidelity diagnostic
        compares x with (F + D)^-1 g too, so the damping model is not charged to G (x) A."""
        fit = self.state()
        blocks, v_std = fit.layout.split(v.to(F64))
        d = [blk.damping_term(b) for blk, b in zip(fit.blocks, blocks, strict=True)]
        return ScoreRows.join(d, self.damping * v_std).to(v.dtype)

    def diagnostics(self) -> dict[str, float]:
        return {}
