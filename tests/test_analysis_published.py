"""Ours beside published numbers: each reference under its publisher's estimator (checked
against the computation by hand), the ratio's CI and the comparison it allows, references
compared only in their replication suite, labels, and the comparison figure."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import write_run
from npgbench.analysis.report.command import main
from npgbench.harness.core.config import ConfigError
from npgbench.harness.sweep.suite_checks import load_checked_suite
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


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """npg (3 seeds, sampled + mean-action evals), trpo (2 seeds, mean-action evals only),
    ppo (2 seeds, one of them without sampled evals)."""
    tmp = tmp_path_factory.mktemp("published")
    suite = tmp / "ts.toml"
    suite.write_text(textwrap.dedent(SUITE))
    root = tmp / "runs"
    best = {"npg_curves": [], "trpo": [], "ppo_final": []}
    for seed in range(3):
        ev = np.full(N, np.nan)
        ev[::2] = 100.0 * (seed + 1) + np.arange(4)
        ev[2 * seed] += 30.0  # each seed peaks at another evaluation
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
        best["npg_curves"].append(sampled[::2])
    for seed in range(2):
        ev = np.linspace(0, 1500 + 300 * seed, N)
        write_run(root, "trpo", ENV, seed, np.linspace(0, 700, N), suite="ts", eval_return_mean=ev)
        best["trpo"].append(ev)
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


def test_each_reference_under_its_estimator(report):
    _, refs, best = report
    npg = refs.loc["npg"]  # "best": the max over time of the seed-mean sampled-eval curve
    assert npg["our_column"] == "eval_sampled_return_mean" and npg["n"] == 3
    assert npg["algo"] == "npg_cg" and npg["estimator"] == "max_of_mean"
    curves = np.array(best["npg_curves"])  # seeds x evaluations, one shared step grid
    k = int(np.argmax(curves.mean(axis=0)))
    assert npg["ours"] == pytest.approx(curves.mean(axis=0)[k])
    assert npg["ours_std"] == pytest.approx(curves[:, k].std(ddof=0))  # as tools.py's np.std
    assert npg["ours"] < np.mean([c.max() for c in curves])  # not the mean of per-run maxima
    assert npg["ratio"] == pytest.approx(npg["ours"] / 1000.0)
    assert "env v3 (theirs) vs v5" in npg["differences"] and "1000000" in npg["differences"]
    trpo = refs.loc["trpo"]  # no sampled evaluations: the mean-action curve, and it says so
    assert trpo["our_column"] == "eval_return_mean" and trpo["n"] == 2
    assert trpo["ours"] == pytest.approx(np.mean(best["trpo"], axis=0).max())
    assert "mean action" in trpo["differences"] and "env" not in trpo["differences"]
    ppo = refs.loc["ppo"]  # an unknown source's "final": our final return, mean over seeds
    assert ppo["estimator"] == "final"
    assert ppo["ours"] == pytest.approx(np.mean(best["ppo_final"]))
    assert ppo["comparison"] in ("above", "below", "within spread")


def test_ratio_ci_carries_both_sides_and_the_verdict_needs_it_to_exclude_one():
    from npgbench.analysis.claims.published import comparison, ratio_ci

    ours_only = ratio_ci(1200.0, 50.0, 5, 1000.0, math.nan, None)
    both = ratio_ci(1200.0, 50.0, 5, 1000.0, 200.0, 10)
    assert ours_only[0] == both[0] == pytest.approx(1.2)
    assert both[1] < ours_only[1] < 1.2 < ours_only[2] < both[2]  # their spread widens it
    assert comparison(*ours_only[1:]) == "above" and comparison(*both[1:]) == "within spread"
    assert comparison(0.5, 0.9) == "below"
    # log-scale delta method with Welch-Satterthwaite degrees of freedom, by hand
    ra, rb = 50.0 / 1200.0, 200.0 / 1000.0
    dof = (ra**2 + rb**2) ** 2 / (ra**4 / 4 + rb**4 / 9)
    half = stats.t.ppf(0.975, dof) * math.sqrt(ra**2 + rb**2)
    assert both[1:] == pytest.approx((1.2 * math.exp(-half), 1.2 * math.exp(half)))


def test_last_episodes_weights_iterations_by_their_episodes():
    from npgbench.analysis.stats.estimators import last_episodes_mean

    run = pd.DataFrame(
        {
            "iteration": [0, 1, 2, 3],
            "episodes": [50, 60, 0, 80],
            "return_mean": [1.0, 2.0, np.nan, 3.0],
        }
    )
    # the last 100 episodes: 80 at 3.0, then 20 of the 60 at 2.0 (the empty iteration skipped)
    assert last_episodes_mean(run) == pytest.approx((80 * 3.0 + 20 * 2.0) / 100)
    assert last_episodes_mean(run, count=1000) == pytest.approx((50 + 120 + 240) / 190)


def test_a_publishers_reference_is_compared_only_in_its_replication_suite():
    from npgbench.analysis.claims.published import partition
    from npgbench.analysis.stats.summary import SuiteInfo

    frame = pd.DataFrame({"env": ["Hopper-v5"], "algo": ["ppo"], "label": [None], "group": ["ppo"]})
    base = {"env": "Hopper-v5", "algo": "ppo", "value": 1.0, "protocol": "best"}
    tianshou = {**base, "source": "thu-ml/tianshou examples/mujoco/README.md"}
    other = {**base, "source": "someone's table"}
    reinforce = {**tianshou, "algo": "vanilla"}
    compared, elsewhere, no_runs = partition(
        frame, SuiteInfo("controlled", references=[tianshou, other])
    )
    assert [c[0] for c in compared] == [other] and elsewhere == [tianshou] and no_runs == []
    compared, elsewhere, no_runs = partition(
        frame, SuiteInfo("tianshou-mujoco", references=[tianshou, reinforce])
    )
    assert [c[0] for c in compared] == [tianshou] and no_runs == [reinforce] and not elsewhere


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
