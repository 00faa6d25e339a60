"""The metrics.parquet schema: every column a run writes, declared once.

Each `Metric` names one column of a run's metrics.parquet (one row per iteration) with its
meaning, unit, dtype, writer, the condition under which it is present, and its W&B history
key. Rows are built from these declarations (harness/core/metric_rows.py:
`empty_row`, and COLUMN_ORDER, the file's column order). The W&B mirror (harness/tracking/wandb_keys.py), analysis (analysis/data/load.py), `npgbench list
--metrics`, the README's column table and the tests read it from here. The column names are
fixed: the committed results dataset (docs/data) depends on them.

A variant may declare columns of its own (`npgbench.algorithms.Variant.metrics`, say a
plugin preconditioner's diagnostics()); `with_extra` adds them to these, refusing a name or
W&B key that is already declared. Columns nobody declares are still written and analysed,
and the W&B mirror logs them as other/<column>.

Standard library only: analysis imports it without torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

STEP_KEY = "global_step"
"""The x axis of every W&B chart (CleanRL's name); it carries metrics.parquet's `step`."""

DTYPES = ("int64", "float64", "bool", "str")
"""Column dtypes as pandas reads metrics.parquet (str: text; NaN only in float columns)."""

UNITS = {
    "count": "a whole number",
    "env steps": "environment transitions, summed over the sampler's envs",
    "s": "wall-clock seconds",
    "cpu s": "CPU seconds of the run's thread (time.thread_time)",
    "return": "undiscounted episode return (sum of rewards)",
    "return^2": "squared discounted return (the value regression's target, squared)",
    "nats": "KL divergence or entropy, natural log",
    "1": "dimensionless: a ratio, cosine, norm or step length in parameter space",
    "flag": "True / False",
    "text": "a string, empty when there is nothing to say",
}
"""The units of the declared columns (a variant's own columns may name others)."""

WRITERS = {
    "runner": "harness/runner.py: the loop (sampling, evaluation, timers, progress)",
    "value fit": "harness/core/value.py: ValueFitter, after the policy step, every variant",
    "update": "every policy updater (algorithms/common.py policy_stats after the step; each "
    "row starts with skipped / skip_reason at False / '', harness/core/metric_rows.py)",
    "natural": "algorithms/natural.py: the natural-gradient skeleton (npg_*, trpo, vanilla "
    "step_rule sgd or kl, plugins built on make_natural)",
    "vanilla": "algorithms/vanilla.py: VanillaUpdater (vanilla, step_rule adam)",
    "ppo": "algorithms/ppo.py: PPOUpdater",
    "cg": "algorithms/fisher/cg.py: diagnostics() of the conjugate-gradient preconditioner "
    "(npg_cg, trpo)",
    "exact": "algorithms/fisher/exact.py: diagnostics() of the dense preconditioner (npg_exact)",
}
"""Who writes the declared columns (a variant's own columns name the variant)."""

CONDITIONS = {
    "": "whenever one of the column's writers runs",
    "eval.sampled": "with eval.sampled = true",
    "line search": "with a line search, update.max_backtracks > 0 (trpo)",
    "fidelity": "with diagnostics.fidelity_every > 0 (NaN on the updates between)",
    "held-out": "with diagnostics.heldout_every > 0 (NaN on the updates between)",
    "value fit undone": "in runs where a value fit was undone, on every row (False / '' on the "
    "others)",
}
"""When a declared column is present, besides having a writer in the run."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WANDB_KEY = re.compile(r"^[A-Za-z0-9_]+/[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class Metric:
    """One metrics.parquet column."""

    name: str
    """The column name (lower_snake_case; fixed once runs exist)."""
    meaning: str
    """One line: what the value is."""
    unit: str
    """Its unit, a key of UNITS for the declared columns."""
    writers: tuple[str, ...]
    """Who writes it: keys of WRITERS for the declared columns, the variant's name for a
    variant's own (a single string is taken as one writer)."""
    wandb: str | None
    """W&B history key, "section/name" (None: not mirrored, e.g. text)."""
    dtype: str = "float64"
    """One of DTYPES."""
    when: str = ""
    """A key of CONDITIONS: present only under that condition ("" whenever a writer runs)."""

    def __post_init__(self) -> None:
        if isinstance(self.writers, str):
            object.__setattr__(self, "writers", (self.writers,))
        problems = []
        if not _NAME.match(self.name):
            problems.append("name must be lower_snake_case")
        if self.dtype not in DTYPES:
            problems.append(f"dtype {self.dtype!r}: valid: {', '.join(DTYPES)}")
        if not self.writers or not self.meaning.strip() or not self.unit.strip():
            problems.append("meaning, unit and writers must be given")
        if self.wandb is not None and not (
            self.wandb == STEP_KEY
            or (_WANDB_KEY.match(self.wandb) and not self.wandb.startswith("other/"))
        ):
            problems.append(f"W&B key {self.wandb!r} is not 'section/name' outside other/")
        if problems:
            raise ValueError(f"metric {self.name!r}: " + "; ".join(problems))

    @property
    def section(self) -> str:
        """The W&B section ("charts", "losses", ...; "" for the x axis or no key)."""
        return self.wandb.split("/", 1)[0] if self.wandb and "/" in self.wandb else ""


def _m(name, meaning, unit, writers, wandb, dtype="float64", when="") -> Metric:
    return Metric(name, meaning, unit, writers, wandb, dtype, when)


METRICS: tuple[Metric, ...] = (
    # progress and the x axis (W&B: RL-Zoo / SB3's time/iterations, time/time_elapsed)
    _m("iteration", "0-based index of the update", "count", "runner", "time/iterations", "int64"),
    _m(
        "step",
        "environment steps done after this iteration: (iteration + 1) * steps_per_update",
        "env steps",
        "runner",
        STEP_KEY,
        "int64",
    ),
    _m(
        "wall_time",
        "seconds since the run started (a resumed run continues its clock)",
        "s",
        "runner",
        "time/time_elapsed",
    ),
    # learning curves (CleanRL: charts/episodic_return)
    _m(
        "return_mean",
        "mean return of the training episodes that ended in the iteration (NaN when none did)",
        "return",
        "runner",
        "charts/episodic_return",
    ),
    _m(
        "return_std",
        "std of those returns (NaN when no episode ended)",
        "return",
        "runner",
        "charts/episodic_return_std",
    ),
    _m(
        "episodes",
        "training episodes that ended in the iteration",
        "count",
        "runner",
        "charts/episodes",
        "int64",
    ),
    _m(
        "eval_return_mean",
        "mean return of eval.episodes episodes with the mean action and frozen normaliser, "
        "every eval.every iterations (NaN on the others)",
        "return",
        "runner",
        "charts/eval_return",
    ),
    _m(
        "eval_return_std",
        "std of those evaluation returns",
        "return",
        "runner",
        "charts/eval_return_std",
    ),
    _m(
        "eval_sampled_return_mean",
        "as eval_return_mean with actions sampled from the policy (Tianshou's test episodes)",
        "return",
        "runner",
        "charts/eval_sampled_return",
        when="eval.sampled",
    ),
    _m(
        "eval_sampled_return_std",
        "std of those sampled-action evaluation returns",
        "return",
        "runner",
        "charts/eval_sampled_return_std",
        when="eval.sampled",
    ),
    # policy and value fit (CleanRL: losses/*); `kl` is the measured KL(old || new) of the
    # Gaussians, not CleanRL's k3 approx_kl estimate
    _m(
        "kl",
        "mean KL(pi_old || pi_new) over the batch states, measured after the step",
        "nats",
        "update",
        "losses/kl",
    ),
    _m(
        "entropy",
        "entropy of the Gaussian policy after the step",
        "nats",
        "update",
        "losses/entropy",
    ),
    _m(
        "value_loss",
        "mean squared error of V(s) against the GAE returns after the value fit",
        "return^2",
        "value fit",
        "losses/value_loss",
    ),
    _m(
        "explained_variance",
        "1 - Var[R - V] / Var[R] of the pre-fit values V and GAE returns R (NaN if Var[R] = 0)",
        "1",
        "value fit",
        "losses/explained_variance",
    ),
    _m(
        "value_skipped",
        "the value fit left non-finite weights and was undone (weights and Adam state restored)",
        "flag",
        "value fit",
        "losses/value_skipped",
        "bool",
        "value fit undone",
    ),
    _m(
        "value_skip_reason",
        "why the value fit was undone",
        "text",
        "value fit",
        None,
        "str",
        "value fit undone",
    ),
    _m(
        "grad_norm",
        "|g|, norm of the surrogate gradient (vanilla adam: before clipping)",
        "1",
        ("natural", "vanilla"),
        "losses/grad_norm",
    ),
    # the step taken (sb3-contrib TRPO logs its line search as train/is_line_search_success)
    _m(
        "kl_delta",
        "the step's KL budget delta (update.kl_delta)",
        "nats",
        "natural",
        "update/kl_delta",
    ),
    _m(
        "beta",
        "step length: theta = theta_old + beta x (step rule kl: sqrt(2 kl_delta / x^T F x))",
        "1",
        "natural",
        "update/beta",
    ),
    _m(
        "predicted_kl",
        "1/2 beta^2 x^T F x, the second-order KL of the full step",
        "nats",
        "natural",
        "update/predicted_kl",
    ),
    _m(
        "g_dot_x",
        "g^T x, first-order surrogate gain of the direction x (times beta: of the step)",
        "1",
        "natural",
        "update/g_dot_x",
    ),
    _m(
        "x_fisher_x",
        "x^T F x with the analytic undamped Fisher F, the same for every variant",
        "1",
        "natural",
        "update/x_fisher_x",
    ),
    _m(
        "backtracks",
        "line-search shrinks before the accepted step (max_backtracks on failure, 0 without)",
        "count",
        "natural",
        "update/backtracks",
        "int64",
    ),
    _m(
        "accepted",
        "the line search found a step within the KL budget that improves the surrogate "
        "(False: theta_old restored)",
        "flag",
        "natural",
        "update/accepted",
        "bool",
        "line search",
    ),
    _m(
        "skipped",
        "the policy update was undone on a numerical failure, theta_old kept (skip_reason)",
        "flag",
        "update",
        "update/skipped",
        "bool",
    ),
    _m("skip_reason", "why the update was skipped", "text", "update", None, "str"),
    _m(
        "epochs",
        "PPO epochs completed over the batch (fewer when update.target_kl stopped them)",
        "count",
        "ppo",
        "update/epochs",
        "int64",
    ),
    # the preconditioner and its fidelity to the exact natural gradient
    _m(
        "cg_residual",
        "relative residual |g - (F + lambda I) x| / |g| of conjugate gradient (NaN for other "
        "preconditioners)",
        "1",
        ("natural", "cg"),
        "fisher/cg_residual",
    ),
    _m(
        "cg_iterations",
        "conjugate-gradient iterations done (<= update.cg_iters)",
        "count",
        "cg",
        "fisher/cg_iterations",
        "int64",
    ),
    _m(
        "fisher_cond",
        "cond(F + lambda I): npg_exact's estimate of its own Fisher every update, else the "
        "analytic F's on fidelity updates (NaN otherwise)",
        "1",
        ("natural", "exact"),
        "fisher/cond",
    ),
    _m(
        "fidelity_cosine",
        "cos(x, x*), x* = (F + lambda I)^-1 g of the analytic dense Fisher, every "
        "diagnostics.fidelity_every updates (NaN otherwise)",
        "1",
        "natural",
        "fisher/fidelity_cosine",
    ),
    _m(
        "fidelity_kl_ratio",
        "x^T F x / x*^T F x*, predicted KL of beta x over that of beta x* (fidelity updates)",
        "1",
        "natural",
        "fisher/fidelity_kl_ratio",
    ),
    _m(
        "fidelity_cosine_own",
        "cos(x, x*_own), x*_own = (F + D)^-1 g with D the preconditioner's own damping model "
        "(K-FAC: factored Tikhonov; the others: lambda I, where it equals fidelity_cosine)",
        "1",
        "natural",
        "fisher/fidelity_cosine_own",
        when="fidelity",
    ),
    _m(
        "fidelity_kl_ratio_own",
        "x^T F x / x*_own^T F x*_own: fidelity_kl_ratio against the own-damping reference",
        "1",
        "natural",
        "fisher/fidelity_kl_ratio_own",
        when="fidelity",
    ),
    # seconds per iteration; time_update contains the time_grad .. time_fidelity parts
    _m(
        "time_sample",
        "seconds collecting the batch (sampler and GAE)",
        "s",
        "runner",
        "time/sample",
    ),
    _m("time_update", "seconds in the policy update", "s", "runner", "time/update"),
    _m("time_value", "seconds fitting the value function", "s", "runner", "time/value"),
    _m("time_grad", "seconds computing g", "s", "natural", "time/grad"),
    _m(
        "time_fisher_fit",
        "seconds fitting the preconditioner's curvature statistics",
        "s",
        "natural",
        "time/fisher_fit",
    ),
    _m("time_solve", "seconds solving for the direction x", "s", "natural", "time/solve"),
    _m(
        "time_line_search",
        "seconds for x^T F x, the step and any backtracking",
        "s",
        "natural",
        "time/line_search",
    ),
    _m(
        "time_fidelity",
        "seconds of the fidelity diagnostic (NaN on updates without one)",
        "s",
        "natural",
        "time/fidelity",
    ),
    _m(
        "time_heldout",
        "seconds of the held-out step diagnostic (NaN on updates without one)",
        "s",
        "natural",
        "time/heldout",
        when="held-out",
    ),
    # CPU seconds of this thread (time.thread_time): the phase's cost on a shared machine
    _m("time_sample_cpu", "CPU seconds collecting the batch", "cpu s", "runner", "time/sample_cpu"),
    _m("time_update_cpu", "CPU seconds in the policy update", "cpu s", "runner", "time/update_cpu"),
    _m(
        "time_value_cpu",
        "CPU seconds fitting the value function",
        "cpu s",
        "runner",
        "time/value_cpu",
    ),
    # held-out measures of the step (algorithms/heldout.py): half A fits, half B judges
    _m(
        "step_gain_insample",
        "g_A^T s_A: first-order surrogate gain of the step computed on half A, on half A",
        "1",
        "natural",
        "heldout/gain_insample",
        when="held-out",
    ),
    _m(
        "step_gain_heldout",
        "g_B^T s_A: the same step's first-order gain on the other half B, which it never saw",
        "1",
        "natural",
        "heldout/gain_heldout",
        when="held-out",
    ),
    _m(
        "step_kl_insample",
        "mean KL(pi_old || pi_old + s_A) on half A",
        "nats",
        "natural",
        "heldout/kl_insample",
        when="held-out",
    ),
    _m(
        "step_kl_heldout",
        "mean KL(pi_old || pi_old + s_A) on half B",
        "nats",
        "natural",
        "heldout/kl_heldout",
        when="held-out",
    ),
    _m(
        "prev_step_kl_fresh",
        "KL between the policy before and after the previous update, on this iteration's "
        "newly sampled states (NaN unless that update was a diagnostic one)",
        "nats",
        "runner",
        "heldout/prev_step_kl_fresh",
        when="held-out",
    ),
)
"""Every column npg-bench itself writes, grouped by W&B section."""

SCHEMA: dict[str, Metric] = {m.name: m for m in METRICS}
"""column name -> Metric, for METRICS."""


def with_extra(extra: Iterable[Metric] = ()) -> dict[str, Metric]:
    """column -> Metric: METRICS plus a variant's own columns, after them.

    Raises ValueError when an extra column is already declared or takes a W&B key in use:
    a variant cannot redefine a column, and two columns never share a chart.
    """
    if isinstance(extra, (Metric, str)):
        raise ValueError("extra metrics must be a tuple of Metric, not one")
    out = dict(SCHEMA)
    keys = {m.wandb: m.name for m in out.values() if m.wandb is not None}
    for metric in extra:
        if not isinstance(metric, Metric):
            raise ValueError(f"{metric!r} is not an npgbench.harness.core.metrics.Metric")
        if metric.name in out:
            raise ValueError(f"metric {metric.name!r} is already declared")
        if metric.wandb is not None and metric.wandb in keys:
            raise ValueError(
                f"metric {metric.name!r}: W&B key {metric.wandb!r} is taken by {keys[metric.wandb]!r}"
            )
        out[metric.name] = metric
        if metric.wandb is not None:
            keys[metric.wandb] = metric.name
    return out


def declared(names: Iterable[str]) -> list[str]:
    """names as a list, after checking that METRICS declares each (KeyError otherwise)."""
    names = list(names)
    unknown = [n for n in names if n not in SCHEMA]
    if unknown:
        raise KeyError(f"undeclared metrics.parquet column(s): {', '.join(unknown)}")
    return names


def names_of(dtype: str) -> list[str]:
    """The declared columns of one dtype, in METRICS order (e.g. "bool", "str")."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: valid: {', '.join(DTYPES)}")
    return [m.name for m in METRICS if m.dtype == dtype]


def expected_columns(writers: Iterable[str], conditions: Iterable[str] = ()) -> list[str]:
    """The declared columns a run writes when `writers` (keys of WRITERS) produce its rows and
    `conditions` (keys of CONDITIONS) hold, in METRICS order."""
    writers, holds = set(writers), {"", *conditions}
    return [m.name for m in METRICS if writers & set(m.writers) and m.when in holds]


def wandb_keys(extra: Iterable[Metric] = ()) -> dict[str, str | None]:
    """column -> W&B history key (None: not mirrored), for METRICS and `extra`."""
    return {name: m.wandb for name, m in with_extra(extra).items()}


def markdown_table(metrics: Iterable[Metric] = METRICS) -> str:
    """The columns as a Markdown table, then what its writers and conditions mean (README.md's
    "The run directory" embeds METRICS')."""
    lines = [
        "| column | meaning | unit | dtype | writer | only when | W&B key |",
        "|---|---|---|---|---|---|---|",
    ]
    metrics = list(metrics)
    for m in metrics:
        cells = [
            f"`{m.name}`",
            m.meaning.replace("|", "\\|"),
            m.unit,
            m.dtype,
            ", ".join(m.writers),
            m.when or "-",
            f"`{m.wandb}`" if m.wandb else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    writers = [w for w in WRITERS if any(w in m.writers for m in metrics)]
    if writers:
        lines += ["", "writer:", *(f"- `{w}`: {WRITERS[w]}" for w in writers)]
    used = [c for c in CONDITIONS if c and any(m.when == c for m in metrics)]
    if used:
        lines += ["", '"only when":', *(f"- `{c}`: {CONDITIONS[c]}" for c in used)]
    return "\n".join(lines) + "\n"


__all__ = [
    "CONDITIONS",
    "DTYPES",
    "METRICS",
    "SCHEMA",
    "STEP_KEY",
    "UNITS",
    "WRITERS",
    "Metric",
    "declared",
    "expected_columns",
    "markdown_table",
    "names_of",
    "wandb_keys",
    "with_extra",
]
