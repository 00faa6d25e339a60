"""A real tiny sweep (2 algorithms x 2 seeds on InvertedPendulum, 4 updates each) followed by
a report: the analysis reads what the harness actually writes. Training needs torch; this
test does, the analysis package does not."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib import image
from npgbench.analysis.report.command import main

ENV = "InvertedPendulum-v5"
TINY = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 512,
    "eval.every": 2,
    "eval.episodes": 1,
}


def sweep_algos() -> list[str]:
    """ppo and a natural-gradient variant when one is registered (KL / line-search columns)."""
    from npgbench.algorithms import ALGORITHMS

    return ["ppo", "trpo" if "trpo" in ALGORITHMS else "vanilla"]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    from npgbench.harness.runner import resolve_config, train

    out = tmp_path_factory.mktemp("sweep")
    for algo in sweep_algos():
        for seed in (0, 1):
            train(resolve_config(algo, ENV, seed, 2048, TINY), out, progress=False)
    return out


def test_report_on_a_real_tiny_sweep(tiny_sweep, tmp_path, capsys):
    report = tmp_path / "report"
    assert main([str(tiny_sweep), "--out", str(report), "--reps", "500"]) == 0
    assert "report.md" in capsys.readouterr().out
    algos = sorted(sweep_algos())
    conv = pd.read_csv(report / "tables" / "convergence.csv")
    assert sorted(conv["group"]) == algos and (conv["seeds"] == 2).all()
    assert (conv["env"] == ENV).all() and conv["final_mean"].notna().all()
    per_run = pd.read_csv(report / "tables" / "per_run.csv")
    assert len(per_run) == 4 and (per_run["steps_per_s"] > 0).all()
    wall = pd.read_csv(report / "tables" / "wall_clock.csv")
    assert (wall["time_sample_median"] > 0).all() and (wall["update_s_median"] > 0).all()
    if "trpo" in algos:
        stab = pd.read_csv(report / "tables" / "stability.csv").set_index("group")
        assert 0.0 <= stab.loc["trpo", "kl_violation_rate"] <= 1.0
        assert 0.0 <= stab.loc["trpo", "failed_line_search_rate"] <= 1.0
    for name in ("learning_curves", "time_split", "return_vs_wallclock"):
        assert image.imread(report / "figures" / f"{name}.png").std() > 0.01
    # One env, no fisher-cost CSV: one parameter count, nothing to scale against.
    assert not (report / "figures" / "update_cost.png").exists()
    md = (report / "report.md").read_text()
    assert "## Convergence" in md and f"| {ENV} | {algos[0]} | 2 |" in md
    assert (report / "report.html").stat().st_size > 10_000
