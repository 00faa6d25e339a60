"""Experiment sections: std_param invariance, step-size sensitivity, damping, Fisher fidelity
and fisher-cost scaling, on hand-computable synthetic runs; then one report end to end."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import experiment_results, fisher_cost_csv, synthetic_results, write_run
from matplotlib import image
from npgbench.analysis.claims import experiments, fisher_experiments
from npgbench.analysis.data.load import load_runs, read_fisher_cost
from npgbench.analysis.data.variants import comparisons
from npgbench.analysis.figures import experiments as experiment_plots
from npgbench.analysis.figures import plots
from npgbench.analysis.report import tables
from npgbench.analysis.report.command import main
from npgbench.analysis.stats.summary import Options, SuiteInfo, summarise_runs

NAN = math.nan
ENV = "EnvA-v5"
SUITE_RANGE = SuiteInfo(score_ranges={ENV: {"min": 0.0, "max": 1000.0}})


def loaded(root, suite=SUITE_RANGE):
    """(frame, runs, per-run summary, score ranges) of the runs under root."""
    rs = load_runs(root)
    summary, ranges, _ = summarise_runs(rs.frame, suite, Options(reps=20))
    return rs.frame, rs.runs, summary, ranges


def run(root, algo, seed, returns, config, **kw):
    return write_run(root, algo, ENV, seed, returns, suite="s", config=config, **kw)


# ----------------------------------------------------------------------------- pure functions


def test_curve_spread_is_mean_range_over_common_points_over_score_range():
    means_PX = [[0.0, 10.0, 20.0, NAN], [0.0, 20.0, 40.0, 50.0]]
    # The last point lacks a curve: ranges 0, 10, 20 -> mean 10 -> / 100.
    assert experiments.curve_spread(means_PX, 0.0, 100.0) == pytest.approx(0.1)
    three = [[1.0, 1.0], [4.0, 2.0], [2.0, 5.0]]  # ranges 3, 4 -> 3.5
    assert experiments.curve_spread(three, -5.0, 5.0) == pytest.approx(0.35)
    assert math.isnan(experiments.curve_spread([[1.0, 2.0]], 0.0, 1.0))  # one curve
    assert math.isnan(experiments.curve_spread(means_PX, 1.0, 1.0))


def test_near_best_range_is_the_contiguous_block_around_the_best():
    # Unsorted input; sorted: 0.001 -> 50, 0.01 -> 95, 0.1 -> 100, 1 -> 40.
    r = experiments.near_best_range([0.1, 0.001, 1.0, 0.01], [100, 50, 40, 95], tol=10.0)
    assert (r["best_value"], r["best_final"], r["lo"], r["hi"]) == (0.1, 100.0, 0.01, 0.1)
    assert r["ratio"] == pytest.approx(10.0) and r["orders"] == pytest.approx(1.0)
    assert not r["lo_edge"] and not r["hi_edge"]
    # 0.001 is near the best too but cut off by 0.01: not in the block; the block hits the top.
    r = experiments.near_best_range([0.001, 0.01, 0.1, 1.0], [99, 50, 100, 95], tol=10.0)
    assert (r["lo"], r["hi"], r["lo_edge"], r["hi_edge"]) == (0.1, 1.0, False, True)
    # A NaN final (no episode ended) never qualifies.
    r = experiments.near_best_range([1.0, 2.0, 4.0], [NAN, 10.0, 9.5], tol=1.0)
    assert (r["lo"], r["hi"], r["ratio"]) == (2.0, 4.0, 2.0)
    # Negative returns: best -100, tol 10 -> -108 qualifies, -115 does not.
    r = experiments.near_best_range([1.0, 2.0, 4.0], [-100, -108, -115], tol=10.0)
    assert (r["lo"], r["hi"], r["lo_edge"]) == (1.0, 2.0, True)
    assert math.isnan(experiments.near_best_range([1.0], [NAN], 1.0)["best_value"])


def test_tolerance_is_a_tenth_of_abs_best():
    assert experiments.tolerance(250.0)[0] == pytest.approx(25.0)
    tol, text = experiments.tolerance(-100.0)
    assert tol == pytest.approx(10.0) and "|best|" in text


def test_top_reason_and_fidelity_stats():
    assert fisher_experiments.top_reason(["b", "a", "", "b", "a", None]) == ("a", 2)
    assert fisher_experiments.top_reason(["", ""]) == ("", 0)
    stats = fisher_experiments.fidelity_stats([NAN, 0.9, NAN, 0.7], [NAN, 1.5, NAN, 2.5])
    assert stats == pytest.approx(
        {"cos_mean": 0.8, "cos_min": 0.7, "cos_final": 0.7, "kl_ratio_mean": 2.0, "points": 2}
    )
    assert fisher_experiments.fidelity_stats([NAN], [NAN])["points"] == 0


def test_loglog_fit_exponent_and_range():
    fit = fisher_experiments.loglog_fit([10, 100, 1000], [1.0, 100.0, 10000.0])
    assert fit["exponent"] == pytest.approx(2.0)
    assert (fit["n_min"], fit["n_max"], fit["sizes"]) == (10.0, 1000.0, 3)
    assert math.isnan(fisher_experiments.loglog_fit([10, 10], [1.0, 2.0])["exponent"])


# ----------------------------------------------------------------------------- comparison groups


def test_comparisons_keep_only_runs_that_differ_in_the_key(tmp_path):
    for rule in ("sgd", "kl"):
        for std in ("log", "softplus"):
            run(
                tmp_path,
                "vanilla",
                0,
                [1.0, 2.0],
                {"policy": {"std_param": std}, "update": {"step_rule": rule, "lr": 0.1}},
            )
    # Differs in lr as well: no partner, left out. ppo has one std_param only: left out.
    run(
        tmp_path,
        "vanilla",
        0,
        [1.0, 2.0],
        {"policy": {"std_param": "identity"}, "update": {"step_rule": "kl", "lr": 0.5}},
    )
    run(tmp_path, "ppo", 0, [1.0], {"policy": {"std_param": "log"}})
    # A suite variant joins its algorithm's group; fidelity diagnostics do not split it.
    run(tmp_path, "npg_exact", 0, [1.0], {"policy": {"std_param": "log"}})
    run(
        tmp_path,
        "npg_exact",
        0,
        [1.0],
        {"policy": {"std_param": "softplus"}, "diagnostics": {"fidelity_every": 5}},
        label="npg_exact_softplus",
    )
    cmp = comparisons(load_runs(tmp_path).runs, "policy.std_param")
    got = cmp.groupby("group")["value_text"].apply(list).to_dict()
    assert got == {
        "npg_exact": ["log", "softplus"],
        "vanilla[update.step_rule=kl]": ["log", "softplus"],
        "vanilla[update.step_rule=sgd]": ["log", "softplus"],
    }
    # An env override shared by the env's runs does not rename the group there.
    for std in ("log", "softplus"):
        for env, gamma in (("EnvA-v5", 0.99), ("EnvB-v5", 0.999)):
            write_run(
                tmp_path / "e",
                "trpo",
                env,
                0,
                [1.0],
                suite="s",
                config={"policy": {"std_param": std}, "sampler": {"gamma": gamma}},
            )
    cmp = comparisons(load_runs(tmp_path / "e").runs, "policy.std_param")
    assert set(cmp["group"]) == {"trpo"} and len(cmp) == 4
    # Grid values fill keys a config lacks.
    for delta in (0.01, 0.02):
        write_run(
            tmp_path / "g",
            "npg_cg",
            ENV,
            0,
            [1.0],
            suite="s",
            label=f"npg_cg[update.kl_delta={delta}]",
            grid={"update.kl_delta": delta},
        )
    cmp = comparisons(load_runs(tmp_path / "g").runs, "update.kl_delta")
    assert list(cmp["value"]) == [0.01, 0.02] and set(cmp["group"]) == {"npg_cg"}


# ----------------------------------------------------------------------------- builders


def test_invariance_spread_hand_computed(tmp_path):
    # Constant curves: log 100 / 120 (seeds), softplus 300 / 320 -> means 110 and 310.
    for std, base in (("log", 100.0), ("softplus", 300.0)):
        for seed in (0, 1):
            run(tmp_path, "npg_exact", seed, [base + 20 * seed] * 4, {"policy": {"std_param": std}})
    run(tmp_path, "ppo", 0, [5.0] * 4, {})  # not a std_param comparison
    frame, runs, summary, ranges = loaded(tmp_path)
    table, curves = experiments.invariance(frame, summary, runs, ranges, points=11)
    row = table.data.iloc[0]
    assert (row["group"], row["parameterisations"], row["runs"]) == (
        "npg_exact",
        "log, softplus",
        4,
    )
    assert row["curve_spread_norm"] == pytest.approx(0.2)  # 200 / (1000 - 0)
    assert row["final_range"] == pytest.approx(200.0)
    assert row["final_range_norm"] == pytest.approx(0.2)
    assert row["seed_std_norm"] == pytest.approx(np.std([100, 120], ddof=1) / 1000)
    assert (row["final_log"], row["final_softplus"]) == (110.0, 310.0)
    assert set(curves["group"]) == {"log", "softplus"} and len(curves) == 4 * 11
    assert "max - min over parameterisations" in table.note


def test_step_size_best_and_near_best_range(tmp_path):
    finals = {0.001: 500.0, 0.01: 800.0, 0.03: 730.0, 0.1: 650.0, 0.3: 100.0}  # tol = 80
    for delta, final in finals.items():
        for seed in (0, 1):
            run(
                tmp_path,
                "npg_cg",
                seed,
                [final] * 3,
                {"update": {"kl_delta": delta}},
                label=f"npg_cg[update.kl_delta={delta}]",
                grid={"update.kl_delta": delta},
            )
    for iters in (5, 10):  # swept, but not a step size: sensitivity table only
        run(
            tmp_path,
            "npg_cg",
            0,
            [1.0] * 3,
            {"update": {"kl_delta": 0.5, "cg_iters": iters}},
            grid={"update.cg_iters": iters},
        )
    frame, runs, summary, ranges = loaded(tmp_path)
    table, long = experiments.step_size(summary, runs, ranges)
    row = table.data.iloc[0]
    assert len(table.data) == 1 and row["key"] == "update.kl_delta" and row["values"] == 5
    # tol = 10% of |best| = 80: 730 >= 720 is near the best, 650 is not.
    assert (row["best_value"], row["best_final"], row["lo"], row["hi"]) == (0.01, 800.0, 0.01, 0.03)
    assert row["ratio"] == pytest.approx(3.0) and row["orders"] == pytest.approx(math.log10(3))
    assert list(long["final_mean"]) == list(finals.values())
    # The suite's score range does not widen it (10% of a 0..1000 range would admit 710).
    _, _, summary, ranges = loaded(tmp_path, SuiteInfo())
    row = experiments.step_size(summary, runs, ranges)[0].data.iloc[0]
    assert (row["lo"], row["hi"]) == (0.01, 0.03)
    sens = tables.sensitivity(summary, runs).data
    assert list(sens["key"].unique()) == ["update.cg_iters", "update.kl_delta"]
    assert list(sens[sens["key"] == "update.kl_delta"]["value"]) == [str(d) for d in finals]


def test_damping_cond_and_skips(tmp_path):
    cond = {0: [100.0, 300.0], 1: [400.0, NAN]}  # per-run means 200, 400 (pooled 267); max 400
    skipped = {0: [False, True], 1: [True, True]}  # rates 0.5, 1.0
    reasons = {0: ["", "non-finite x"], 1: ["cholesky failed", "non-finite x"]}
    for damping in (0.01, 0.1):
        for seed in (0, 1):
            run(
                tmp_path,
                "npg_exact",
                seed,
                [10 * damping, 100 * damping + seed],
                {"update": {"damping": damping}},
                fisher_cond=cond[seed],
                skipped=skipped[seed],
                skip_reason=reasons[seed],
            )
    frame, runs, summary, _ = loaded(tmp_path)
    data = fisher_experiments.damping(frame, summary, runs).data.set_index("damping")
    assert list(data.index) == [0.01, 0.1] and (data["seeds"] == 2).all()
    assert data.loc[0.1, "final_mean"] == pytest.approx(10.5)
    assert data.loc[0.01, "cond_mean"] == 300.0 and data.loc[0.01, "cond_max"] == 400.0
    assert data.loc[0.01, "skipped_rate"] == pytest.approx(0.75)
    assert tuple(data.loc[0.01, ["top_skip_reason", "top_skip_count"]]) == ("non-finite x", 2)
    # No fisher_cond column at all: NaN, and the table still builds.
    for damping in (0.01, 0.1):
        run(tmp_path / "b", "npg_cg", 0, [1.0, 2.0], {"update": {"damping": damping}})
    frame, runs, summary, _ = loaded(tmp_path / "b")
    data = fisher_experiments.damping(frame, summary, runs).data
    assert data["cond_mean"].isna().all() and data["cond_max"].isna().all()
    assert (data["top_skip_reason"] == "").all() and (data["skipped_rate"] == 0).all()


def test_fidelity_table(tmp_path):
    run(
        tmp_path,
        "npg_kfac",
        0,
        [1.0] * 4,
        {},
        fidelity_cosine=[0.9, NAN, 0.7, NAN],
        fidelity_kl_ratio=[1.0, NAN, 3.0, NAN],
        fidelity_cosine_own=[1.0, NAN, 0.8, NAN],
        fidelity_kl_ratio_own=[1.0, NAN, 2.0, NAN],
    )
    run(
        tmp_path,
        "npg_kfac",
        1,
        [1.0] * 4,
        {},
        fidelity_cosine=[NAN, 0.5, NAN, 0.6],
        fidelity_kl_ratio=[NAN, 1.0, NAN, 1.0],
    )
    run(tmp_path, "ppo", 0, [1.0] * 4, {})  # no fidelity: left out
    frame, _, _, _ = loaded(tmp_path)
    row = fisher_experiments.fidelity(frame).data.iloc[0]
    assert (row["group"], row["seeds"], row["points"]) == ("npg_kfac", 2, 4)
    assert row["cos_mean"] == pytest.approx((0.8 + 0.55) / 2)
    assert row["cos_min"] == pytest.approx(0.5)
    assert row["cos_final"] == pytest.approx((0.7 + 0.6) / 2)
    assert row["kl_ratio_mean"] == pytest.approx((2.0 + 1.0) / 2)
    # own-damping reference: seed 1 predates it (no columns), so seed 0's means alone
    assert row["cos_own_mean"] == pytest.approx(0.9)
    assert row["kl_ratio_own_mean"] == pytest.approx(1.5)
    shown = fisher_experiments.fidelity(frame).view.iloc[0]
    assert shown["cos mean (own damping)"] == "0.9"
    # the figure: a dashed line against the own damping model, as it differs here
    styles = {ln.get_label(): ln.get_linestyle() for ln in experiment_plots.fidelity_cosine(
        frame, ENV).get_lines()}  # fmt: skip
    assert styles == {"npg_kfac": "-", "npg_kfac (own damping)": "--"}
    same = frame.assign(fidelity_cosine_own=frame["fidelity_cosine"])  # own model = lambda I
    lines = experiment_plots.fidelity_cosine(same, ENV).get_lines()
    assert [ln.get_label() for ln in lines] == ["npg_kfac"]
    assert fisher_experiments.fidelity(frame[frame["algo"] == "ppo"]) is None


def test_cost_scaling_reads_the_benchmark_csv(tmp_path):
    points = read_fisher_cost(fisher_cost_csv(tmp_path / "fisher_cost.csv"))
    raw = pd.read_csv(tmp_path / "fisher_cost.csv")
    assert list(points["seconds"]) == list(raw["seconds_total"])  # not seconds_fit
    data = fisher_experiments.cost_scaling(points).data.set_index("method")
    assert data.loc["exact_dense", "exponent"] == pytest.approx(3.0)
    assert data.loc["cg", "exponent"] == pytest.approx(1.0)
    assert data.loc["diagonal", "exponent_largest3"] == pytest.approx(1.0)
    assert (data.loc["cg", "n_min"], data.loc["cg", "n_max"]) == (1000.0, 8000.0)
    assert data.loc["exact_dense", "claim"].startswith("O(n^3)")
    assert "k = cg_iters" in data.loc["cg", "claim"]
    one_size = points.assign(num_params=1000.0)
    assert fisher_experiments.cost_scaling(one_size) is None


def test_no_experiment_sections_without_supporting_data(tmp_path):
    frame, runs, summary, ranges = loaded(synthetic_results(tmp_path, seeds=(0,), n=5))
    assert experiments.invariance(frame, summary, runs, ranges)[0] is None
    assert experiments.step_size(summary, runs, ranges)[0] is None
    assert fisher_experiments.damping(frame, summary, runs) is None
    assert fisher_experiments.fidelity(frame) is None
    assert fisher_experiments.cost_scaling(None) is None


def test_sections_are_deterministic(tmp_path):
    frame, runs, summary, ranges = loaded(experiment_results(tmp_path / "r"))
    first, long = experiments.step_size(summary, runs, ranges)
    again, _ = experiments.step_size(summary, runs, ranges)
    pd.testing.assert_frame_equal(first.data, again.data)
    for name in ("a", "b"):
        plots.save(experiment_plots.step_size_figure(long), tmp_path, name)
    for ext in ("png", "svg"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


# ----------------------------------------------------------------------------- end to end

SECTIONS = {
    "Parameterisation invariance": "std_param_curves",
    "Step-size sensitivity": "step_size",
    "Damping": "damping",
    "Fisher fidelity": "fisher_fidelity",
}


def test_report_shows_every_supported_section(tmp_path):
    root, out = experiment_results(tmp_path / "results"), tmp_path / "rep"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([str(root), "--out", str(out), "--reps", "20"]) == 0
    md = (out / "report.md").read_text()
    for title, figure in SECTIONS.items():
        assert f"## {title}" in md and f"](figures/{figure}.png)" in md
        assert image.imread(out / "figures" / f"{figure}.png").std() > 0.01, figure
    assert "## Fisher cost scaling" in md
    for name in (
        "std_param_invariance",
        "step_size_sensitivity",
        "damping",
        "fisher_fidelity",
        "fisher_cost_scaling",
    ):
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) > 0, name
    inv = pd.read_csv(out / "tables" / "std_param_invariance.csv")
    assert list(inv["parameterisations"]) == ["identity, log, softplus"]
    step = pd.read_csv(out / "tables" / "step_size_sensitivity.csv")
    assert (step["best_value"].item(), step["lo"].item(), step["hi"].item()) == (0.01, 0.01, 0.03)
    damp = pd.read_csv(out / "tables" / "damping.csv")
    assert list(damp["damping"]) == [0.001, 0.01, 0.1] and list(damp["cond_max"]) == [1000, 100, 10]
