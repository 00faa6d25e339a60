"""Per-run metrics on hand-computable curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import metrics_frame
from npgbench.analysis.stats import run_metrics as metrics

NAN = math.nan


def test_final_return_is_mean_of_last_tenth_and_forward_fills():
    returns = np.arange(1.0, 21.0)  # 20 iterations: the last 10% are 19 and 20
    assert metrics.final_return(returns) == 19.5
    assert metrics.final_return(returns, frac=0.25) == np.mean([16, 17, 18, 19, 20])
    # NaN = no episode ended: the last known return carries forward, it is not zero.
    assert metrics.final_return([1.0, 4.0, NAN, NAN], frac=0.5) == 4.0
    assert metrics.final_return([1.0, 2.0, 3.0], frac=0.1) == 3.0  # at least one iteration
    assert math.isnan(metrics.final_return([NAN, NAN]))


def test_the_sweep_the_wandb_summary_and_the_report_share_one_final_return(tmp_path):
    """15 iterations, NaN where no episode ended: the last 10% is ceil(1.5) = 2 forward-filled
    iterations (9, 9), where a floor of the non-NaN values would read only the 7. The value a
    run directory yields equals the report's, and the W&B summary's (from the rows it was
    given; train() returns the same function of its rows to the sweep's line)."""
    from npgbench.harness.core import returns as core_returns
    from npgbench.harness.core.returns import run_final_return
    from npgbench.harness.tracking import wandb_mirror

    returns = [float(i) for i in range(1, 13)] + [7.0, 9.0, NAN]
    pd.DataFrame({"return_mean": returns}).to_parquet(tmp_path / "metrics.parquet")
    assert run_final_return(tmp_path) == metrics.final_return(np.array(returns)) == 9.0
    assert wandb_mirror.final_return is core_returns.final_return
    mirror = wandb_mirror.WandbMirror("r", tmp_path, {}, "disabled", "p")
    for i, value in enumerate(returns):
        mirror.on_row({"iteration": i, "return_mean": value})
    assert wandb_mirror.final_return(np.asarray(mirror.returns)) == 9.0
    assert math.isnan(run_final_return(tmp_path / "missing"))


def test_best_return_is_max_over_training():
    assert metrics.best_return([1.0, 7.0, NAN, 3.0]) == 7.0
    assert math.isnan(metrics.best_return([NAN]))


def test_normalised_auc_is_time_average_min_max_normalised():
    # Constant return 5 in range [0, 10] -> 0.5; a ramp 0 -> 10 -> mean 5 -> 0.5.
    assert metrics.normalised_auc([1, 2, 3], [5, 5, 5], 0.0, 10.0) == pytest.approx(0.5)
    assert metrics.normalised_auc([0, 10], [0, 10], 0.0, 10.0) == pytest.approx(0.5)
    # Trapezoid over unequal spacing: (0+10)/2*1 + 10*3 = 35 over 4 steps = 8.75.
    assert metrics.normalised_auc([0, 1, 4], [0, 10, 10], 0.0, 10.0) == pytest.approx(0.875)
    assert metrics.normalised_auc([0, 1, 2], [2, NAN, 2], 0.0, 4.0) == pytest.approx(0.5)
    assert math.isnan(metrics.normalised_auc([0, 1], [1, 1], 1.0, 1.0))


def test_first_crossing_steps_and_seconds():
    steps, wall = [100, 200, 300, 400], [1.0, 2.0, 3.0, 4.0]
    returns = [1.0, NAN, 6.0, 4.0]
    assert metrics.first_crossing(steps, returns, 5.0) == 300
    assert metrics.first_crossing(wall, returns, 1.0) == 1.0
    assert math.isnan(metrics.first_crossing(steps, returns, 7.0))
    assert math.isnan(metrics.first_crossing(steps, returns, NAN))


def test_max_drawdown_from_running_best():
    assert metrics.max_drawdown([1, 5, 3, 6, 2, 4]) == 4.0
    assert metrics.max_drawdown([1, 2, 3]) == 0.0
    assert metrics.max_drawdown([NAN, 5, NAN, 1]) == 4.0


def test_collapse_definition():
    # Gain 10 - 0 = 10; ends at 2 < 10 - 0.5 * 10: collapsed.
    assert metrics.collapsed([0, 10, 10, 2], final_frac=0.25) == 1.0
    # Ends at 6, above the half-way mark 5: not collapsed.
    assert metrics.collapsed([0, 10, 10, 6], final_frac=0.25) == 0.0
    # A flat noisy run whose "gain" is below min_gain is not a collapse.
    assert metrics.collapsed([5, 6, 5, 4], min_gain=3.0, final_frac=0.25) == 0.0
    assert metrics.collapsed([5, 6, 5, 4], min_gain=0.0, final_frac=0.25) == 1.0
    assert metrics.collapsed([3, 2, 1], final_frac=0.34) == 0.0  # never gained: decline != collapse
    assert math.isnan(metrics.collapsed([NAN, NAN]))


def test_rates_ignore_missing_values():
    assert metrics.kl_violation_rate([0.01, 0.02, 0.016, 0.014], [0.01] * 4) == 0.5
    # A skipped update is not a violation, whatever kl it logged.
    assert metrics.kl_violation_rate([0.05, 0.01], [0.01, 0.01], [1.0, 0.0]) == 0.0
    assert math.isnan(metrics.kl_violation_rate([0.05, 0.01], [NAN, NAN]))
    assert metrics.rate([0.0, 1.0, 1.0, 0.0]) == 0.5
    assert metrics.failed_line_search_rate([1.0, 0.0, 1.0, NAN]) == pytest.approx(1 / 3)
    assert math.isnan(metrics.failed_line_search_rate([NAN, NAN]))


def test_steps_per_second_and_time_split():
    assert metrics.steps_per_second([1000, 2000], [0.5, 1.0]) == 2000.0
    df = pd.DataFrame(
        {
            "time_sample": [1.0, 3.0],
            "time_update": [2.0, 2.0],
            "time_value": [0.5, 0.5],
            "time_grad": [0.5, 0.5],
            "time_solve": [1.0, 1.0],
        }
    )
    split = metrics.time_split(df)
    assert list(split) == metrics.TIME_PARTS
    assert split["time_sample"] == 2.0
    assert split["time_update_other"] == pytest.approx(0.5)  # 2 - (0.5 + 1.0)
    assert math.isnan(split["time_fisher_fit"])  # not logged: missing, not zero
    no_parts = metrics.time_split(df.drop(columns=["time_grad", "time_solve"]))
    assert no_parts["time_update_other"] == 2.0
    # A diagnostic timer inside the update, measured on 1 of 2 iterations: 0.4 s once is
    # 0.2 s per iteration, and it is part of the update, not on top of it.
    fid = metrics.time_split(df.assign(time_fidelity=[0.4, math.nan]))
    assert fid["time_fidelity"] == pytest.approx(0.2)
    assert fid["time_update_other"] == pytest.approx(0.3)  # 2 - (0.5 + 1.0 + 0.2)


def test_across_seed_statistics():
    spread = metrics.seed_spread([1.0, 2.0, 3.0])
    assert spread == {"std": 1.0, "cv": 0.5, "worst": 1.0}
    mean, half = metrics.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert math.isnan(metrics.mean_ci([4.0])[1])


def test_run_summary_on_a_frame_with_missing_npg_columns():
    df = metrics_frame([0.0, 10.0, 10.0, 2.0], steps_per_update=100)
    for col in (
        "kl_delta",
        "accepted",
        "time_grad",
        "time_fisher_fit",
        "time_solve",
        "time_line_search",
    ):
        df[col] = NAN
    s = metrics.run_summary(df, final_frac=0.25, score_range=(0.0, 10.0), threshold=10.0)
    assert s["final"] == 2.0 and s["best"] == 10.0 and s["collapsed"] == 1.0
    assert s["steps_to_threshold"] == 200 and s["drawdown"] == 8.0
    assert math.isnan(s["kl_violation"]) and math.isnan(s["failed_line_search"])
    assert s["steps_per_s"] == pytest.approx(400 / 2.0)
