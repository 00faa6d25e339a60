"""Evaluation-curve metrics (Chan et al. 2020) and the final_eval.json reader on hand cases."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from npgbench.analysis.data.final_eval import read_final_eval
from npgbench.analysis.stats import reliability


def test_trailing_mean_uses_the_points_available_at_the_start():
    np.testing.assert_allclose(reliability.trailing_mean([3, 6, 9, 0], 3), [3, 4.5, 6, 5])


def test_dispersion_is_the_iqr_of_first_differences():
    # Differences 1, 1, 1, 1: a steady climb has no dispersion, whatever its slope.
    assert reliability.dispersion_across_time(np.arange(5.0) * 7) == 0.0
    # Differences 10, -10, 10, -10, 10: IQR over [-10, -10, 10, 10, 10] = 20.
    assert reliability.dispersion_across_time([0, 10, 0, 10, 0, 10]) == 20.0
    assert math.isnan(reliability.dispersion_across_time([1.0, 2.0]))


def test_drawdown_cvar_averages_the_worst_tenth_of_the_smoothed_drawdowns():
    curve = np.array([0, 30, 60, 90, 60, 30, 90, 90, 90, 90, 90], dtype=float)
    smooth = reliability.trailing_mean(curve, 3)  # 0 15 30 60 70 60 60 70 90 90 90
    drawdown = np.maximum.accumulate(smooth) - smooth  # 10 at two points, 0 elsewhere
    worst = np.sort(drawdown)[-2:]  # ceil(0.1 * 11) = 2 values
    assert reliability.drawdown_cvar(curve) == pytest.approx(worst.mean())
    assert reliability.drawdown_cvar(curve) == pytest.approx(10.0)
    assert reliability.drawdown_cvar(np.arange(10.0)) == 0.0  # never falls


def test_eval_summary_reads_evaluation_rows_only():
    run = pd.DataFrame(
        {
            "step": [1, 2, 3, 4, 5, 6],
            "eval_return_mean": [np.nan, 10, np.nan, 20, np.nan, 30],
            "return_mean": [-1e6] * 6,  # training returns never enter
        }
    )
    out = reliability.eval_summary(run, 0.0, 100.0)
    assert out["final_eval_last3"] == 20.0
    assert out["auc_eval"] == pytest.approx(0.2)  # mean of a straight 10 -> 30 line
    assert out["dispersion_time"] == 0.0 and out["drawdown_cvar"] == 0.0


def test_step_measures_median_over_updates_that_carry_the_diagnostic():
    run = pd.DataFrame({"step_gain_heldout": [np.nan, 1.0, np.nan, 3.0, 5.0]})
    out = reliability.step_measures(run)
    assert out["step_gain_heldout"] == 3.0
    assert math.isnan(out["step_kl_heldout"]) and math.isnan(out["gain_insample_batch"])


def _write(tmp_path, **change):
    (tmp_path / "policy.pt").write_bytes(b"w")
    record = {"episodes": 2, "actions": "mean", "returns": [1.0, 3.0], "mean": 2.0, "std": 1.0}
    record.update(eval_seed=0, policy_sha256=hashlib.sha256(b"w").hexdigest(), git_sha="x")
    record.update(change)
    (tmp_path / "final_eval.json").write_text(json.dumps(record))


def test_final_eval_reader_accepts_only_a_mean_action_evaluation_of_this_policy(tmp_path):
    assert read_final_eval(tmp_path).reason == "absent"
    _write(tmp_path)
    assert read_final_eval(tmp_path).mean == 2.0 and read_final_eval(tmp_path).episodes == 2
    _write(tmp_path, actions="sampled")
    assert "not 'mean'" in read_final_eval(tmp_path).reason
    _write(tmp_path, policy_sha256="0" * 64)
    assert read_final_eval(tmp_path).reason.startswith("policy mismatch")
    (tmp_path / "final_eval.json").write_text("{")
    assert read_final_eval(tmp_path).reason.startswith("unreadable")
