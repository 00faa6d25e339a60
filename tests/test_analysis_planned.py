"""The planned cross-suite analyses (ablation F3, step-size sensitivity F4, param_scale
invariance F5, held-out step ratios) on synthetic run directories with chosen final returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import planned_run
from npgbench.analysis.claims.ablation import factor_table
from npgbench.analysis.claims.heldout import heldout_table
from npgbench.analysis.claims.planned import planned_data
from npgbench.analysis.claims.reparam import CHANGE_TEST, reparam_curves, reparam_table
from npgbench.analysis.claims.sensitivity import RELATIVE, sensitivity_table, step_size_points
from npgbench.analysis.data.load import load_runs
from npgbench.analysis.stats.summary import SuiteInfo

HC, HOP = "HalfCheetah-v5", "Hopper-v5"
RANGE = SuiteInfo(score_ranges={e: {"min": 0.0, "max": 1000.0} for e in (HC, HOP)})


def _data(root):
    runs = load_runs(root)
    return planned_data(runs.frame, runs.runs, [RANGE])


def _arm(root, arm, finals: dict, **kw):
    for env, values in finals.items():
        for seed, final in enumerate(values):
            planned_run(root, arm, env, seed, final, **kw)


def _row(table, comparison: str, metric: str = "final return"):
    data = table.data
    hit = data[(data["x"] + " vs " + data["y"] == comparison) & (data["metric"] == metric)]
    assert len(hit) == 1, comparison
    return hit.iloc[0]


def test_reference_arm_is_found_by_config_across_suites_with_hand_computed_values(tmp_path):
    # HalfCheetah: X = 10..50, Y = 5..45 -> 15 of 25 pairs won, P = 0.6; Hopper: X above all.
    _arm(tmp_path, "exact_d0.1", {HC: [10, 20, 30, 40, 50], HOP: [600, 610, 620, 630, 640]})
    _arm(tmp_path, "npg_exact", {HC: [5, 15, 25, 35, 45], HOP: [100, 110, 120, 130, 140]})
    row = _row(factor_table(_data(tmp_path)), "exact_d0.1 vs npg_exact")
    assert row["value"] == pytest.approx(0.8)
    assert row["per_task"] == "HalfCheetah 0.6 (5 vs 5), Hopper 1 (5 vs 5)"
    # Mean difference of normalised finals (range 0..1000): 5 / 1000 and 500 / 1000.
    assert row["per_task_diff"] == "HalfCheetah 0.005, Hopper 0.5"
    assert row["differs"] == "update.damping 0.1 vs 0.01"
    assert row["family"] == "F3" and np.isfinite(row["p_holm"]) and row["p_holm"] >= row["p"]
    assert row["verdict"].startswith("interim")  # the other planned arms are missing


def test_an_arm_that_differs_in_another_setting_is_not_a_reference(tmp_path):
    _arm(tmp_path, "exact_d0.1", {HC: [10, 20, 30, 40, 50]})
    _arm(tmp_path, "npg_exact", {HC: [5, 15, 25, 35, 45]}, update={"backtrack_coeff": 0.5})
    row = _row(factor_table(_data(tmp_path)), "exact_d0.1 vs npg_exact")
    assert row["verdict"].startswith("not tested (no exact_d0.1 / npg_exact arms differing only")
    assert not np.isfinite(row["value"])


def test_missing_reference_arm_is_not_tested_and_kept_out_of_holm(tmp_path):
    _arm(tmp_path, "cgexact_d0.1", {HC: [10, 20, 30, 40, 50]}, cg_residual=np.full(24, 0.004))
    _arm(tmp_path, "npg_cg", {HC: [5, 15, 25, 35, 45]}, cg_residual=np.full(24, 0.5))
    table = factor_table(_data(tmp_path))
    missing = _row(table, "cgexact_d0.1 vs exact_d0.1")
    assert missing["verdict"] == "not tested (no runs of exact_d0.1)"
    assert not np.isfinite(missing["p_holm"])
    tested = table.data[table.data["p_holm"].notna()]
    # Only the truncation comparison at 0.1 (2 metrics) is in the family: Holm over 2 tests.
    assert set(tested["x"] + " vs " + tested["y"]) == {"cgexact_d0.1 vs npg_cg"}
    assert (tested["p_holm"] == np.minimum(1, 2 * tested["p"].min())).any()
    truncation = _row(table, "cgexact_d0.1 vs npg_cg")
    assert truncation["residual_x"].startswith("0.004 (converged")


def test_unconverged_cg_arm_is_flagged(tmp_path):
    _arm(tmp_path, "cgexact_d0.1", {HC: [10, 20, 30, 40, 50]}, cg_residual=np.full(24, 0.05))
    _arm(tmp_path, "npg_cg", {HC: [5, 15, 25, 35, 45]}, cg_residual=np.full(24, 0.5))
    row = _row(factor_table(_data(tmp_path)), "cgexact_d0.1 vs npg_cg")
    assert "NOT converged" in row["residual_x"] and row["verdict"].endswith("CG not converged")


def test_fewer_than_five_runs_per_arm_gives_no_verdict(tmp_path):
    _arm(tmp_path, "kfac_nodecay", {HC: [100, 200, 300, 400]})
    _arm(tmp_path, "npg_kfac", {HC: [1, 2, 3, 4, 5]})
    row = _row(factor_table(_data(tmp_path)), "kfac_nodecay vs npg_kfac")
    assert row["value"] == 1.0 and np.isfinite(row["p"])
    assert "no verdict (fewer than 5 runs" in row["verdict"]
    assert not np.isfinite(row["p_holm"])


def test_same_experiment_recorded_twice_counts_once(tmp_path):
    # cg10_d0.01 with and without diagnostics (another suite): one arm, one run per seed.
    _arm(tmp_path, "cg10_d0.01", {HC: [10, 20, 30, 40, 50]}, measured=True)
    _arm(tmp_path, "cg10_d0.01", {HC: [10, 20, 30, 40, 50]}, suite="damping", label="npg_cg")
    _arm(tmp_path, "npg_cg", {HC: [5, 15, 25, 35, 45]})
    data = _data(tmp_path)
    row = _row(factor_table(data), "cg10_d0.01 vs npg_cg")
    assert row["n"] == "5 vs 5 on 1 tasks"
    arm = next(a for a in data.arms if "cg10_d0.01 (ablation-1m)" in a.labels)
    assert arm.duplicates == 5


def test_step_size_spread_and_worst_case_per_seed(tmp_path):
    # npg_cg: seed s has finals 500 / 600 / 700 + 10 s at delta 0.003 / 0.01 / 0.03:
    # spread 0.2, worst 0.5 + 0.01 s. vanilla_kl: 100 / 600 / 900: spread 0.8, worst 0.1.
    for delta, level in ((0.003, 500), (0.01, 600), (0.03, 700)):
        _arm(
            tmp_path,
            "npg_cg",
            {HOP: [level + 10 * s for s in range(5)]},
            update={"kl_delta": delta},
        )
    for delta, level in ((0.003, 100), (0.01, 600), (0.03, 900)):
        _arm(tmp_path, "vanilla", {HOP: [level + s for s in range(5)]}, update={"kl_delta": delta})
    # A seed without every step size does not count.
    planned_run(tmp_path, "npg_cg", HOP, 7, 999.0, update={"kl_delta": 0.03})
    data = sensitivity_table(_data(tmp_path), reps=200).data.set_index(["method", "statistic"])
    spread, worst = data.loc[("npg_cg", "spread")], data.loc[("npg_cg", "worst case")]
    assert spread["per_task_mean"] == "Hopper 0.2 (5)"
    assert spread["aggregate"] == pytest.approx(0.2)
    assert worst["aggregate"] == pytest.approx(0.52)
    assert spread["value"] == 1.0 and worst["value"] == 1.0  # better on both, every seed
    assert spread["family"] == "F4" and spread["n"] == "5 vs 5 seeds on 1 tasks"
    assert data.loc[("vanilla_kl", "spread"), "verdict"].startswith("reference")
    assert data.loc[("npg_exact", "spread"), "verdict"].startswith("not tested")


def test_step_size_points_share_one_relative_axis_and_draw(tmp_path):
    # npg_cg at kl_delta 0.003 / 0.01 / 0.03 lands on 0.3 / 1 / 3, ppo at lr 1e-4 / 3e-4 / 1e-3
    # on 1/3 / 1 / 10/3: one axis (over each default), means of normalised finals.
    for delta, level in ((0.003, 500), (0.01, 600), (0.03, 700)):
        _arm(tmp_path, "npg_cg", {HOP: [level, level + 100]}, update={"kl_delta": delta})
    for lr, level in ((1e-4, 100), (3e-4, 200), (1e-3, 300)):
        _arm(tmp_path, "ppo", {HOP: [level, level]}, update={"lr": lr})
    points = step_size_points(_data(tmp_path))
    assert set(points["key"]) == {RELATIVE}
    got = {(g, round(v, 2)): m for g, v, m in points[["group", "value", "final_mean"]].values}
    assert got == pytest.approx(
        {("npg_cg", 0.3): 0.55, ("npg_cg", 1.0): 0.65, ("npg_cg", 3.0): 0.75,
         ("ppo", 0.33): 0.1, ("ppo", 1.0): 0.2, ("ppo", 3.33): 0.3}
    )  # fmt: skip
    from npgbench.analysis.report.study_figures import sensitivity_figures

    (figure,) = sensitivity_figures(points)
    assert figure.name == "step_size_f4"
    assert figure.draw().axes[0].get_ylabel() == "normalised final return"
    assert sensitivity_figures(points[points["value"] == 1.0]) == []  # one step size each


def test_param_scale_change_and_effect_with_predictions(tmp_path):
    # npg_exact barely moves at s = 10 (|change| 0.01 per seed); vanilla_kl drops by 0.3 + ...
    for arm, drop in (("npg_exact", 10), ("vanilla", 300)):
        one = [500 + 20 * s for s in range(5)]
        _arm(tmp_path, arm, {HOP: one})
        _arm(tmp_path, arm, {HOP: [v - drop - s for s, v in enumerate(one)]}, policy={"param_scale": 10.0})  # fmt: skip
    table = reparam_table(_data(tmp_path))
    data = table.data.set_index(["reparameterisation", "arm", "test"])
    change = data.loc[("param_scale", "npg_exact", CHANGE_TEST)]
    assert change["value"] == 1.0 and change["family"] == "F5"
    assert change["per_task_diff"] == "Hopper 0.012"  # mean of (10 + s) / 1000 over s = 0..4
    assert change["predicted"].startswith("invariant up to damping")
    effect = data.loc[("param_scale", "vanilla_kl", "final: s=10 vs s=1")]
    assert effect["family"] == "F5 effect" and effect["value"] < 0.5
    missing = data.loc[("param_scale", "npg_kfac", "final / AUC: s=10 vs s=1"), "verdict"]
    assert missing == "not tested (no runs of npg_kfac at s=10 and npg_kfac at s=1)"


def test_std_param_change_is_the_mean_over_its_alternatives_in_one_holm_family(tmp_path):
    # npg_exact: softplus +10, identity -30 per seed (mean |change| 0.02); vanilla_kl: +200 and
    # -400 (0.3). param_scale as in the test above. F5's Holm spans both families.
    one = [500 + 20 * s for s in range(5)]
    for arm, up, down in (("npg_exact", 10, 30), ("vanilla", 200, 400)):
        _arm(tmp_path, arm, {HOP: one})
        _arm(tmp_path, arm, {HOP: [v + up for v in one]}, policy={"std_param": "softplus"})
        _arm(tmp_path, arm, {HOP: [v - down for v in one]}, policy={"std_param": "identity"})
        _arm(tmp_path, arm, {HOP: [v - 3 * up for v in one]}, policy={"param_scale": 10.0})
    data = reparam_table(_data(tmp_path)).data.set_index(["reparameterisation", "arm", "test"])
    std = data.loc[("std_param", "npg_exact", CHANGE_TEST)]
    assert std["per_task_diff"] == "Hopper 0.02" and std["value"] == 1.0
    assert data.loc[("std_param", "vanilla_kl", CHANGE_TEST), "per_task_diff"] == "Hopper 0.3"
    scale = data.loc[("param_scale", "npg_exact", CHANGE_TEST)]
    assert scale["p"] == std["p"]  # every seed smaller in both: the same exact p
    assert scale["p_holm"] == pytest.approx(2 * scale["p"])  # two tests in family F5
    # Effects by pairs of seeds i, j (finals 500 + 20 i): identity wins where 20 (i - j) > 30
    # (6 of 25 pairs), softplus where 20 (i - j) + 10 > 0 (15 of 25).
    effect = data.loc[("std_param", "npg_exact", "final: identity vs log")]
    assert effect["value"] == pytest.approx(0.24) and effect["family"] == "F5 effect"
    assert data.loc[("std_param", "npg_exact", "final: softplus vs log"), "value"] == 0.6


def test_std_param_with_one_alternative_or_seed_missing(tmp_path):
    # npg_exact has softplus on seeds 0-4 but identity on 0-3 only: the effects of softplus
    # stand; the change counts seeds 0-3 (n 4). vanilla_kl has no identity arm: its change
    # and every natural-gradient arm's test say why. A run at another initial std (the older
    # `invariance` suite's exp(-0.5)) is no twin.
    one = [500 + 20 * s for s in range(5)]
    _arm(tmp_path, "npg_exact", {HOP: one})
    _arm(tmp_path, "npg_exact", {HOP: [v + 10 for v in one]}, policy={"std_param": "softplus"})
    _arm(tmp_path, "npg_exact", {HOP: one[:4]}, policy={"std_param": "identity"})
    _arm(tmp_path, "vanilla", {HOP: one})
    _arm(tmp_path, "vanilla", {HOP: one}, policy={"std_param": "softplus"})
    _arm(tmp_path, "vanilla", {HOP: one}, policy={"std_param": "identity", "init_std": 0.6})
    data = reparam_table(_data(tmp_path)).data.set_index(["reparameterisation", "arm", "test"])
    assert (
        data.loc[("std_param", "npg_exact", "final: softplus vs log"), "n"] == "5 vs 5 on 1 tasks"
    )
    assert (
        data.loc[("std_param", "npg_exact", "final: identity vs log"), "n"] == "4 vs 5 on 1 tasks"
    )
    change = data.loc[("std_param", "npg_exact", CHANGE_TEST)]
    assert change["per_task_diff"] == "Hopper 0.005"  # (10 + 0) / 2 / 1000 on seeds 0-3
    assert change["verdict"] == "not tested (vanilla_kl: no runs of vanilla_kl at identity)"
    assert data.loc[("std_param", "vanilla_kl", "final: softplus vs log"), "value"] == 0.5


def test_param_scale_curves_pair_each_arm_on_one_grid_across_suites(tmp_path):
    # s = 1 in controlled-1m, s = 10 in invariance-scale-1m: the twins' evaluation curves
    # share one step grid (one panel per arm), and each ends at its runs' mean final.
    _arm(tmp_path, "npg_exact", {HOP: [500, 520, 540]}, suite="controlled-1m")
    _arm(tmp_path, "npg_exact", {HOP: [100, 120, 140]}, suite="invariance-scale-1m", policy={"param_scale": 10.0})  # fmt: skip
    _arm(tmp_path, "npg_cg", {HOP: [300]})  # no s = 10 twin: no panel
    runs = load_runs(tmp_path)
    families = reparam_curves(runs.frame, planned_data(runs.frame, runs.runs, [RANGE]), 101)
    assert list(families) == ["param_scale"]
    curves = families["param_scale"]
    assert set(curves["panel"]) == {"npg_exact | Hopper-v5"}
    assert curves.groupby("group")["run_id"].nunique().to_dict() == {"s=1": 3, "s=10": 3}
    assert curves.groupby("group")["x"].apply(lambda x: tuple(sorted(set(x)))).nunique() == 1
    last = curves[curves["x"] == curves["x"].max()].groupby("group")["value"].mean()
    assert last.to_dict() == pytest.approx({"s=1": 520.0, "s=10": 120.0})
    # Linear between evaluations, not forward-filled: 101 grid points over 24 evaluations
    # would repeat values on a staircase; on the rise every step of the grid goes up.
    one_run = curves[curves["run_id"] == curves["run_id"].iloc[0]].sort_values("x")
    rise = one_run["value"].to_numpy()[: int(0.8 * len(one_run))]
    assert (np.diff(rise) > 0).all()
    from npgbench.analysis.report.study_figures import reparam_figures

    (figure,) = reparam_figures(families)
    ax = figure.draw().axes[0]
    labels = sorted(line.get_label() for line in ax.get_lines() if "s=" in line.get_label())
    assert figure.name == "param_scale_curves" and labels == ["s=1 (n=3)", "s=10 (n=3)"]
    assert reparam_figures({}) == []


def test_runs_under_the_protocol_go_to_f4_f5_not_to_the_per_suite_tables(tmp_path):
    # invariance-hopper's log arm is controlled-1m's run: compared across suites in F5, with
    # its curves figure; the per-suite std_param table (training returns) leaves them out.
    from npgbench.analysis.report.command import main

    root = tmp_path / "runs"
    _arm(root, "npg_exact", {HOP: [500, 520, 540]}, suite="controlled-1m")
    _arm(root, "vanilla", {HOP: [450, 460, 470]}, suite="controlled-1m")  # claims table
    for std in ("softplus", "identity"):
        _arm(root, "npg_exact", {HOP: [400, 420]}, suite="invariance-hopper", policy={"std_param": std})  # fmt: skip
    # The same for a step-size sweep: F4 (with its figure), not the per-suite table.
    for delta in (0.003, 0.03):
        _arm(root, "npg_cg", {HOP: [300, 320]}, suite="sensitivity-1m", update={"kl_delta": delta})
    assert main([str(root), "--out", str(tmp_path / "rep"), "--reps", "100"]) == 0
    out = tmp_path / "rep"
    assert not list((out / "tables").glob("*step_size_sensitivity.csv"))
    assert (out / "figures" / "step_size_f4.png").is_file()
    assert not list((out / "tables").glob("*std_param_invariance.csv"))
    assert (out / "figures" / "std_param_f5_curves.png").is_file()
    f5 = (out / "tables" / "reparam_invariance.csv").read_text()
    assert "final: softplus vs log" in f5 and "final: identity vs log" in f5
    # Nor do these runs make the claims table's per-suite invariance row (training returns).
    claims = pd.read_csv(out / "tables" / "controlled-1m__claims.csv")
    invariance = claims[claims["claim"].str.startswith("parameterisation invariance")]
    assert len(invariance) and not invariance["comparison"].str.contains("softplus").any()


def test_runs_under_the_protocol_that_f4_does_not_compare_keep_the_per_suite_table(tmp_path):
    # npg_cg at kl_delta 0.001 and 0.1 is outside F4's 0.003 / 0.01 / 0.03: only the per-suite
    # step-size table shows it.
    from npgbench.analysis.report.command import main

    root = tmp_path / "runs"
    for delta in (0.001, 0.1):
        _arm(root, "npg_cg", {HOP: [300, 320]}, suite="sensitivity", update={"kl_delta": delta})
    assert main([str(root), "--out", str(tmp_path / "rep"), "--reps", "100"]) == 0
    (table,) = (tmp_path / "rep" / "tables").glob("*step_size_sensitivity.csv")
    row = pd.read_csv(table).iloc[0]
    assert (row["group"], row["values"], row["lo"], row["hi"]) == ("npg_cg", 2, 0.001, 0.1)


def test_heldout_ratios_per_arm(tmp_path):
    _arm(tmp_path, "cg10_d0.01", {HC: [10, 20, 30]}, measured=True)
    _arm(tmp_path, "npg_cg", {HC: [5, 15, 25]})
    table = heldout_table(_data(tmp_path))
    assert len(table.data) == 1  # only the arm that logs the diagnostics
    rec = table.data.iloc[0]
    # Fixture columns: gain 0.005 held out / 0.02 in-sample, KL 0.02 / 0.01 / 0.015, delta 0.01.
    assert rec["gain_ratio"] == pytest.approx(0.25)
    assert rec["kl_heldout_ratio"] == pytest.approx(2.0)
    assert rec["kl_fresh_ratio"] == pytest.approx(1.5)
    assert rec["runs"] == 3


def test_report_has_the_section_only_for_runs_under_the_protocol(tmp_path, capsys):
    from analysis_fixtures import synthetic_results
    from npgbench.analysis.report.command import main
    from npgbench.analysis.report.study import planned_section, planned_tables
    from npgbench.analysis.stats.summary import Options

    root = tmp_path / "runs"
    _arm(root, "exact_d0.1", {HOP: [10, 20, 30]})
    _arm(root, "npg_exact", {HOP: [5, 15, 25]})
    assert main([str(root), "--out", str(tmp_path / "rep"), "--reps", "100"]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Planned experiments across suites" in text
    assert "not tested (no runs of cgexact_d0.01)" in text
    assert "no verdict (fewer than 5 runs per arm and task)" in text
    for name in ("ablation_factors", "step_size_family", "reparam_invariance"):
        assert (tmp_path / "rep" / "tables" / f"{name}.csv").is_file()
    other = load_runs(synthetic_results(tmp_path / "other", envs=("EnvA-v5",), seeds=(0,)))
    data = planned_data(other.frame, other.runs, [])
    assert planned_tables(data, other.frame, Options()) == []
    assert planned_section([], tmp_path / "figures") == []


def test_a_comparison_on_fewer_tasks_than_its_arms_have_is_interim(tmp_path):
    # Every planned arm has 5 runs on HalfCheetah, and every run directory is complete; only
    # exact_d0.1 has also run on Hopper. The comparisons with it cover a task its partners
    # have not run yet, so the family is interim; without that Hopper task it is final.
    arms = ("npg_exact", "exact_d0.1", "cgexact_d0.01", "cgexact_d0.1", "cg10_d0.01", "npg_cg",
            "kfac_nodecay", "npg_kfac", "cg_kl0.0065", "trpo")  # fmt: skip
    for arm in arms:
        residual = {"cg_residual": np.full(24, 0.004)} if arm.startswith("cgexact") else {}
        _arm(tmp_path, arm, {HC: [10, 20, 30, 40, 50]}, **residual)
    row = _row(factor_table(_data(tmp_path)), "cgexact_d0.1 vs exact_d0.1")
    assert not row["verdict"].startswith("interim")
    _arm(tmp_path, "exact_d0.1", {HOP: [5, 15, 25, 35, 45]})
    row = _row(factor_table(_data(tmp_path)), "cgexact_d0.1 vs exact_d0.1")
    assert row["per_task"] == "HalfCheetah 0.5 (5 vs 5)"
    assert row["verdict"].startswith("interim: ")


def test_f5_arms_keep_only_the_tasks_they_are_compared_on(tmp_path):
    # controlled-1m's npg_exact runs on two tasks, its param_scale twin on Hopper only: F5's
    # estimator and interim state must not depend on the HalfCheetah runs.
    from npgbench.analysis.claims.reparam_twins import PARAM_SCALE, found_twins

    _arm(tmp_path, "npg_exact", {HC: [10, 20], HOP: [500, 520]}, suite="controlled-1m")
    _arm(tmp_path, "npg_exact", {HOP: [50, 60]}, suite="invariance-scale-1m", policy={"param_scale": 10.0})  # fmt: skip
    found = found_twins(_data(tmp_path))[(PARAM_SCALE, "npg_exact")]
    assert found.base.tasks() == [HOP] and found.arms[10.0].tasks() == [HOP]
    assert len(found.base.runs[HOP]) == 2


def test_f4_compares_only_tasks_with_two_step_sizes(tmp_path):
    # controlled-1m's npg_cg (the middle step size) runs on HalfCheetah and Hopper; the sweep's
    # other step sizes on Hopper only: HalfCheetah's runs are no part of F4.
    from npgbench.analysis.claims.sensitivity import found_sweeps

    _arm(tmp_path, "npg_cg", {HC: [10, 20], HOP: [300, 310]})
    for delta in (0.003, 0.03):
        _arm(tmp_path, "npg_cg", {HOP: [250, 260]}, suite="sensitivity-1m", update={"kl_delta": delta})  # fmt: skip
    found, used, finals = found_sweeps(_data(tmp_path))
    assert [arm.tasks() for arm in found["npg_cg"]] == [[HOP]] * 3
    assert len(finals.values) == 6  # 3 step sizes x 2 seeds, Hopper only


def test_f5_reads_interim_until_param_scale_has_its_second_task(tmp_path):
    from npgbench.analysis.claims.reparam_twins import PARAM_SCALE, found_twins

    _arm(tmp_path, "npg_exact", {HOP: [500, 520]}, suite="controlled-1m")
    _arm(tmp_path, "npg_exact", {HOP: [50, 60]}, suite="invariance-scale-1m", policy={"param_scale": 10.0})  # fmt: skip
    found = found_twins(_data(tmp_path))[(PARAM_SCALE, "npg_exact")]
    assert found.complete and not found.on_every_task(PARAM_SCALE.tasks)
    assert found.on_every_task(("Hopper-v5",))
