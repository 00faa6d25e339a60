"""Preconditioners of the natural-gradient family, and the step settings they all share.

A preconditioner approximates the Fisher F of the policy at theta_old and applies its damped
inverse. F is the Hessian of mean_s KL(pi_old(.|s) || pi_theta(.|s)) at theta_old with
pi_old detached, which for the Gaussian head is the Gauss-Newton form

    F = mean_s J(s)^T I(s) J(s),   J(s) = d(mu(s), sigma) / d theta,
    I(s) = diag(1 / sigma^2)  for mu,   diag(2 / sigma^2)  for sigma

(`products.py`). Every preconditioner follows one protocol:

    fit(policy, batch)   curvature statistics at theta_old (pi_old detached)
    solve(g [P])         x [P] ~ (F + damping I)^-1 g (the skeleton skips the update, naming
                         the preconditioner, when x is not [P])
    diagnostics()        dict of floats for the metrics row (cg_residual, fisher_cond, ...)
    damping_matvec(v)    optional: D v [P] when the solve's damping model F_approx + D is not
                         F_approx + damping I (K-FAC's factored damping); the fidelity
                         diagnostic then also compares x with (F + D)^-1 g

One file per approximation: identity (vanilla), exact (dense, direct solve), diagonal, kfac,
cg (conjugate gradient on Fisher-vector products). The variant config of each lives in its
file and extends `PreconditionerConfig` (the step settings every variant of the family
shares, plus `damping`), or `FisherEstimatorConfig` when it also picks the sampled or analytic
estimator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.config_checks import PolicyShape
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch

STEP_RULES = ("kl", "fixed")
ESTIMATORS = ("sampled", "analytic")


class Preconditioner(Protocol):
    damping: float
    """lambda of the damped solve; the step rule's damped_quad option reads it."""

    def fit(self, policy: GaussianPolicy, batch: Batch) -> None: ...

    def solve(self, g: torch.Tensor) -> torch.Tensor: ...

    def diagnostics(self) -> dict[str, float]: ...

    def state_dict(self) -> dict:
        """What a resumed run needs to continue bit-identically (a sampling generator, K-FAC's
        running factors); {} when everything is refitted every update."""
        ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass(frozen=True)
class NaturalConfig:
    """Step settings shared by every natural-gradient variant (the direction is the variant's)."""

    kl_delta: float = 0.01
    """KL budget delta: step rule kl takes beta = sqrt(2 delta / x^T F x); the line search
    accepts KL <= delta (TRPO paper, baselines, spinningup: 0.01)."""
    step_rule: str = "kl"
    """kl (equal predicted KL for every variant) or fixed (beta = fixed_step, Tianshou NPG)."""
    fixed_step: float = 0.1
    """beta of the fixed step rule (Tianshou NPG actor-step-size 0.1)."""
    damped_quad: bool = False
    """Step rule kl with x^T (F + damping I) x, as baselines, spinningup and Tianshou TRPO do.
    False (default): x^T F x, the same F for every variant, so predicted KL is the real
    second-order KL and damping changes only the direction."""
    max_backtracks: int = 0
    """Backtracking line-search trials on top of the step (0: none, plain NPG; trpo: 10)."""
    backtrack_coeff: float = 0.8
    """Shrink factor of each backtrack (TRPO, spinningup, Tianshou: 0.8)."""

    def validate(self) -> None:
        checks = [
            (self.kl_delta > 0, "update.kl_delta must be > 0"),
            (
                self.step_rule in STEP_RULES,
                f"update.step_rule {self.step_rule!r}: valid: fixed, kl",
            ),
            (self.fixed_step > 0, "update.fixed_step must be > 0"),
            (self.max_backtracks >= 0, "update.max_backtracks must be >= 0"),
            (0 < self.backtrack_coeff < 1, "update.backtrack_coeff must be in (0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class CostArm:
    """One configuration `npgbench bench fisher-cost` times, and the cost claimed for it."""

    overrides: dict[str, Any] = field(default_factory=dict)
    """Config fields set for the benchmark (e.g. npg_exact's solve form)."""
    claim: str = ""
    """The claimed cost per update, in words (shown beside the fitted exponent)."""
    expected_exponent: str = ""
    """The claimed exponent k of seconds ~ n^k, or a range such as "1-1.5"."""
    dense_matrix: bool = False
    """Forms the dense n x n Fisher (n^2 memory): skipped above --dense-max-params."""
    batch_exponent: str = ""
    """The claimed exponent k of seconds ~ R^k in the batch rows R at a fixed n (the
    batch-size sweep of `bench update-cost`), or a range."""


@dataclass(frozen=True)
class PreconditionerConfig(NaturalConfig):
    """The config of a natural-gradient variant: the shared step settings, the damping every
    Fisher variant has, and the preconditioner it builds. Subclass it (one file per
    approximation) and register a Variant with `make=make_natural`."""

    damping: float = 1e-2
    """lambda in (F + lambda I); each variant sets its own default and documents why."""

    COST_ARMS: ClassVar[dict[str, CostArm]] = {}
    """Arms of `npgbench bench fisher-cost` (label -> CostArm); empty: one arm named after the
    variant, at its defaults, with no claimed cost."""

    def validate(self) -> None:
        super().validate()
        if not self.damping >= 0:
            raise ConfigError(f"update.damping must be >= 0, got {self.damping}")

    def preconditioner(self, seed: int) -> Preconditioner:
        """A fresh preconditioner; `seed` seeds any sampling it does."""
        raise NotImplementedError(f"{type(self).__name__} must define preconditioner(seed)")

    def check_shape(self, shape: PolicyShape, batch_size: int) -> None:
        """Refuse (ConfigError) a policy/batch size this preconditioner cannot handle; called
        when the run is resolved, before anything is written. Default: every size is fine."""


@dataclass(frozen=True)
class FisherEstimatorConfig(PreconditionerConfig):
    """A preconditioner built from score rows, sampled or analytic (algorithms/fisher/rows.py)."""

    estimator: str = "sampled"
    """sampled (scores of fresh actions from pi_theta_old) or analytic (J^T I J)."""

    def validate(self) -> None:
        super().validate()
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"update.estimator {self.estimator!r}: valid: analytic, sampled")


class SampledEstimator:
    """Base of the preconditioners built from score rows (npg_exact, npg_diag, npg_kfac): the
    damping, the estimator (sampled or analytic), the actions drawn per state, and the action
    generator of the sampled estimator, their state between updates, checkpointed so that a
    resumed run draws the same actions (everything else they hold is refitted every update)."""

    def __init__(
        self,
        damping: float,
        estimator: str = "sampled",
        gen: torch.Generator | None = None,
        samples_per_state: int = 1,
    ):
        self.damping, self.estimator, self.samples_per_state = damping, estimator, samples_per_state
        self.gen = gen if gen is not None else torch.Generator().manual_seed(0)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])


def sample_actions(
    policy: GaussianPolicy, obs: torch.Tensor, gen: torch.Generator, samples_per_state: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh actions a ~ pi_theta(.|s) at the batch states, never the buffer's actions.

    Scores of buffer actions give the empirical Fisher (Kunstner et al. 2019), not F.
    obs [B, O] -> (obs repeated [B*k, O], actions [B*k, A]) with k = samples_per_state.
    """
    with torch.no_grad():
        obs_k = obs.repeat(samples_per_state, 1)
        mean, std = policy(obs_k)
        noise = torch.randn(mean.shape, generator=gen, dtype=mean.dtype)
        return obs_k, mean + std * noise
