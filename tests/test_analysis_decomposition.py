"""The exact-vs-CG decomposition: the ablation's single-factor steps along a path add up to
the npg_cg - npg_exact gap, each step the difference of its arms' mean normalised finals."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_fixtures import planned_run
from npgbench.analysis.claims.decomposition import decomposition_table
from npgbench.analysis.claims.planned import planned_data
from npgbench.analysis.data.load import load_runs
from npgbench.analysis.stats.summary import SuiteInfo

HC, HOP = "HalfCheetah-v5", "Hopper-v5"
RANGE = SuiteInfo(score_ranges={e: {"min": 0.0, "max": 1000.0} for e in (HC, HOP)})
CONVERGED = {"cg_residual": np.full(24, 0.004)}


def _arm(root, arm, finals: dict, **kw):
    for env, values in finals.items():
        for seed, final in enumerate(values):
            planned_run(root, arm, env, seed, final, **kw)


def _table(root):
    runs = load_runs(root)
    return decomposition_table(planned_data(runs.frame, runs.runs, [RANGE]), reps=200).data


def test_steps_are_differences_of_arm_means_and_add_up_to_the_total(tmp_path):
    # Mean normalised finals per arm on HalfCheetah / Hopper (range 0..1000).
    _arm(tmp_path, "npg_exact", {HC: [100, 200, 300], HOP: [100, 100, 100]})  # 0.2 / 0.1
    _arm(tmp_path, "cgexact_d0.01", {HC: [500, 600], HOP: [400, 400]}, **CONVERGED)  # .55 / .4
    _arm(tmp_path, "cg10_d0.01", {HC: [300, 300], HOP: [300, 500]})  # 0.3 / 0.4
    _arm(tmp_path, "npg_cg", {HC: [400, 400, 400], HOP: [200, 200, 200]})  # 0.4 / 0.2
    table = _table(tmp_path)
    path = table[(table["path"] == "estimator first") & (table["metric"] == "final return")]
    assert list(path["arms"]) == [
        "npg_exact -> cgexact_d0.01",
        "cgexact_d0.01 -> cg10_d0.01",
        "cg10_d0.01 -> npg_cg",
        "npg_exact -> npg_cg",
    ]
    # Steps per task: HalfCheetah .35, -.25, .1 (total .2); Hopper .3, 0, -.2 (total .1).
    assert list(path["per_task"]) == [
        "HalfCheetah 0.35, Hopper 0.3",
        "HalfCheetah -0.25, Hopper 0",
        "HalfCheetah 0.1, Hopper -0.2",
        "HalfCheetah 0.2, Hopper 0.1",
    ]
    assert list(path["value"]) == pytest.approx([0.325, -0.125, -0.05, 0.15])
    assert path["value"].iloc[:3].sum() == pytest.approx(path["value"].iloc[3])
    assert path["share"].iloc[:3].sum() == pytest.approx(1.0)
    assert (path["ci_lo"] <= path["value"] + 1e-12).all()
    assert (path["value"] <= path["ci_hi"] + 1e-12).all()
    assert path["runs"].iloc[0] == "HalfCheetah 3/2/2/3, Hopper 3/2/2/3"
    other = table[table["path"] == "damping first"]
    assert set(other["note"]) == {"not yet: no runs of exact_d0.1"}


def test_a_task_missing_one_arm_of_the_path_is_left_out_of_every_step(tmp_path):
    _arm(tmp_path, "npg_exact", {HC: [100, 200], HOP: [100, 100]})
    _arm(tmp_path, "cgexact_d0.01", {HC: [500, 600]}, **CONVERGED)
    _arm(tmp_path, "cg10_d0.01", {HC: [300, 300], HOP: [300, 500]})
    _arm(tmp_path, "npg_cg", {HC: [400, 400], HOP: [200, 200]})
    table = _table(tmp_path)
    path = table[(table["path"] == "estimator first") & (table["metric"] == "final return")]
    assert path["per_task"].str.startswith("HalfCheetah").all()
    assert not path["per_task"].str.contains("Hopper").any()


def test_no_interval_while_an_arm_has_a_single_run_on_a_task(tmp_path):
    _arm(tmp_path, "npg_exact", {HC: [100, 200, 300]})
    _arm(tmp_path, "cgexact_d0.01", {HC: [500]}, **CONVERGED)
    _arm(tmp_path, "cg10_d0.01", {HC: [300, 350]})
    _arm(tmp_path, "npg_cg", {HC: [400, 420]})
    path = _table(tmp_path).query("path == 'estimator first'")
    assert path["value"].notna().all() and path["ci_lo"].isna().all()
