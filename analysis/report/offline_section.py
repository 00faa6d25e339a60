"""The report's section of offline measurements (analysis/data/offline.py): the one-step
invariance test and Fisher fidelity at the benchmark's size, tables and figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from npgbench.analysis.claims import offline
from npgbench.analysis.data.offline import OfflineData
from npgbench.analysis.figures.offline import fidelity64_figure
from npgbench.analysis.report.study import fig_block, table_blocks
from npgbench.analysis.report.study_figures import Figure

OFFLINE_INTRO = (
    "Measurements on saved policies and batches, without training: the one-step "
    "parameterisation-invariance test (npgbench bench invariance) and Fisher fidelity at the "
    "benchmark's own size (npgbench bench fidelity), read from the CSVs those commands wrote "
    "into this folder (each folder's README gives the command)."
)


def offline_section(data: OfflineData, figdir: Path, selected: set[str] | None = None):
    """(blocks, tables) of the offline measurements the folder holds (empty without); the
    fidelity figure (its first policy set) after its table, when selected."""
    built = []
    if data.one_step is not None:
        built.append(offline.one_step_table(data.one_step))
    if data.fidelity is not None:
        built.append(offline.fidelity_table(data.fidelity))
    if not built:
        return [], []
    blocks = [("h2", "Offline measurements"), ("p", OFFLINE_INTRO)]
    for table in built:
        blocks += table_blocks(table, "h3", "")
        if table.name == "fisher_fidelity_64" and (selected is None or "fidelity_64" in selected):
            blocks.append(fidelity64_block(table.data, figdir))
    return blocks, built


def fidelity64_block(rows: pd.DataFrame, figdir: Path) -> tuple:
    first = rows[(rows["file"] == rows["file"].iloc[0]) & (rows["stage"] == rows["stage"].iloc[0])]
    caption = (
        f"Fisher fidelity at the benchmark's size ({first['stage'].iloc[0]}): per direction "
        "and task, the mean cosine with the exact natural gradient x*(0.01) = (F + 0.01 I)^-1 g "
        "(bar: range over policies), and the KL of the step computed on half of the batch, "
        "measured on a fresh batch, over its budget (dotted: the budget)."
    )
    figure = Figure("fidelity_64", caption, lambda: fidelity64_figure(first))
    return fig_block(figure, "", figdir)
