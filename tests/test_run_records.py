"""What a run records beside its metrics: the code fingerprint, policy snapshots, and the
param_scale reparameterisation (same function, other coordinates)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from fisher_fixtures import make_batch
from npgbench.algorithms.fisher.exact import ExactConfig
from npgbench.algorithms.heldout import fresh_state_kl
from npgbench.algorithms.natural import make_natural
from npgbench.algorithms.vanilla import VanillaConfig, make_vanilla
from npgbench.harness.core.config import PolicyConfig
from npgbench.harness.core.policy import GaussianPolicy, flat_params
from npgbench.harness.runner import resolve_config, train
from npgbench.harness.tracking.fingerprint import code_fingerprint, stale_reasons

TINY = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 64,
    "value.epochs": 1,
    "eval.every": 0,
    "max_episode_steps": 30,
}


def test_a_run_records_its_code_fingerprint_and_keeps_snapshots(tmp_path):
    extra = {**TINY, "diagnostics.snapshot_every": 2}
    run_dir = train(
        resolve_config("npg_cg", "Hopper-v5", 0, 64 * 5, extra), tmp_path, False
    ).run_dir
    code = json.loads((run_dir / "meta.json").read_text())["code"]
    assert code == code_fingerprint("npg_cg")
    assert code["variant_modules"] == [
        "npgbench.algorithms.fisher.cg",
        "npgbench.algorithms.natural",
    ]
    # after updates 2 and 4 of 5; the final policy is policy.pt
    names = sorted(p.name for p in (run_dir / "snapshots").iterdir())
    assert names == ["it00002.pt", "it00004.pt"]
    snap = torch.load(run_dir / "snapshots" / "it00004.pt", weights_only=True)
    final = torch.load(run_dir / "policy.pt", weights_only=True)
    assert snap.keys() == final.keys()
    assert not all(torch.equal(snap["policy"][k], final["policy"][k]) for k in final["policy"])


def test_stale_reasons_name_what_changed():
    now = code_fingerprint("npg_cg")
    assert stale_reasons(now, now) == [] and stale_reasons(None, now) == []
    edited = {**now, "variant_source_sha256": "0" * 64}
    assert stale_reasons(edited, now) == [
        "variant source changed (npgbench.algorithms.fisher.cg, npgbench.algorithms.natural)"
    ]
    assert stale_reasons({**now, "plugin_version": "0.1"}, now) == ["plugin_version '0.1' -> ''"]


def test_a_declared_result_equivalent_source_is_current_through_the_chain(monkeypatch):
    # Two result-neutral refactors: old -> middle -> installed. A run of the oldest reads
    # current; one of an undeclared source reads stale; a cycle is an error, not a hang.
    from npgbench.harness.core import source_ledger

    now = code_fingerprint("npg_cg")
    old, middle = "a" * 64, "b" * 64
    chain = {old: middle, middle: now["variant_source_sha256"]}
    monkeypatch.setattr(source_ledger, "EQUIVALENT", chain)
    assert stale_reasons({**now, "variant_source_sha256": old}, now) == []
    assert stale_reasons({**now, "variant_source_sha256": "c" * 64}, now) != []
    # A checkout whose own source is a ledger key (an older commit) judges its own runs
    # current, and a later run's too: both sides resolve.
    older = {**now, "variant_source_sha256": old}
    assert stale_reasons(older, older) == []
    assert stale_reasons({**now, "variant_source_sha256": middle}, older) == []
    monkeypatch.setattr(source_ledger, "EQUIVALENT", {old: middle, middle: old})
    with pytest.raises(ValueError, match="cycles"):
        source_ledger.resolve(old)


def test_every_committed_run_is_current_for_the_installed_code():
    # docs/data's runs were made at several commits; each must still read as made by this
    # code (or record no fingerprint). A failure here means a variant's source changed: if
    # tests/test_reference_runs.py and `pytest -m slow tests/test_equivalence_runs.py` (the
    # campaign's option paths) still pass unregenerated, declare the change in
    # harness/core/source_ledger.py; otherwise the dataset is stale for real.
    root = Path(__file__).resolve().parents[1] / "docs" / "data"
    installed: dict[str, dict] = {}
    stale, checked = [], 0
    for meta_path in sorted(root.glob("*/*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if not meta.get("code"):  # made before runs recorded their code
            continue
        checked += 1
        now = installed.setdefault(meta["algo"], code_fingerprint(meta["algo"]))
        if stale_reasons(meta["code"], now):
            stale.append(meta_path.parent.name)
    assert checked >= 85  # ablation-1m's runs at least
    assert not stale, (
        f"{len(stale)} stale runs, e.g. {stale[:3]}: declare the new source in "
        "harness/core/source_ledger.py only if tests/test_reference_runs.py and "
        "tests/test_equivalence_runs.py (pytest -m slow) pass unregenerated"
    )


def scaled_pair(scale: float) -> tuple[GaussianPolicy, GaussianPolicy]:
    """The same policy (same seed, float64) at param_scale 1 and `scale`."""
    policies = []
    for s in (1.0, scale):
        torch.manual_seed(0)
        cfg = PolicyConfig(hidden_sizes=(6,), init_std=0.7, param_scale=s, orthogonal_init=False)
        policies.append(GaussianPolicy(3, 2, cfg).double())
    return policies[0], policies[1]


def test_param_scale_keeps_the_function_and_changes_the_coordinates():
    plain, scaled = scaled_pair(10.0)
    obs = torch.randn(16, 3, dtype=torch.float64)
    with torch.no_grad():
        # W / s is rounded in float32 before .double()
        torch.testing.assert_close(plain(obs)[0], scaled(obs)[0], rtol=1e-6, atol=1e-6)
    assert plain.num_params() == scaled.num_params()
    assert not torch.allclose(flat_params(plain.all_params()), flat_params(scaled.all_params()))


def step_kl(updater_of, scale: float) -> float:
    """KL between the two policies after one step of the same rule from the same function in
    both coordinates, on the batch states."""
    plain, scaled = scaled_pair(scale)
    batch = make_batch(plain, 128)
    before = flat_params(plain.all_params())
    for policy in (plain, scaled):
        updater_of(policy).update(batch)
    with torch.no_grad():
        mean_a, std_a = plain(batch.obs)
    # pi_b's parameters are in other coordinates: compare the functions, not the vectors
    plain_after = flat_params(plain.all_params())
    from npgbench.harness.core.policy import gaussian_kl

    with torch.no_grad():
        mean_b, std_b = scaled(batch.obs)
        kl = float(gaussian_kl(mean_a, std_a, mean_b, std_b).mean())
    assert fresh_state_kl(plain, before, batch.obs) > 0 and not torch.equal(before, plain_after)
    return kl


def test_the_exact_natural_step_is_invariant_to_param_scale_and_the_plain_one_is_not():
    """Amari 1998: the natural gradient does not depend on the coordinates (up to damping);
    the plain gradient at the same KL moves weights s^2 times as far against biases and std."""
    exact = ExactConfig(kl_delta=1e-3, damping=1e-8, estimator="analytic")
    vanilla = dataclasses.replace(VanillaConfig(), step_rule="kl", kl_delta=1e-3)
    natural_gap = step_kl(lambda p: make_natural(p, exact, 0), 10.0)
    plain_gap = step_kl(lambda p: make_vanilla(p, vanilla, 0), 10.0)
    assert natural_gap < 1e-5 * 1e-3, natural_gap
    assert plain_gap > 0.1 * 1e-3, plain_gap
    assert math.isfinite(natural_gap)


def test_eval_write_records_the_final_evaluation_once(tmp_path, capsys):
    from npgbench.harness import cli
    from npgbench.harness.tracking import final_eval

    run_dir = train(resolve_config("vanilla", "Hopper-v5", 0, 64, TINY), tmp_path, False).run_dir
    assert cli.main(["eval", str(run_dir), "--write", "--episodes", "3"]) == 0
    record = final_eval.read(run_dir)
    assert record["episodes"] == 3 and len(record["returns"]) == 3
    assert record["mean"] == sum(record["returns"]) / 3 and record["actions"] == "mean"
    assert cli.main(["eval", str(run_dir), "--write", "--episodes", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("(kept)")
    # the same episodes as a plain replay with the same seed
    assert cli.main(["eval", str(run_dir), "--episodes", "3"]) == 0
    assert f"{record['mean']:.1f}" in capsys.readouterr().out


def test_dataset_add_keeps_the_final_evaluation_and_snapshots(tmp_path):
    import csv

    from npgbench.harness.tracking import dataset, final_eval

    extra = {**TINY, "diagnostics.snapshot_every": 2}
    run_dir = train(
        resolve_config("npg_cg", "Hopper-v5", 0, 64 * 3, extra), tmp_path / "o", False
    ).run_dir
    done = final_eval.final_eval(run_dir, episodes=2)
    dataset.add_runs([tmp_path / "o"], tmp_path / "data")
    (copied,) = dataset.find_run_dirs(tmp_path / "data")
    assert final_eval.read(copied) == final_eval.read(run_dir)
    assert [p.name for p in (copied / "snapshots").iterdir()] == ["it00002.pt"]
    dataset.write_manifest(tmp_path / "data")
    with open(tmp_path / "data" / "manifest.csv") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["final_eval_mean"] == f"{done.mean:.2f}" and row["final_eval_episodes"] == "2"
