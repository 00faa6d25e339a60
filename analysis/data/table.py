"""A report table and its renderings: GitHub markdown (the HTML page is rendered from that)
and LaTeX (booktabs).

A Table holds numbers for the CSV (`data`) and formatted strings for people (`view`); an
optional boolean `highlight` frame of the view's shape marks cells to emphasise (bold in
markdown, hence <strong> in the HTML page, and in LaTeX), e.g. the settings that differ
between variants.
Cell text comes from run directories (variant labels, sources), so every renderer escapes
it for its format: markdown gets no raw HTML, LaTeX no active characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Table:
    name: str
    """File stem: tables/<name>.csv (and .tex)."""
    title: str
    data: pd.DataFrame
    """Numeric columns (CSV)."""
    view: pd.DataFrame
    """Formatted strings (markdown / HTML / LaTeX)."""
    note: str = ""
    highlight: pd.DataFrame | None = None
    """Booleans shaped like view: cells to emphasise (None: none)."""


def fmt(x, digits: int = 3) -> str:
    """Compact number: n/a for NaN, integers above 100, `digits` significant figures below."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.{digits}g}"


def fmt_pm(mean: float, half: float) -> str:
    return fmt(mean) if not np.isfinite(half) else f"{fmt(mean)} ± {fmt(half)}"


def fmt_ci(point: float, lo: float, hi: float) -> str:
    return fmt(point) if not np.isfinite(lo) else f"{fmt(point)} [{fmt(lo)}, {fmt(hi)}]"


def fmt_pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.0f}%"


def _marks(table: Table) -> np.ndarray:
    shape = table.view.shape
    if table.highlight is None:
        return np.zeros(shape, dtype=bool)
    return table.highlight.to_numpy(dtype=bool).reshape(shape)


def markdown_text(text) -> str:
    """Cell or heading text safe in GitHub markdown: '<' escaped (no tag can open, so a
    label carries no raw HTML; '>' and '&' stay readable), '|' escaped (no cell can end
    early) and '*' escaped (no emphasis opens, e.g. at x* in a formula)."""
    return str(text).replace("<", "&lt;").replace("|", "\\|").replace("*", "\\*")


def to_markdown(view: pd.DataFrame, highlight: np.ndarray | None = None) -> str:
    """A GitHub markdown table (no tabulate dependency); highlighted cells in bold."""
    marks = np.zeros(view.shape, bool) if highlight is None else highlight

    def cell(v, bold: bool = False) -> str:
        text = markdown_text(v)
        return f"**{text}**" if bold and text else text

    lines = [
        "| " + " | ".join(map(cell, view.columns)) + " |",
        "|" + "|".join("---" for _ in view.columns) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(v, b) for v, b in zip(row, marks[i])) + " |"
        for i, row in enumerate(view.itertuples(index=False))
    ]
    return "\n".join(lines)


def table_markdown(table: Table) -> str:
    return to_markdown(table.view, _marks(table))
