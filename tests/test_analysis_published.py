"""Ours beside published numbers: the protocol column chosen, our CI and n, the ratio, the
differences named, references attached to a variant label, and the comparison figure."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import write_run
from matplotlib import image
from npgbench.analysis.report import main
from npgbench.harness.core.config import ConfigError
from npgbench.harness.suite_checks import load_checked_suite
from scipy import stats

SUITE = """
name = "ts"
envs = ["Hopper-v5"]
algos = ["trpo", "ppo"]
steps = 8000
[variants.npg]
algo = "npg_cg"
[[references]]
env = "Hopper-v5"
label = "npg"
value = 1000.0
std = 100.0
source = "Tianshou NPG"
protocol = "best"
env_version = "v3"
steps = 1000000
[[references]]
env = "Hopper-v5"
algo = "trpo"
value = 2000.0
std = 500.0
source = "Tianshou TRPO"
protocol = "best"
env_version = "v5"
steps = 8000
[[references]]
env = "Hopper-v5"
algo = "ppo"
value = 400.0
source = "Someone PPO"
protocol = "final"
env_version = "v4"
steps = 1000000
"""
ENV = "Hopper-v5"
N = 8


def t_half(values) -> float:
    values = np.asarray(values, dtype=float)
    return stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """npg (3 seeds, sampled + mean-action evals), trpo (2 seeds, mean-action evals only),
    ppo (2 seeds, one of them without sampled evals)."""
    tmp = tmp_path_factory.mktemp("published")
    suite = tmp / "ts.toml"
    suite.write_text(textwrap.dedent(SUITE))
    root = tmp / "runs"
    best = {"npg": [], "trpo": [], "ppo_mean": [], "ppo_final": []}
    for seed in range(3):
        ev = np.full(N, np.nan)
        ev[::2] = 100.0 * (seed + 1) + np.arange(4)
        sampled = ev - 50.0
        write_run(
            root,
            "npg_cg",
            ENV,
            seed,
            np.linspace(0, 900, N),
            suite="ts",
            label="npg",
            eval_return_mean=ev,
            eval_sampled_return_mean=sampled,
        )
        best["npg"].append(np.nanmax(sampled))
    for seed in range(2):
        ev = np.linspace(0, 1500 + 300 * seed, N)
        write_run(root, "trpo", ENV, seed, np.linspace(0, 700, N), suite="ts", eval_return_mean=ev)
        best["trpo"].append(ev.max())
    for seed in range(2):
        extra = {"eval_sampled_return_mean": np.full(N, 7.0)} if seed == 0 else {}
        returns = np.linspace(0, 300 + 100 * seed, N)
        write_run(
            root, "ppo", ENV, seed, returns, suite="ts", eval_return_mean=np.full(N, 5.0), **extra
        )
        best["ppo_final"].append(returns[-1])  # 10% of 8 iterations: the last one
    out = tmp / "rep"
    assert main([str(root), "--out", str(out), "--suite", str(suite), "--reps", "100"]) == 0
    refs = pd.read_csv(out / "tables" / "references.csv")
    return out, refs.set_index("group"), best


def test_protocol_column_ci_n_and_ratio(report):
    _, refs, best = report
    npg = refs.loc["npg"]
    assert npg["our_column"] == "best_eval_sampled" and npg["n"] == 3 and npg["algo"] == "npg_cg"
    assert npg["ours"] == pytest.approx(np.mean(best["npg"]))
    assert npg["ours_ci95"] == pytest.approx(t_half(best["npg"]))
    assert npg["ratio"] == pytest.approx(np.mean(best["npg"]) / 1000.0)
    assert npg["ratio_lo"] == pytest.approx((npg["ours"] - npg["ours_ci95"]) / 1000.0)
    assert "env v3 (theirs) vs v5" in npg["differences"] and "1000000" in npg["differences"]
    trpo = refs.loc["trpo"]  # no sampled evaluations: the mean-action column, and it says so
    assert trpo["our_column"] == "best_eval" and trpo["n"] == 2
    assert trpo["ours"] == pytest.approx(np.mean(best["trpo"]))
    assert "mean action" in trpo["differences"] and "env" not in trpo["differences"]
    ppo = refs.loc["ppo"]  # final protocol: our final return, with its CI
    assert ppo["our_column"] == "final"
    assert ppo["ours"] == pytest.approx(np.mean(best["ppo_final"]))
    assert ppo["ours_final_ci95"] == pytest.approx(t_half(best["ppo_final"]))


def test_mixed_sampled_columns_fall_back_to_mean_action():
    from npgbench.analysis.published import protocol_column

    df = pd.DataFrame(
        {
            "best_eval_sampled": [1.0, np.nan],
            "best_eval": [2.0, 3.0],
            "best": [4.0, 5.0],
            "final": [0.0, 0.0],
        }
    )
    assert protocol_column("best", df) == "best_eval"
    assert protocol_column("best", df.assign(best_eval_sampled=1.0)) == "best_eval_sampled"
    assert protocol_column("best", df.assign(best_eval=np.nan)) == "best"
    assert protocol_column("final", df) == "final"


def test_report_shows_the_comparison_and_its_figure(report):
    out, _, _ = report
    md = (out / "report.md").read_text()
    assert "## Published results" in md and "Tianshou NPG" in md
    assert (
        "best ?-episode evaluation mean, sampled actions" in md
    )  # fixture: no eval config and "ours / theirs [95% CI]" in md
    pixels = image.imread(out / "figures" / "published_comparison.png")
    assert pixels.std() > 0.01


def write_suite(tmp_path, body: str):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(body))
    return path


HEAD = """
envs = ["InvertedPendulum-v5"]
algos = ["ppo"]
steps = 1000
[variants.npg]
algo = "npg_cg"
[[references]]
env = "InvertedPendulum-v5"
value = 1
source = "s"
protocol = "best"
env_version = "v2"
steps = 1
"""


def test_reference_label_implies_its_variants_algorithm(tmp_path):
    suite = load_checked_suite(write_suite(tmp_path, HEAD + 'label = "npg"\n'))
    assert suite.references[0]["algo"] == "npg_cg" and suite.references[0]["label"] == "npg"
    plain = load_checked_suite(write_suite(tmp_path, HEAD + 'algo = "ppo"\n'))
    assert plain.references[0]["label"] is None


@pytest.mark.parametrize(
    "extra, message",
    [
        ('label = "nope"\n', "references.label: 'nope' is not run by this suite"),
        ('label = "npg"\nalgo = "ppo"\n', "but variant 'npg' runs npg_cg"),
        ("", "missing algo or label"),
    ],
)
def test_bad_reference_labels_are_refused(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_checked_suite(write_suite(tmp_path, HEAD + extra))
