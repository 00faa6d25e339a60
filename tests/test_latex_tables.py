"""Every LaTeX table the report writes compiles with pdflatex in a minimal document built
from the packages its own header comment names, with no overfull box wider than 10 pt; and
the writer's escaping, labels and bold cells, checked on the text (without pdflatex)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import experiment_results, synthetic_results, write_run
from npgbench.analysis.data.table import Table
from npgbench.analysis.report.command import main
from npgbench.analysis.report.latex import PACKAGES, label, latex_text, table_latex

PDFLATEX = shutil.which("pdflatex")
OVERFULL_PT = 10.0
HOSTILE = ["a|b_c&d%", "x^2~#y", "$\\foo{$", "std/|mean| λ ≥ 1 ± 2"]


@pytest.fixture(scope="module")
def report_tables(tmp_path_factory) -> list:
    """The .tex files of one report holding every section the fixtures can produce: three
    variants on two envs, the evidence experiments, a fisher-cost CSV, hostile labels."""
    root = tmp_path_factory.mktemp("tex") / "runs"
    synthetic_results(root / "main", suite="quickstart")
    experiment_results(root / "evidence")
    for i, name in enumerate(HOSTILE):
        for seed in (0, 1):
            write_run(
                root / "hostile",
                "ppo",
                "EnvA-v5",
                seed,
                np.linspace(0, 100 + 10 * i, 8),
                suite="hostile",
                label=name,
                config_hash=f"{i:08d}",
            )
    out = root.parent / "rep"
    assert main([str(root), "--out", str(out), "--reps", "50"]) == 0
    files = sorted((out / "tables").glob("*.tex"))
    assert len(files) >= 10, [f.name for f in files]
    return files


def needed_packages(tex: str) -> list[str]:
    """The packages the file's first line names."""
    first = tex.splitlines()[0]
    assert first.startswith("%"), first
    return re.findall(r"\\usepackage\{([^}]+)\}", first)


def test_every_file_names_its_packages_first(report_tables):
    for path in report_tables:
        assert needed_packages(path.read_text()) == list(PACKAGES), path.name


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex not installed (texlive-latex-extra)")
def test_every_report_table_compiles_and_fits_the_text_width(report_tables, tmp_path):
    for path in report_tables:
        tex = path.read_text()
        preamble = "".join(f"\\usepackage{{{p}}}\n" for p in needed_packages(tex))
        doc = tmp_path / f"{path.stem}-doc.tex"
        doc.write_text(
            f"\\documentclass{{article}}\n{preamble}\\begin{{document}}\n"
            f"\\input{{{path.as_posix()}}}\n\\end{{document}}\n"
        )
        result = subprocess.run(
            [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        log = (tmp_path / f"{path.stem}-doc.log").read_text(errors="replace")
        errors = [line for line in log.splitlines() if line.startswith("!")]
        assert result.returncode == 0 and not errors, f"{path.name}: {errors or log[-2000:]}"
        widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
        assert all(w <= OVERFULL_PT for w in widths), f"{path.name}: overfull by {widths} pt"


def test_labels_are_not_escaped_and_bars_are_bars():
    table = Table(
        "wall_clock",
        "Wall clock",
        pd.DataFrame(),
        pd.DataFrame({"std/|mean|": ["0.1"], "group": ["npg_cg"]}),
    )
    tex = table_latex(table)
    assert r"\label{tab:wall_clock}" in tex
    assert r"std/\textbar{}mean\textbar{}" in tex and r"npg\_cg" in tex
    assert label("a b/c") == "tab:a-b-c"
    assert latex_text("`x_1` ± δ") == r"\texttt{x\_1} $\pm$ $\delta$"


def test_highlighted_cells_are_bold_and_rules_are_booktabs():
    view = pd.DataFrame({"setting": ["lr", "steps"], "a": ["0.1", "5"], "b": ["0.3", "5"]})
    marks = pd.DataFrame({"setting": [False, False], "a": [True, False], "b": [True, False]})
    tex = table_latex(Table("hp", "Settings", view, view, highlight=marks))
    assert r"lr & \textbf{0.1} & \textbf{0.3} \\" in tex and r"steps & 5 & 5 \\" in tex
    rules = [x for x in tex.splitlines() if x in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules == [r"\toprule", r"\midrule", r"\bottomrule"]
    assert r"\begin{adjustbox}{max width=\linewidth}" in tex
