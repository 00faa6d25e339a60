"""The claims table: baseline and NPG groups found from configs, evaluation-based metrics,
permutation p with Holm, and verdicts by the plan's rule."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import learning, write_run
from npgbench.analysis.claims.method import claims, equal_kl_groups
from npgbench.analysis.data.load import flatten, load_runs
from npgbench.analysis.stats.summary import Options, SuiteInfo, summarise_runs

VANILLA_KL = {"update": {"step_rule": "kl", "kl_delta": 0.01}}
NPG = {"update": {"step_rule": "kl", "kl_delta": 0.01, "damping": 0.1}}
ENVS = ("EnvA-v5", "EnvB-v5")
N = 40


def _every(k: int, values: np.ndarray) -> np.ndarray:
    """Evaluation column: values on every k-th iteration, NaN between."""
    out = np.full(len(values), np.nan)
    out[k - 1 :: k] = values[k - 1 :: k]
    return out


def _write(root, algo, env, s, end, config, heldout: float | None, **extra):
    curve = learning(N, 0, end, s + (50 if algo != "vanilla" else 0))
    cols = dict(beta=np.full(N, 0.3 if algo != "vanilla" else 0.1), g_dot_x=np.full(N, 1.0))
    if heldout is not None:
        gain = np.where(np.arange(N) % 2 == 0, heldout + 0.001 * s, np.nan)
        cols.update(step_gain_heldout=gain, step_gain_insample=gain * 3)
    return write_run(
        root,
        algo,
        env,
        s,
        curve,
        suite="c",
        config=config,
        eval_return_mean=_every(5, curve + 1.0),
        time_update=np.full(N, 0.5 if algo != "vanilla" else 0.25),
        **cols,
        **extra,
    )


def _results(root, npg_end: float, seeds=range(5), heldout=False, final_eval=None):
    """vanilla ends at 100, npg_cg at npg_end, on two tasks. final_eval: None (no file), or
    'valid' / 'mismatch' to write a final_eval.json (matching policy.pt or not)."""
    for env in ENVS:
        for s in seeds:
            for algo, end, cfg in (("vanilla", 100, VANILLA_KL), ("npg_cg", npg_end, NPG)):
                path = _write(root, algo, env, s, end, cfg, 0.01 if heldout else None)
                if final_eval is not None:
                    _final_eval(path, 1000.0 + end + s, final_eval == "valid")
    runs = load_runs(root)
    suite = SuiteInfo(score_ranges={e: {"min": 0.0, "max": 200.0} for e in ENVS})
    summary, ranges, _ = summarise_runs(runs.frame, suite, Options(), runs.runs)
    return summary, runs, ranges


def _final_eval(path, mean: float, matching: bool):
    (path / "policy.pt").write_bytes(b"weights")
    sha = hashlib.sha256(b"weights" if matching else b"other").hexdigest()
    record = {"episodes": 50, "actions": "mean", "returns": [mean] * 50, "mean": mean}
    record.update(std=0.0, eval_seed=1, policy_sha256=sha, git_sha="abc")
    (path / "final_eval.json").write_text(json.dumps(record))


def _rows(table):
    return table.data.set_index(["claim", "statistic"])


def test_baseline_and_natural_groups_come_from_the_configs(tmp_path):
    summary, runs, _ = _results(tmp_path, 180, seeds=range(2))
    assert equal_kl_groups(summary, runs.runs) == ("vanilla", ["npg_cg"])


def test_a_clearly_better_direction_is_supported_after_holm(tmp_path):
    summary, runs, ranges = _results(tmp_path, 190)
    table = claims(summary, runs.runs, ranges, reps=300)
    rows = _rows(table)
    final = rows.loc[("faster convergence", "P(final: last 3 evaluations)")]
    auc = rows.loc[("faster convergence", "P(AUC (evaluation))")]
    for row in (final, auc):
        assert row["value"] == 1.0 and row["verdict"] == "supported"
        # Exact p of complete separation on 2 tasks of 5 vs 5: 2 / C(10, 5)^2, Holm x 4.
        assert row["p"] == pytest.approx(2 / 252**2, rel=1e-9)
        assert row["p_holm"] == pytest.approx(4 * row["p"], rel=1e-9)
        assert row["per_task"] == "EnvA 1, EnvB 1"
    assert np.isfinite(final["train_value"])  # the training-return twin sits beside it
    cost = rows.loc[("cost per update", "time ratio (shared machine)")]
    assert cost["value"] == 2.0 and cost["verdict"] == "measured"


def test_equal_arms_are_not_separable_with_the_adjusted_p(tmp_path):
    summary, runs, ranges = _results(tmp_path, 100)
    final = _rows(claims(summary, runs.runs, ranges, reps=300)).loc[
        ("faster convergence", "P(final: last 3 evaluations)")
    ]
    assert final["p_holm"] >= 0.05
    assert final["verdict"] == f"not separable (p = {final['p_holm']:.2g})"


def test_fewer_than_five_runs_per_arm_gets_no_verdict(tmp_path):
    summary, runs, ranges = _results(tmp_path, 190, seeds=range(3))
    data = claims(summary, runs.runs, ranges, reps=300).data
    tested = data[data["family"].notna()]
    assert (tested["verdict"] == "no verdict (fewer than 5 runs per arm and task)").all()
    assert tested["p_holm"].isna().all() and tested["p"].notna().all()


def test_final_eval_json_is_the_final_return_when_every_run_has_a_valid_one(tmp_path):
    summary, runs, ranges = _results(tmp_path / "valid", 100, final_eval="valid")
    assert (summary["final_eval"] >= 1100).all()
    rows = _rows(claims(summary, runs.runs, ranges, reps=300))
    assert ("faster convergence", "P(final return)") in rows.index

    summary, _, _ = _results(tmp_path / "bad", 100, final_eval="mismatch")
    assert (summary["final_eval"] < 1000).all()  # fell back to the evaluation curve
    assert summary["final_eval_file_reason"].str.startswith("policy mismatch").all()


def test_held_out_gain_is_tested_only_where_logged(tmp_path):
    summary, runs, ranges = _results(tmp_path / "old", 190)
    rows = _rows(claims(summary, runs.runs, ranges, reps=300))
    held = rows[rows.index.get_level_values("claim") == "held-out first-order gain per update"]
    assert held["verdict"].iloc[0].startswith("not measured")
    inside = rows.loc[("in-sample first-order gain per update", "P(beta g^T x)")]
    assert inside["value"] == 1.0 and inside["verdict"].startswith("described")

    summary, runs, ranges = _results(tmp_path / "new", 190, heldout=True)
    rows = _rows(claims(summary, runs.runs, ranges, reps=300))
    held = rows[rows.index.get_level_values("claim") == "held-out first-order gain per update"]
    assert held["family"].iloc[0] == "step" and np.isfinite(held["p_holm"].iloc[0])


def test_an_unfinished_study_is_interim(tmp_path):
    _results(tmp_path, 190)
    write_run(tmp_path, "vanilla", "EnvA-v5", 9, None, suite="c", status="running")
    runs = load_runs(tmp_path)
    suite = SuiteInfo(score_ranges={e: {"min": 0.0, "max": 200.0} for e in ENVS})
    summary, ranges, _ = summarise_runs(runs.frame, suite, Options(), runs.runs)
    table = claims(summary, runs.runs, ranges, reps=300)
    assert "interim" in table.title
    assert table.data["verdict"].str.startswith("interim: supported").any()


def test_no_equal_kl_baseline_means_no_claims_table(tmp_path):
    for s in range(3):
        write_run(tmp_path, "ppo", "EnvA-v5", s, learning(10, 0, 100, s), suite="c")
    runs = load_runs(tmp_path)
    summary, ranges, _ = summarise_runs(runs.frame, SuiteInfo(), Options())
    assert claims(summary, runs.runs, ranges) is None


def test_natural_groups_are_the_recorded_family_not_a_damping_setting():
    configs = {
        "base": {"algo": "vanilla", "update": {"step_rule": "kl", "kl_delta": 0.01}},
        "mine": {"algo": "npg_mine", "update": {"step_rule": "kl", "kl_delta": 0.01}},
        "damped": {
            "algo": "other_mine",
            "update": {"step_rule": "kl", "kl_delta": 0.01, "damping": 0.1},
        },
    }
    runs = pd.DataFrame(
        {
            "run_id": list(configs),
            "algo": [c["algo"] for c in configs.values()],
            "grid": "{}",
            "config": [json.dumps(flatten(c)) for c in configs.values()],
            "family": ["vanilla", "natural", "other"],
        }
    )
    summary = pd.DataFrame({"run_id": list(configs), "group": list(configs)})
    assert equal_kl_groups(summary, runs) == ("base", ["mine"])
