"""Backtracking line search: TRPO (Schulman et al. 2015) = the npg_cg direction + this search.

The registry entry `trpo` is npg_cg's config with `max_backtracks=10`; with 0 it is TNPG
(rllab: TNPG = TRPO without the search). The natural skeleton computes the full step
beta x (beta = sqrt(2 delta / x^T F x)) and hands it here:

    for k = 0 .. max_backtracks - 1:
        theta = theta_old + backtrack_coeff^k beta x
        accept the first k with KL(pi_old || pi_theta) <= kl_delta and L(theta) > L(theta_old)
    otherwise restore theta_old and record the failure (accepted = False).

Both conditions are checked (joschu/modular_rl#29 checked only improvement); non-finite KL
or surrogate counts as a rejection, and the parameters are restored on failure
(thu-ml/tianshou#1287). The KL direction is the paper's, KL(old || new).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LineSearchResult:
    accepted: bool
    """A step fraction met both conditions; False: theta_old restored."""
    backtracks: int
    """Shrinks before the accepted step (max_backtracks on failure)."""
    fraction: float
    """backtrack_coeff^backtracks of the accepted step, 0 on failure."""


def backtracking_line_search(
    try_step: Callable[[float], tuple[float, float]],
    restore: Callable[[], None],
    kl_delta: float,
    max_backtracks: int = 10,
    coeff: float = 0.8,
) -> LineSearchResult:
    """Shrink the step geometrically until it is acceptable.

    try_step(fraction) sets theta = theta_old + fraction * full_step and returns
    (kl, improvement) there; restore() puts theta_old back.
    """
    for k in range(max_backtracks):
        fraction = coeff**k
        kl, improvement = try_step(fraction)
        if math.isfinite(kl) and math.isfinite(improvement) and kl <= kl_delta and improvement > 0:
            return LineSearchResult(True, k, fraction)
    restore()
    return LineSearchResult(False, max_backtracks, 0.0)
