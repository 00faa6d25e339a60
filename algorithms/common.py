"""Pieces every policy update shares: surrogate, KL to pi_old, entropy, update statistics.

All functions take the `Batch` of harness.core.rollout; pi_old is the batch's detached
(old_mean, old_std), so KL(pi_old || pi_theta) is exactly zero at theta_old and its Hessian
there is the Fisher (ikostrikov/pytorch-trpo#8; dongminlee94/deep_rl#5: the KL of the live
policy with itself has zero gradient and Hessian).
"""

from __future__ import annotations

import torch
from npgbench.harness.core.metric_rows import MetricRow
from npgbench.harness.core.policy import (
    GaussianPolicy,
    flat_params,
    gaussian_entropy,
    gaussian_kl,
    set_flat_params,
)
from npgbench.harness.core.rollout import Batch


def surrogate(policy: GaussianPolicy, batch: Batch) -> torch.Tensor:
    """L(theta) = mean(pi_theta(a|s) / pi_old(a|s) * A): scalar; its gradient at theta_old is g."""
    ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.log_probs)
    return (ratio * batch.advantages).mean()


def mean_kl(policy: GaussianPolicy, batch: Batch) -> torch.Tensor:
    """mean_s KL(pi_old(.|s) || pi_theta(.|s)): scalar, zero with zero gradient at theta_old."""
    mean, std = policy(batch.obs)
    return gaussian_kl(batch.old_mean, batch.old_std, mean, std).mean()


def restore_if_invalid(policy: GaussianPolicy, theta_old: torch.Tensor) -> str:
    """After a step: if the policy is invalid, write theta_old [P] back and return the reason
    (recorded as skip_reason; a NaN is never carried on or zeroed). '' when the step stands."""
    reason = policy.invalid_reason()
    if reason:
        set_flat_params(policy.all_params(), theta_old)
    return reason


def snapshot(policy: GaussianPolicy) -> torch.Tensor:
    """theta_old [P], to restore with restore_if_invalid."""
    return flat_params(policy.all_params())


@torch.no_grad()
def policy_stats(policy: GaussianPolicy, batch: Batch, row: MetricRow) -> MetricRow:
    """Write kl (measured after the step) and entropy, the "update" columns every variant
    records, into an updater's row (harness/core/metric_rows.empty_row); returns the row."""
    row.update(kl=float(mean_kl(policy, batch)), entropy=float(gaussian_entropy(policy.std())))
    return row
