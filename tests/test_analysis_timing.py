"""Wall-clock numbers that agree with themselves on a shared machine, steps-to-threshold
medians that count the runs that never reached it, and the suite header from the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from npgbench.analysis.report.study import data_text
from npgbench.analysis.stats import timing
from npgbench.analysis.stats.run_metrics import censored_median


def run_frame(run_id: str, seconds, group="vanilla", batch=2048) -> pd.DataFrame:
    n = len(seconds)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "env": "EnvA-v5",
            "group": group,
            "iteration": np.arange(n),
            "step": (np.arange(n) + 1) * batch,
            "time_sample": np.asarray(seconds, float),
            "time_update": 0.1,
            "time_value": 0.1,
            "wall_time": np.cumsum(np.asarray(seconds, float) + 0.2),
        }
    )


def test_throughput_and_iteration_time_are_one_quantity_despite_stalls():
    calm = run_frame("a", [0.3] * 9)
    stalled = run_frame("b", [0.3] * 6 + [30.0] * 3)  # a third of its iterations waited
    frame = pd.concat([calm, stalled, run_frame("c", [0.3] * 9)])
    summary = pd.DataFrame(
        {"env": ["EnvA-v5"] * 3, "group": "vanilla", "seconds_to_threshold": [1.0, 2.0, np.nan]}
    )
    row = timing.wall_clock(frame, summary, None).data.iloc[0]
    assert row["iteration_s_median"] == pytest.approx(0.5)  # the stall does not move it
    assert row["steps_per_s"] == pytest.approx(2048 / 0.5)  # the batch over that time
    assert row["wall_s_max"] > 10 * row["wall_s_min"]  # the spread is shown, not averaged in
    assert row["seconds_to_threshold_median"] == pytest.approx(2.0) and row["reached"] == "2/3"


@pytest.mark.parametrize(
    "values, median, reached",
    [
        ([3.0, 1.0, np.nan, 2.0, np.nan], 3.0, "3/5"),  # 3rd of 5: a reached run
        ([1.0, np.nan, np.nan, np.nan, np.nan], np.nan, "1/5"),  # not "1.0 (1/5)"
        ([1.0, 2.0, np.nan, np.nan], np.nan, "2/4"),  # even n: the upper middle never reached
        ([1.0, 2.0, 3.0, np.nan], 2.5, "3/4"),
    ],
)
def test_censored_median_counts_runs_that_never_reached(values, median, reached):
    got, k_of_n = censored_median(pd.Series(values))
    assert k_of_n == reached
    assert (np.isnan(got) and np.isnan(median)) or got == pytest.approx(median)


def test_bench_csv_is_read_by_its_columns(tmp_path):
    path = tmp_path / "bench.csv"
    pd.DataFrame(
        {
            "study": ["benchmark", "benchmark", "params"],
            "env": ["H", "H", "H"],
            "arm": ["vanilla", "npg_exact", "npg_exact"],
            "cpu_ms": [10.0, 500.0, 9.0],
            "cpu_ms_q25": [9.0, 450.0, 8.0],
            "cpu_ms_q75": [11.0, 550.0, 10.0],
            "ratio_low": [1.0, 45.0, 1.0],
            "ratio_high": [1.0, 55.0, 1.0],
        }
    ).to_csv(path, index=False)
    table = timing.bench_table(timing.read_bench(path))
    data = table.data.set_index("label")
    assert len(data) == 2  # the scaling sweep's rows are not the benchmark's shapes
    assert data.loc["npg_exact", "ratio_to_baseline"] == pytest.approx(50)
    assert data.loc["npg_exact", "median_s"] == pytest.approx(0.5)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="cpu_ms"):
        timing.read_bench(tmp_path / "bad.csv")


def test_suite_header_says_what_the_data_holds():
    runs = pd.DataFrame(
        {
            "status": ["complete"] * 3 + ["failed"],
            "env": ["Hopper-v5"] * 4,
            "group": ["a", "a", "b", "b"],
            "seed": [0, 1, 0, 1],
            "total_steps": [300000] * 4,
        }
    )
    text = data_text(runs)
    assert "3 complete runs, 1 task (Hopper-v5) x 2 variants (a, b), 1-2 seeds" in text
    assert "300000 steps per run" in text


def test_the_cost_claim_reads_the_benchmark_per_task():
    from npgbench.analysis.claims.rows import bench_cost_rows

    bench = pd.DataFrame(
        {
            "env": ["A-v5", "A-v5", "B-v5", "B-v5"],
            "label": ["vanilla", "npg_cg", "vanilla", "npg_cg"],
            "median_s": [0.01, 0.03, 0.02, 0.10],
            "q25_s": np.nan,
            "q75_s": np.nan,
            "ratio_low": [1.0, 2.5, 1.0, 4.0],
            "ratio_high": [1.0, 3.5, 1.0, 6.0],
        }
    )
    (row,) = bench_cost_rows(bench, "vanilla", ["npg_cg", "npg_kfac"], ["A-v5", "B-v5"])
    assert row["value"] == pytest.approx(4.0)  # median of 3 and 5
    assert (row["ci_lo"], row["ci_hi"]) == (2.5, 6.0)
    assert row["per_task"] == "A 3, B 5" and row["verdict"] == "measured"
