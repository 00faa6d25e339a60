"""LaTeX of a report table: a booktabs tabular written by pandas' Styler.to_latex, in a table
float whose box never runs past the text width.

Each .tex file is meant for `\\input{tables/NAME.tex}` and starts with a comment that names
the packages it needs (PACKAGES). Cell text comes from run directories (variant labels,
sources), so every character that is active in LaTeX is escaped and the few non-ASCII
symbols the tables use are written as math, so the files compile with plain pdflatex.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from npgbench.analysis.data.table import Table

PACKAGES = ("booktabs", "adjustbox")
"""\\toprule/\\midrule/\\bottomrule (booktabs); adjustbox's `max width` shrinks a table wider
than the text, and leaves a narrower one as it is."""

ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    # In the default OT1 font encoding '|' prints as an em dash ("std/|mean|" would read
    # "std/—mean—"); \textbar is the bar in every encoding.
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "δ": r"$\delta$",
    "τ": r"$\tau$",
    "λ": r"$\lambda$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "×": r"$\times$",
    "–": "--",
    "—": "---",
    "≈": r"$\approx$",
    "→": r"$\rightarrow$",
}
_ESCAPE_RE = re.compile("|".join(re.escape(k) for k in ESCAPES))


def latex_text(text) -> str:
    """Plain text safe in LaTeX: active characters escaped, a few symbols as math, `code`
    spans in \\texttt."""
    escaped = _ESCAPE_RE.sub(lambda m: ESCAPES[m.group(0)], str(text))
    return re.sub(r"`([^`]+)`", r"\\texttt{\1}", escaped)


def label(name: str, prefix: str = "tab:") -> str:
    """A \\label key: the table's name with anything but letters, digits, '-', '_', ':' and
    '.' replaced by '-', never escaped (an escaped `\\_` inside \\label does not compile)."""
    return prefix + re.sub(r"[^A-Za-z0-9_:.-]", "-", name)


def header() -> str:
    """The comment at the top of every file: the packages it needs."""
    uses = "".join(f"\\usepackage{{{p}}}" for p in PACKAGES)
    return f"% npg-bench table; needs {uses} in the preamble"


def tabular(view: pd.DataFrame, highlight: np.ndarray | None = None) -> str:
    """The booktabs tabular of a view of formatted strings (Styler.to_latex, hrules on);
    highlighted cells in \\textbf."""
    styler = view.style.hide(axis="index")
    styler = styler.format(latex_text).format_index(latex_text, axis=1)
    if highlight is not None and highlight.any():
        css = np.where(highlight, "textbf: --rwrap;", "")
        styler = styler.apply(lambda _: css, axis=None)
    return styler.to_latex(column_format="l" * view.shape[1], hrules=True).rstrip("\n")


def table_latex(table: Table, label_prefix: str = "tab:") -> str:
    """The table float of one report table: caption (title and note), label, and its
    tabular scaled down to \\linewidth when wider (adjustbox)."""
    marks = None
    if table.highlight is not None:
        marks = table.highlight.to_numpy(dtype=bool).reshape(table.view.shape)
    caption = latex_text(table.title + (f". {table.note}" if table.note else ""))
    return "\n".join(
        [
            header(),
            r"\begin{table}[htbp]",
            r"\centering",
            r"\small",
            f"\\caption{{{caption}}}",
            f"\\label{{{label(table.name, label_prefix)}}}",
            r"\begin{adjustbox}{max width=\linewidth}",
            tabular(table.view, marks),
            r"\end{adjustbox}",
            r"\end{table}",
            "",
        ]
    )


__all__ = ["PACKAGES", "header", "label", "latex_text", "table_latex", "tabular"]
