"""The stable API for npg-bench plugins: everything a variant from another package needs,
in one import. Names here keep their meaning across minor versions; modules under
`npgbench.harness` and `npgbench.algorithms.*` are internal and may move.

    from npgbench.plugin import Variant, PreconditionerConfig, make_natural, ...

Registering: declare the Variant under the entry-point group ENTRY_POINT_GROUP in your
pyproject.toml (`npg_mine = "my_package:VARIANT"`); the entry point's name is the variant's.
`algos = "all"` in a suite then includes it, and `npgbench check-plugin npg_mine` (or
`pytest --pyargs npgbench.testing`) runs the conformance tests on it.

A natural-gradient variant (Variant(description, MyConfig, make_natural)) supplies:

    MyConfig(PreconditionerConfig)   frozen dataclass, a docstring under every field (they
                                     are `--set update.KEY=...` keys); validate() raises
                                     ConfigError; check_shape(shape, batch_size) may refuse a
                                     policy size before anything is written (check_memory)
    MyConfig.preconditioner(seed)    -> an object with the Preconditioner protocol below;
                                     `seed` seeds any sampling it does (SampledEstimator)

Call order, once per update, all at theta_old (pi_old detached):

    fit(policy, batch)      curvature statistics from the batch (Batch: obs [B, O],
                            actions [B, A], advantages [B], ...)
    solve(g)                g [P] -> x [P] ~ (F + damping I)^-1 g
    diagnostics()           -> {column: float} for the metrics row, read right after solve
                            (so its cost is not timed as the solve); declare any column of
                            your own in Variant.metrics (Metric), or it is logged as other/...
    state_dict() / load_state_dict(state)
                            what a resumed run needs (a generator, running averages); {} when
                            everything is refitted every update
    damping_matvec(v)       optional: D v when the damping model is not damping * I

Dtype contract: the policy's parameters and g are float32; solve returns x in g's dtype.
Do the linear algebra in float64 where it matters (rows.to(torch.float64), Cholesky) and
cast back. Raise FloatingPointError (or torch.linalg.LinAlgError) on a numerical failure:
the update is then skipped and recorded (`skipped`, `skip_reason`), never hidden; never
return NaN silently, never replace NaN by zero.

Score rows: `rows_at(policy, obs, actions)` gives the per-sample scores
s_i = grad log pi(a_i | s_i) as ScoreRows, stored per Linear layer (F = S^T S):
`matvec`, `rmatvec`, `gram`, `fisher`, `to(dtype)`, and `split(v)` / `ScoreRows.join(blocks,
std)` between a flat [P] vector and per-layer [d_out, d_in + 1] blocks ([W | b]) plus the std
part [A], in the policy's parameter order. `sample_actions` draws fresh actions from
pi_theta_old (the true Fisher; the buffer's own actions give the empirical Fisher).
"""

from __future__ import annotations

from npgbench.algorithms import Variant
from npgbench.algorithms.fisher import (
    CostArm,
    FisherEstimatorConfig,
    Preconditioner,
    PreconditionerConfig,
    SampledEstimator,
    sample_actions,
)
from npgbench.algorithms.fisher.exact import check_memory, damped_condition_number, row_width
from npgbench.algorithms.fisher.rows import ScoreRows, linear_layers, rows_at
from npgbench.algorithms.natural import make_natural
from npgbench.algorithms.registry import ENTRY_POINT_GROUP
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.config_checks import PolicyShape
from npgbench.harness.core.metrics import Metric
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.core.rollout import Batch

API_VERSION = 1
"""Bumped when a name here changes meaning or goes away."""

__all__ = [
    "API_VERSION",
    "Batch",
    "ConfigError",
    "CostArm",
    "ENTRY_POINT_GROUP",
    "FisherEstimatorConfig",
    "GaussianPolicy",
    "Metric",
    "PolicyShape",
    "Preconditioner",
    "PreconditionerConfig",
    "SampledEstimator",
    "ScoreRows",
    "Variant",
    "check_memory",
    "damped_condition_number",
    "linear_layers",
    "make_natural",
    "row_width",
    "rows_at",
    "sample_actions",
]
