"""The W&B key table: every key namespaced and distinct, and a row maps as documented (NaN left
out, booleans 0/1, SPS added). That every column a real run of every registered variant
writes has its key is tests/test_metric_schema.py's real-run test (columns == the schema's)."""

from __future__ import annotations

import math

from npgbench.harness.tracking.wandb_keys import METRIC_KEYS, SPS_KEY, STEP_KEY, naming, wandb_row

NAMESPACES = ("charts/", "losses/", "update/", "fisher/", "time/", "heldout/")


def test_every_key_is_namespaced_and_distinct():
    keys = [k for k in METRIC_KEYS.values() if k is not None]
    assert len(set(keys)) == len(keys)
    assert all(k == STEP_KEY or k.startswith(NAMESPACES) for k in keys)
    assert METRIC_KEYS["return_mean"] == "charts/episodic_return"  # CleanRL's names
    assert METRIC_KEYS["eval_return_mean"] == "charts/eval_return"


def test_a_row_maps_nan_out_booleans_to_ints_and_adds_sps():
    row = {
        "step": 512,
        "wall_time": 2.0,
        "return_mean": math.nan,
        "eval_return_mean": 31.5,
        "kl": 0.01,
        "skipped": True,
        "skip_reason": "non-finite gradient",
        "new_column": 3.0,
    }
    assert wandb_row(row) == {
        STEP_KEY: 512,
        "time/time_elapsed": 2.0,
        "charts/eval_return": 31.5,
        "losses/kl": 0.01,
        "update/skipped": 1,
        "other/new_column": 3.0,
        SPS_KEY: 256.0,
    }


def test_naming_shows_the_label_and_groups_seeds_of_one_variant_on_one_env():
    config = {"algo": "trpo", "env": "Hopper-v5", "seed": 3, "suite": "s", "label": "trpo_low"}
    names = naming(config)
    assert names["name"] == "trpo_low__Hopper-v5__s3" and names["job_type"] == "trpo_low"
    assert names["group"] == "s__trpo_low__Hopper-v5"
    assert names["tags"][:4] == ["suite:s", "env:Hopper-v5", "algo:trpo", "label:trpo_low"]
    assert naming({**config, "seed": 4})["group"] == names["group"]
    assert naming(config, group="mine")["group"] == "mine"
    plain = naming({"algo": "ppo", "env": "Hopper-v5", "seed": 0})  # npgbench run: no suite
    assert plain["group"] == "ppo__Hopper-v5" and plain["job_type"] == "ppo"
    long = naming({**config, "label": "npg_cg[" + "update.kl_delta=0.02," * 5 + "]"})
    assert all(len(t) <= 64 for t in long["tags"]) and len(long["job_type"]) <= 64
