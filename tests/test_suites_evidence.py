"""The evidence suites: each loads and expands, its references point at runs it makes, and each
experiment covers what it claims (parameterisations, step-size span, damping values).

Nothing trains: grids are expanded with one seed (seeds never change labels or configs), so the
whole file takes a few seconds.
"""

from __future__ import annotations

import math
from collections import defaultdict

import gymnasium as gym
import pytest
from npgbench.harness.core.policy import GaussianPolicy
from npgbench.harness.sweep.grid import expand
from npgbench.harness.sweep.suite_checks import load_checked_suite
from npgbench.suites import SUITES

NEW = {  # suite -> runs of the full grid
    "tianshou-mujoco": 360,
    "baselines-1m": 84,
    "ppo-paper": 63,
    "invariance": 240,
    "sensitivity": 480,
    "damping": 180,
    "fisher-fidelity": 45,
}
NATURAL = ("npg_exact", "npg_diag", "npg_kfac", "npg_cg", "trpo")


@pytest.fixture(scope="module")
def grids():
    """suite name -> (suite, tasks of its first seed)."""
    out = {}
    for name in NEW:
        suite = load_checked_suite(name)
        out[name] = (suite, expand(suite, seeds=[suite.seeds[0]]))
    return out


def base(label: str) -> str:
    """Base label of a grid label: npg_exact[policy.std_param=log] -> npg_exact."""
    return label.split("[", 1)[0]


def span(values) -> float:
    values = [float(v) for v in values]
    return max(values) / min(values)


def test_new_suites_load_and_expand_to_their_run_counts(grids):
    assert set(NEW) <= set(SUITES)
    for name, runs in NEW.items():
        suite, tasks = grids[name]
        assert suite.name == name and suite.description and suite.steps > 0
        assert len(tasks) * len(suite.seeds) == runs, name
        assert len({t.run_id for t in tasks}) == len(tasks)
        for env in (*suite.thresholds, *suite.score_ranges):
            assert env in suite.envs


def test_references_point_at_runs_of_their_suite(grids):
    # references.algo must be a registered algorithm (suites.check_names); the report matches a
    # reference to every comparison group of that algorithm on that env.
    for name in NEW:
        suite, tasks = grids[name]
        labels = defaultdict(set)
        for t in tasks:
            labels[(t.env, t.algo)].add(t.label)
        for ref in suite.references:
            assert labels[(ref["env"], ref["algo"])], (name, ref["env"], ref["algo"])
            assert ref["protocol"] in ("best", "final") and ref["source"]
    tianshou, tasks = grids["tianshou-mujoco"]
    assert {t.label for t in tasks if t.algo == "npg_cg"} == {"npg"}
    per_env = defaultdict(set)
    for ref in tianshou.references:
        per_env[ref["env"]].add(ref["algo"])
        expected = 3_000_000 if ref["algo"] == "vanilla" else 1_000_000  # REINFORCE: 3M only
        assert ref["steps"] == expected and ref["protocol"] == "best"
    assert len(per_env) == 9 and all(
        a == {"npg_cg", "trpo", "ppo", "vanilla"} for a in per_env.values()
    )
    for name, protocol in (("baselines-1m", "final"), ("ppo-paper", "final")):
        suite = grids[name][0]
        assert len(suite.references) == 14
        assert {r["protocol"] for r in suite.references} == {protocol}
        assert {r["algo"] for r in suite.references} == {"trpo", "ppo"}


def test_tianshou_settings(grids):
    _, tasks = grids["tianshou-mujoco"]
    for t in tasks:
        assert math.isclose(t.cfg.policy.init_std, math.exp(-0.5))
        assert t.cfg.sampler.normalize_obs and t.cfg.sampler.normalize_rewards
        if t.label in ("npg", "trpo"):
            assert (t.cfg.sampler.num_envs, t.cfg.sampler.steps_per_update) == (16, 1024)
            assert t.cfg.value.epochs == 20 and t.cfg.value.minibatch_size >= 1024
            assert (t.cfg.update.damping, t.cfg.update.cg_iters) == (0.1, 10)
        if t.label == "npg":
            assert t.cfg.update.step_rule == "fixed" and t.cfg.update.fixed_step == 0.1
        if t.label == "trpo":
            assert t.cfg.update.damped_quad and t.cfg.update.kl_delta == 0.01
        if t.label == "ppo":
            assert (t.cfg.sampler.num_envs, t.cfg.sampler.steps_per_update) == (64, 2048)
            assert not t.cfg.sampler.normalize_advantages
        if t.label == "vanilla":
            assert (t.cfg.sampler.num_envs, t.cfg.sampler.steps_per_update) == (64, 2048)
            assert t.cfg.update.step_rule == "adam" and t.cfg.update.lr == 1e-3
    trpo = next(t for t in grids["baselines-1m"][1] if t.algo == "trpo")
    assert trpo.cfg.policy.hidden_sizes == (32, 32) and trpo.cfg.sampler.steps_per_update == 1024


def test_invariance_covers_three_parameterisations_from_one_initial_distribution(grids):
    suite, tasks = grids["invariance"]
    params = defaultdict(set)
    for t in tasks:
        params[(base(t.label), t.env)].add(t.cfg.policy.std_param)
    bases = {b for b, _ in params}
    assert bases == {"vanilla_sgd", "vanilla_kl", "npg_exact", "npg_cg"}
    assert all(p == {"log", "softplus", "identity"} for p in params.values())
    rules = {base(t.label): t.cfg.update.step_rule for t in tasks if t.algo == "vanilla"}
    assert rules == {"vanilla_sgd": "sgd", "vanilla_kl": "kl"}
    assert len({t.cfg.policy.init_std for t in tasks}) == 1
    for t in tasks:  # within an update rule, only the parameterisation differs
        twin = next(
            u
            for u in tasks
            if base(u.label) == base(t.label) and u.env == t.env and u.cfg.policy.std_param == "log"
        )
        assert t.cfg.update == twin.cfg.update and t.cfg.sampler == twin.cfg.sampler
    sigma = {}
    for p in ("log", "softplus", "identity"):
        cfg = next(t.cfg.policy for t in tasks if t.cfg.policy.std_param == p)
        sigma[p] = GaussianPolicy(4, 2, cfg).std().detach()
    assert all(
        math.isclose(float(s[0]), suite.overrides["policy.init_std"], rel_tol=1e-6)
        for s in sigma.values()
    )
    reduced = expand(suite, envs=["InvertedPendulum-v5", "Hopper-v5"], seeds=[0], steps=8192)
    assert len(reduced) == 12 * 2 and {t.env_steps for t in reduced} == {8192}


def test_sensitivity_spans_two_orders_of_magnitude_per_algorithm(grids):
    _, tasks = grids["sensitivity"]
    by_algo = defaultdict(list)
    for t in tasks:
        by_algo[t.algo].append(t.cfg)
    assert set(by_algo) == {"vanilla", *NATURAL, "ppo"}
    assert span(c.update.lr for c in by_algo["vanilla"]) >= 100
    assert {c.update.step_rule for c in by_algo["vanilla"]} == {"adam"}
    for algo in NATURAL:
        assert span(c.update.kl_delta for c in by_algo[algo]) >= 100, algo
        assert len({c.update.damping for c in by_algo[algo]}) == 1, algo
    ppo = by_algo["ppo"]
    assert span(c.update.lr for c in ppo) >= 100 and span(c.update.clip for c in ppo) >= 100
    # two one-dimensional sweeps through (lr 3e-4, clip 0.2), not their product
    assert all(c.update.lr == 3e-4 or c.update.clip == 0.2 for c in ppo)
    assert len({(c.update.lr, c.update.clip) for c in ppo}) == len(ppo) // 4 == 10


def test_damping_sweeps_the_three_inverted_preconditioners(grids):
    _, tasks = grids["damping"]
    damping = defaultdict(set)
    for t in tasks:
        damping[t.algo].add(t.cfg.update.damping)
    assert set(damping) == {"npg_exact", "npg_kfac", "npg_cg"}
    for algo, values in damping.items():
        assert len(values) >= 5 and min(values) > 0 and span(values) >= 1000, algo
    assert {t.cfg.update.kl_delta for t in tasks} == {0.01}


def test_fisher_fidelity_measures_every_approximation_on_small_policies(grids):
    _, tasks = grids["fisher-fidelity"]
    kinds = {t.algo if t.algo != "vanilla" else f"vanilla/{t.cfg.update.step_rule}" for t in tasks}
    assert kinds == {"npg_exact", "npg_diag", "npg_kfac", "npg_cg", "vanilla/kl"}
    for t in tasks:
        assert t.cfg.diagnostics.fidelity_every > 0
        env = gym.make(t.env)
        obs, act = env.observation_space.shape[0], env.action_space.shape[0]
        env.close()
        params = GaussianPolicy(obs, act, t.cfg.policy).num_params()
        assert params <= t.cfg.diagnostics.fidelity_max_params, (t.env, params)
