"""npgbench-efisher: the `npg_efisher` variant for npg-bench, registered by entry point.

NPG preconditioned by the empirical Fisher F_emp = (1/N) sum_i s_i s_i^T of the scores
s_i = grad log pi(a_i|s_i) of the batch's own actions (Kunstner, Balles & Hennig 2019),
solved exactly in float64 (efisher.py has the math). pyproject.toml declares

    [project.entry-points."npgbench.algorithms"]
    npg_efisher = "npgbench_efisher:VARIANT"

so `npgbench list` shows it, `npgbench run --algo npg_efisher` runs it and a suite can name it
in `algos`, with no edit of npg-bench. It runs the shared natural-gradient skeleton
(`make_natural`): same g, step rule and line search as npg_exact; only the matrix differs.
Its own metrics.parquet column, efisher_rows, is declared in `Variant.metrics`, so the W&B
mirror logs it as fisher/efisher_rows and `npgbench list --metrics` documents it.
"""

from __future__ import annotations

from npgbench.plugin import Metric, Variant, make_natural

from npgbench_efisher.efisher import EFisherConfig, EmpiricalFisher

__all__ = ["VARIANT", "EFisherConfig", "EmpiricalFisher"]

VARIANT = Variant(
    "NPG, empirical Fisher of the buffer actions' scores (Kunstner et al. 2019), "
    "Gram-form damped solve",
    EFisherConfig,
    make_natural,
    metrics=(
        Metric(
            "efisher_rows",
            "score rows N of the empirical Fisher (the batch's transitions)",
            "count",
            "npg_efisher",
            "fisher/efisher_rows",
        ),
    ),
)
"""The entry point's target: what `npgbench.algorithms.registry` loads as `npg_efisher`."""
