"""The README's headline tables are exactly what analysis/report/headline.py builds from the
committed report tables (docs/tables), so they cannot drift from the dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from npgbench.analysis.report import headline

ROOT = Path(__file__).resolve().parents[1]


def test_readme_headline_equals_the_committed_tables():
    text = (ROOT / "README.md").read_text()
    block = headline.headline(ROOT / "docs" / "tables")
    assert block in text, (
        "README headline is stale: python -m npgbench.analysis.report.headline docs/tables --readme README.md"
    )


def test_published_rows_leave_out_references_without_runs_and_show_the_ratio():
    refs = pd.DataFrame(
        {
            "env": ["Hopper-v5", "Hopper-v5"],
            "group": ["trpo", None],
            "n": [5, 0],
            "ours": [3000.0, float("nan")],
            "ours_ci95": [100.0, float("nan")],
            "theirs": [2000.0, 400.0],
            "theirs_std": [500.0, 60.0],
            "ratio": [1.5, float("nan")],
            "ratio_lo": [1.4, float("nan")],
            "ratio_hi": [1.6, float("nan")],
        }
    )
    rows = headline.published_table(refs).splitlines()[2:]
    assert rows == ["| Hopper | TRPO | 3000 ± 100 (5) | 2000 ± 500 | 1.5 [1.4, 1.6] |"]


def test_controlled_cells_mark_missing_variants_and_short_seed_counts():
    conv = pd.DataFrame(
        {
            "env": ["Hopper-v5", "Hopper-v5", "Walker2d-v5"],
            "group": ["vanilla", "npg_exact", "vanilla"],
            "seeds": [5, 3, 5],
            "final_eval_mean": [2000.0, 1500.0, 1000.0],
            "final_eval_ci95": [200.0, 300.0, 100.0],
            "final_mean": [9.0, 9.0, 9.0],  # training returns: not the headline's
            "final_ci95": [1.0, 1.0, 1.0],
        }
    )
    rows = headline.controlled_table(conv).splitlines()
    assert rows[0] == "| task | vanilla | npg_exact |"
    assert rows[2:] == ["| Hopper | 2000 ± 200 | 1500 ± 300 (3) |", "| Walker2d | 1000 ± 100 | - |"]


def test_claims_cells_escape_the_pipe_of_a_statistic():
    import math

    import pandas as pd
    from npgbench.analysis.report.headline import claims_table

    row = {"claim": "c", "comparison": "a vs b", "statistic": "P(smaller |change|)",
           "value": 0.5, "ci_lo": math.nan, "ci_hi": math.nan, "n": "3", "verdict": "v"}  # fmt: skip
    last = claims_table(pd.DataFrame([row])).splitlines()[-1]
    assert last.count(" | ") == 5 and "\\|change\\|" in last


def test_replace_block_needs_both_markers():
    assert headline.replace_block(f"a {headline.BEGIN} old {headline.END} b", "NEW") == "a NEW b"
    with pytest.raises(ValueError, match="block"):
        headline.replace_block("no markers here", "NEW")


def test_the_count_names_the_headline_suites_complete_runs_only():
    runs = pd.DataFrame(
        {
            "study": ["tianshou-mujoco", "controlled-1m", "controlled-1m", "fisher-fidelity"],
            "status": ["complete", "complete", "failed", "complete"],
        }
    )
    assert headline._counts(runs) == "1 tianshou-mujoco + 1 controlled-1m runs"


def test_the_factor_table_puts_both_metrics_of_a_comparison_on_one_row():
    from npgbench.analysis.report.headline import factor_table

    rows = [
        ("damping", "a", "b", "final return", 0.76, 0.36, 0.97, "not separable (p = 0.38)"),
        ("damping", "a", "b", "AUC (evaluation)", 0.91, 0.57, 1.0, "a higher"),
        ("average", "c", "d", "final return", 0.43, 0.15, 0.8, "not separable (p = 1)"),
        ("line search", "e", "f", "final return", float("nan"), 0, 0, "not tested (no arm)"),
    ]
    cols = ["factor", "x", "y", "metric", "value", "ci_lo", "ci_hi", "verdict"]
    frame = pd.DataFrame(rows, columns=cols).assign(n="15 vs 15 on 3 tasks")
    lines = factor_table(frame).splitlines()
    assert (
        lines[0] == "| factor | X vs Y | P(final return) | P(AUC (evaluation)) | runs | verdict |"
    )
    assert lines[2] == (
        "| damping | a vs b | 0.76 [0.36, 0.97] | 0.91 [0.57, 1] | 15 vs 15 on 3 tasks | "
        "final return: not separable (p = 0.38); AUC (evaluation): a higher |"
    )
    assert lines[3].startswith("| average | c vs d | 0.43 [0.15, 0.8] | - |")
    assert len(lines) == 4  # the untested comparison stays on the results page
