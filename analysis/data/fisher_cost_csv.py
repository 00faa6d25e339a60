"""The fisher-cost benchmark's CSV (harness/bench/fisher_cost.py) as update-cost points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def find_fisher_cost_csv(root: Path) -> Path | None:
    """The fisher-cost benchmark's CSV under root (fisher_cost*.csv / fisher-cost*.csv)."""
    hits = sorted(
        p for pattern in ("fisher_cost*.csv", "fisher-cost*.csv") for p in Path(root).rglob(pattern)
    )
    return hits[0] if hits else None


def _pick(columns, exact: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> str | None:
    for name in exact:
        if name in columns:
            return name
    return next((c for c in columns if c.startswith(prefixes)), None) if prefixes else None


def read_fisher_cost(path: Path) -> pd.DataFrame:
    """Fisher-cost CSV -> columns label, num_params, seconds, batch, claim, expected_exponent,
    source.

    harness/bench/fisher_cost.py writes method, n_params, hidden, batch, seconds_fit,
    seconds_solve, seconds_total, claim, expected_exponent (default path
    results/bench/fisher_cost.csv); seconds is its seconds_total (fit + solve), and claim and
    expected_exponent are the cost each preconditioner's config declares ("" when absent). Other CSVs are matched by common names (a parameter count, a
    time in seconds or ms, a preconditioner/variant label). ValueError when none match."""
    df = pd.read_csv(path)
    cols = list(df.columns)
    params = _pick(cols, ("num_params", "params", "parameters", "n_params"))
    ms = next((c for c in cols if c == "ms" or c.endswith("_ms")), None)
    secs = _pick(
        [c for c in cols if c != ms],
        ("seconds_total", "seconds_per_update", "update_s", "seconds", "time_s", "total_s"),
        ("time", "seconds", "fit_solve"),
    )
    label = _pick(cols, ("preconditioner", "variant", "algo", "method", "fisher", "label", "name"))
    if params is None or (secs is None and ms is None):
        raise ValueError(f"{path}: no parameter-count or time column among {', '.join(cols)}")
    seconds = df[secs].astype(float) if secs is not None else df[ms].astype(float) / 1000.0
    return pd.DataFrame(
        {
            "label": df[label].astype(str) if label else "fisher-cost",
            "num_params": df[params].astype(float),
            "seconds": seconds,
            "batch": df["batch"].astype(float) if "batch" in cols else np.nan,
            "claim": _text(df, "claim"),
            "expected_exponent": _text(df, "expected_exponent"),
            "source": "fisher-cost benchmark",
        }
    )


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    """A text column as str, "" where absent or empty (CSVs written before it existed)."""
    if column not in df:
        return pd.Series("", index=df.index)
    return df[column].fillna("").astype(str)
