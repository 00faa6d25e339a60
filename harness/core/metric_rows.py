"""Metrics rows built from the schema: each writer starts a complete row and fills it in.

A writer (keys of metrics.WRITERS: the runner, the value fit, an updater, a preconditioner's
diagnostics()) calls `empty_row(writers, conditions)` and gets every column those writers
declare under those conditions, at its declared absent value (ABSENT: NaN, 0, False, '').
It then sets values; setting a column the row does not hold raises KeyError, so a writer
cannot log a column it has not declared. The runner joins the rows of one iteration with
`assemble` into the row metrics.parquet gets, in COLUMN_ORDER.

A variant's own columns (Variant.metrics, a plugin preconditioner's diagnostics(), a plugin
updater's plain dict) are not in the core schema: `MetricRow.extend` and `assemble` take them
and place them at OWN_SLOT.

Standard library only, like metrics.py: analysis may import it without torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from npgbench.harness.core.metrics import METRICS, SCHEMA

ABSENT: dict[str, Any] = {"float64": math.nan, "int64": 0, "bool": False, "str": ""}
"""dtype -> the value a declared column holds until its writer sets it (ints cannot be NaN:
a count not reached is 0; a flag not raised is False; text with nothing to say is '')."""

OWN_SLOT = "cg_iterations"
"""A variant's own columns follow this one (or its place, when a run lacks it): where a
preconditioner's diagnostics() have always landed in a row."""

COLUMN_ORDER: tuple[str, ...] = (
    # runner, before the update
    "iteration",
    "return_mean",
    "return_std",
    "episodes",
    "time_sample",
    "time_update",
    "time_value",
    "time_sample_cpu",
    "time_update_cpu",
    "time_value_cpu",
    "eval_return_mean",
    "eval_return_std",
    # the update (natural skeleton first, then the preconditioner's, then every updater's)
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
    "step_gain_insample",
    "step_gain_heldout",
    "step_kl_insample",
    "step_kl_heldout",
    "time_heldout",
    "kl_delta",
    "backtracks",
    "skipped",
    "skip_reason",
    "accepted",
    "cg_iterations",
    "fidelity_cosine_own",
    "fidelity_kl_ratio_own",
    "epochs",
    "kl",
    "entropy",
    # value fit, then the runner again
    "value_loss",
    "explained_variance",
    "prev_step_kl_fresh",
    "eval_sampled_return_mean",
    "eval_sampled_return_std",
    "step",
    "wall_time",
    "value_skipped",
    "value_skip_reason",
)
"""metrics.parquet's column order: fixed, since the committed dataset and the stored reference
runs have it (it is the order in which the writers used to add their keys, so it differs from
METRICS'). Outside the natural skeleton, skipped / skip_reason sit after prev_step_kl_fresh
(`column_order`): the runner used to append them there."""

LATE_SKIP_AFTER = "prev_step_kl_fresh"
"""Where skipped / skip_reason go in runs without the natural skeleton (vanilla adam, ppo, a
plugin's own updater)."""

RUN_CONDITIONS = {"value fit undone": "value_skipped"}
"""Conditions a run learns only as it goes -> the flag column that says it held. Rows always
carry their columns; metrics.parquet leaves them out when no row raised the flag
(`unheld_columns`), so a run without a value-fit skip keeps the columns it always had."""


class MetricRow(dict):
    """One writer's row: every declared column of `writers` under the row's conditions, at its
    absent value until set. Setting a column the row does not hold raises KeyError (it is not
    declared for these writers); `extend` is the way in for a variant's own columns."""

    def __init__(self, writers: Iterable[str], columns: Iterable[str]):
        super().__init__((c, ABSENT[SCHEMA[c].dtype]) for c in columns)
        self.writers = tuple(writers)
        """The metrics.WRITERS keys whose columns the row holds."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self:
            raise KeyError(
                f"column {key!r} is not declared for writer(s) {', '.join(self.writers)} "
                "(harness/core/metrics.py)"
            )
        super().__setitem__(key, value)

    def update(self, other: Mapping[str, Any] | Iterable = (), /, **values: Any) -> None:  # type: ignore[override]
        for key, value in {**dict(other), **values}.items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:  # noqa: D102
        raise TypeError("MetricRow has every declared column already: set it instead")

    def extend(self, values: Mapping[str, Any]) -> None:
        """Set `values`, adding the keys the row lacks: a variant's own columns (a plugin
        preconditioner's diagnostics()). Built-in writers use `update`, which refuses them."""
        for key, value in values.items():
            super().__setitem__(key, value)


def empty_row(writers: str | Iterable[str], conditions: Iterable[str] = ()) -> MetricRow:
    """A row holding the declared columns of `writers` (metrics.WRITERS keys) that are present
    when `conditions` (metrics.CONDITIONS keys) hold, in COLUMN_ORDER, at their absent values."""
    writers = (writers,) if isinstance(writers, str) else tuple(writers)
    mine, holds = set(writers), {"", *conditions}
    names = {m.name for m in METRICS if mine & set(m.writers) and m.when in holds}
    return MetricRow(writers, [c for c in COLUMN_ORDER if c in names])


def column_order(natural: bool) -> list[str]:
    """COLUMN_ORDER for a run with (True) or without the natural skeleton: without it,
    skipped / skip_reason move after LATE_SKIP_AFTER."""
    order = list(COLUMN_ORDER)
    if not natural:
        for name in ("skipped", "skip_reason"):
            order.remove(name)
        at = order.index(LATE_SKIP_AFTER) + 1
        order[at:at] = ["skipped", "skip_reason"]
    return order


def assemble(*parts: Mapping[str, Any]) -> MetricRow:
    """One metrics.parquet row from the rows of one iteration (later parts win on a shared
    column): declared columns in `column_order`, a variant's own columns at OWN_SLOT in the
    order they came. The result refuses new columns like any MetricRow."""
    natural = any("natural" in getattr(p, "writers", ()) for p in parts)
    writers = tuple(dict.fromkeys(w for p in parts for w in getattr(p, "writers", ())))
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    order = column_order(natural)
    slot = order.index(OWN_SLOT) + 1
    own = [k for k in merged if k not in SCHEMA]
    names = [c for c in order[:slot] if c in merged] + own
    names += [c for c in order[slot:] if c in merged]
    row = MetricRow(writers, ())
    for name in names:
        dict.__setitem__(row, name, merged[name])
    return row


def unheld_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The columns of RUN_CONDITIONS whose condition no row met (their flag never True):
    metrics.parquet leaves these out."""
    rows = list(rows)
    out = []
    for condition, flag in RUN_CONDITIONS.items():
        # `in (True,)`: a numpy True counts, a NaN (a row from before the column) does not
        if not any(row.get(flag) in (True,) for row in rows):
            out += [m.name for m in METRICS if m.when == condition]
    return out


__all__ = [
    "ABSENT",
    "COLUMN_ORDER",
    "MetricRow",
    "OWN_SLOT",
    "RUN_CONDITIONS",
    "assemble",
    "column_order",
    "empty_row",
    "unheld_columns",
]
