"""The claims table: baseline and NPG groups found from configs, verdicts by the stated rule."""

from __future__ import annotations

import numpy as np
from analysis_fixtures import learning, write_run
from npgbench.analysis.claims import claims, equal_kl_groups, verdict
from npgbench.analysis.load import load_runs
from npgbench.analysis.summary import Options, SuiteInfo, summarise_runs

VANILLA_KL = {"update": {"step_rule": "kl", "kl_delta": 0.01}}
NPG = {"update": {"step_rule": "kl", "kl_delta": 0.01, "damping": 0.1}}


def _results(root, npg_end: float, seeds=range(5), envs=("EnvA-v5", "EnvB-v5")):
    for env in envs:
        for s in seeds:
            n = 20
            base = learning(n, 0, 100, s)
            write_run(
                root,
                "vanilla",
                env,
                s,
                base,
                suite="c",
                config=VANILLA_KL,
                beta=np.full(n, 0.1),
                g_dot_x=np.full(n, 1.0),
            )
            write_run(
                root,
                "npg_cg",
                env,
                s,
                learning(n, 0, npg_end, s + 50),
                suite="c",
                config=NPG,
                beta=np.full(n, 0.3),
                g_dot_x=np.full(n, 1.0),
                time_update=np.full(n, 0.5),
            )
    runs = load_runs(root)
    ranges = {e: (0.0, 200.0, "suite") for e in envs}
    suite = SuiteInfo(score_ranges={e: {"min": 0.0, "max": 200.0} for e in envs})
    summary, ranges, _ = summarise_runs(runs.frame, suite, Options())
    return summary, runs, ranges


def test_verdict_rule():
    assert verdict(0.6, 0.9) == "supported"
    assert verdict(0.1, 0.4) == "contradicted"
    assert verdict(0.4, 0.6).startswith("not separable")
    assert verdict(float("nan"), 0.6).startswith("not separable")


def test_baseline_and_natural_groups_come_from_the_configs(tmp_path):
    summary, runs, _ = _results(tmp_path, 180)
    assert equal_kl_groups(summary, runs.runs) == ("vanilla", ["npg_cg"])


def test_a_clearly_better_direction_is_supported_and_an_equal_one_is_not(tmp_path):
    summary, runs, ranges = _results(tmp_path / "better", 190)
    table = claims(summary, runs.runs, runs.frame, ranges, reps=300)
    rows = table.data.set_index(["claim", "statistic"])
    assert rows.loc[("faster convergence", "P(final)"), "verdict"] == "supported"
    assert rows.loc[("larger effective steps", "P(step_gain)"), "value"] == 1.0
    cost = rows.loc[("cost per update", "time ratio")]
    assert cost["value"] == 2.0 and cost["ci_lo"] == cost["ci_hi"] == 2.0  # 0.5 s vs 0.25 s

    summary, runs, ranges = _results(tmp_path / "equal", 100)
    table = claims(summary, runs.runs, runs.frame, ranges, reps=300)
    final = table.data.set_index(["claim", "statistic"]).loc[("faster convergence", "P(final)")]
    assert final["ci_lo"] < 0.5 < final["ci_hi"]
    assert final["verdict"].startswith("not separable")


def test_no_equal_kl_baseline_means_no_claims_table(tmp_path):
    for s in range(3):
        write_run(tmp_path, "ppo", "EnvA-v5", s, learning(10, 0, 100, s), suite="c")
    runs = load_runs(tmp_path)
    summary, ranges, _ = summarise_runs(runs.frame, SuiteInfo(), Options())
    assert claims(summary, runs.runs, runs.frame, ranges) is None
