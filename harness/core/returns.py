"""The one definition of a run's final return, for the sweep's per-run line (train() returns
it), the W&B summary (from the rows it mirrors) and the report (from metrics.parquet) alike
(numpy and pandas only: analysis/ imports it without torch).

final return = mean of the forward-filled per-iteration return over the last `frac` (10%)
of iterations, at least one. Forward-filled because an iteration in which no episode ended
has NaN return: the latest known return is the best estimate of current performance, and NaN
is never read as zero. A run with no finite return has NaN final return.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

FINAL_FRACTION = 0.1
"""Share of the final iterations averaged into the final return."""


def ffill(values_T: np.ndarray) -> np.ndarray:
    """values_T [T] with NaN forward-filled (leading NaN stay NaN)."""
    values_T = np.asarray(values_T, dtype=float)
    if values_T.ndim != 1:
        raise ValueError(f"expected one value per iteration [T], got shape {values_T.shape}")
    return pd.Series(values_T).ffill().to_numpy()


def tail_count(n: int, frac: float = FINAL_FRACTION) -> int:
    """How many final iterations make up the last `frac` of n (at least 1)."""
    return max(1, math.ceil(frac * n))


def final_return(returns_T: np.ndarray, frac: float = FINAL_FRACTION) -> float:
    """Mean of the forward-filled return [T] over the last `frac` of iterations (NaN if none)."""
    filled_T = ffill(returns_T)
    tail = filled_T[-tail_count(len(filled_T), frac) :] if len(filled_T) else filled_T
    return float(np.nanmean(tail)) if np.isfinite(tail).any() else math.nan


def run_final_return(run_dir: Path) -> float:
    """final_return of a run directory's metrics.parquet `return_mean`; NaN when the file is
    missing or unreadable (a failed run), so callers that only report never raise."""
    try:
        frame = pd.read_parquet(Path(run_dir) / "metrics.parquet", columns=["return_mean"])
    except (OSError, ValueError, KeyError):
        return math.nan
    return final_return(frame["return_mean"].to_numpy(float))
