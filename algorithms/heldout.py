"""Held-out measures of a natural-gradient step (diagnostics.heldout_every = K).

The step a variant takes is judged in-sample by beta g^T x on the batch that produced g and x;
for any exact preconditioner that exceeds the plain gradient's by Cauchy-Schwarz in the F inner
product, whether or not the direction generalises. Every K updates this diagnostic splits the
batch into two halves (even rows A, odd rows B: with an even number of envs, flattened time-major,
a split by environment), fits the same preconditioner on A alone and takes its step there:

    x_A  = P_A^-1 g_A                      P fitted on A, from the state it had before this update
    s_A  = beta_A x_A,  beta_A = sqrt(2 kl_delta / x_A^T F_A x_A)   (step rule kl; fixed: fixed_step)
    step_gain_insample = g_A^T s_A         first-order surrogate gain on the states it came from
    step_gain_heldout  = g_B^T s_A         the same step on states it never saw
    step_kl_insample / step_kl_heldout     mean KL(pi_old || pi_old + s_A) on A / on B

Diagnostic only: the preconditioner's state (K-FAC's running factors, a sampled estimator's
action generator) is saved before and restored after, and the policy is put back, so the update
itself and every later random draw are bit-identical with the diagnostic off
(tests/test_heldout.py). A preconditioner without state_dict() (a plugin that keeps no
checkpoints) is not measured: its columns stay NaN. The half-batch direction is noisier than the
full-batch one; both halves have the same size, so in-sample and held-out are comparable.
"""

from __future__ import annotations

import copy
import math

import torch
from npgbench.algorithms.common import mean_kl, surrogate
from npgbench.algorithms.fisher import NaturalConfig, Preconditioner
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.harness.core.config import DiagnosticsConfig
from npgbench.harness.core.policy import (
    GaussianPolicy,
    flat_grad,
    flat_params,
    gaussian_kl,
    set_flat_params,
)
from npgbench.harness.core.rollout import Batch


def halves(batch: Batch) -> tuple[Batch, Batch]:
    """(even rows, odd rows) of a batch of B >= 2 rows: disjoint, sizes ceil(B/2), floor(B/2)."""
    if len(batch) < 2:
        raise ValueError(f"a held-out split needs >= 2 rows, got {len(batch)}")
    return batch.rows(slice(0, None, 2)), batch.rows(slice(1, None, 2))


class HeldOut:
    """Every `every` updates, the step's gain and KL in-sample (half A) and held out (half B)."""

    def __init__(self, every: int):
        self.every = every

    @classmethod
    def build(cls, diagnostics: DiagnosticsConfig | None) -> HeldOut | None:
        if diagnostics is None or diagnostics.heldout_every <= 0:
            return None
        return cls(diagnostics.heldout_every)

    def due(self, update_index: int) -> bool:
        return update_index % self.every == 0

    def measure(
        self, policy: GaussianPolicy, batch: Batch, precond: Preconditioner, cfg: NaturalConfig
    ) -> dict[str, float]:
        """The step_* columns of one update (declared in harness/core/metrics.py, writer
        "natural", only when "held-out"), measured at theta_old, for the natural row to take
        (it refuses any other key); {} when the step cannot be measured (the row keeps NaN).
        Policy and precond are left as found."""
        save = getattr(precond, "state_dict", None)
        if save is None:
            return {}
        half_a, half_b = halves(batch)
        params = policy.all_params()
        theta_old = flat_params(params)
        g_a = flat_grad(surrogate(policy, half_a), params)
        g_b = flat_grad(surrogate(policy, half_b), params)
        state = copy.deepcopy(save())
        try:
            precond.fit(policy, half_a)
            x_a = precond.solve(g_a).detach()
        except (FloatingPointError, torch.linalg.LinAlgError):
            return {}
        finally:
            precond.load_state_dict(state)
        if not x_a.shape == g_a.shape == (policy.num_params(),):  # a plugin's wrong shape
            return {}
        quad = float(x_a @ FisherOperator(policy, half_a.obs)(x_a).detach())
        if not (math.isfinite(quad) and quad > 0):
            return {}
        beta = math.sqrt(2 * cfg.kl_delta / quad) if cfg.step_rule == "kl" else cfg.fixed_step
        step = beta * x_a
        try:
            set_flat_params(params, theta_old + step)
            with torch.no_grad():
                kl_a, kl_b = float(mean_kl(policy, half_a)), float(mean_kl(policy, half_b))
        finally:
            set_flat_params(params, theta_old)
        return {
            "step_gain_insample": float(g_a @ step),
            "step_gain_heldout": float(g_b @ step),
            "step_kl_insample": kl_a,
            "step_kl_heldout": kl_b,
        }


def fresh_state_kl(policy: GaussianPolicy, theta_before: torch.Tensor, obs: torch.Tensor) -> float:
    """mean_s KL(pi_{theta_before} || pi_theta) over obs [N, O], states sampled after the step
    (the next batch), with theta the policy's current parameters; the policy is left as found."""
    params = policy.all_params()
    theta_now = flat_params(params)
    with torch.no_grad():
        try:
            set_flat_params(params, theta_before)
            mean_old, std_old = policy(obs)
        finally:
            set_flat_params(params, theta_now)
        mean_new, std_new = policy(obs)
        return float(gaussian_kl(mean_old, std_old, mean_new, std_new).mean())
