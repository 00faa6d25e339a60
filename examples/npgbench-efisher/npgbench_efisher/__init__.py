"""npgbench-efisher: the `npg_efisher` variant for npg-bench, registered by entry point.

NPG preconditioned by the empirical Fisher F_emp = (1/N) sum_i s_i s_i^T of the scores
s_i = grad log pi(a_i|s_i) of the batch's own actions (Kunstner, Balles & Hennig 2019),
solved exactly in float64 (efisher.py has the math). pyproject.toml declares

    [project.entry-points."npgbench.algorithms"]
    npg_efisher = "npgbench_efisher:VARIANT"

so `npgbench list` shows it, `npgbench run --algo npg_efisher` runs it and a suite can name it
in `algos`, with no edit of npg-bench. It runs the shared natural-gradient skeleton
(`make_natural`): same g, step rule and line search as npg_exact; only the matrix differs.
"""

from __future__ import annotations

from npgbench.algorithms import Variant
from npgbench.algorithms.natural import make_natural

from npgbench_efisher.efisher import EFisherConfig, EmpiricalFisher

__all__ = ["VARIANT", "EFisherConfig", "EmpiricalFisher"]

VARIANT = Variant(
    "NPG, empirical Fisher of the buffer actions' scores (Kunstner et al. 2019), "
    "Gram-form damped solve",
    EFisherConfig,
    make_natural,
)
"""The entry point's target: what `npgbench.algorithms.registry` loads as `npg_efisher`."""
