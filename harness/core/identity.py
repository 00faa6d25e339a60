"""Run identity: the experiment's fields, their hash and the run id.

A run directory is named `{algo}__{env}__s{seed}__{hash8}`; the hash covers every field that
defines the experiment (not W&B or checkpoint settings, not fields added later at their
neutral value), so re-running a config finds its own directory and a committed dataset keeps
its names as options are added.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing

if typing.TYPE_CHECKING:
    from npgbench.harness.core.config import RunConfig


def to_dict(cfg: RunConfig) -> dict[str, typing.Any]:
    """Plain JSON-able dict of the resolved config."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


# Fields added after results were first committed (docs/data), with the value that reproduces
# the behaviour from before they existed. At that value a field is left out of the hash, so
# adding an option never renames existing runs; set to anything else, it is hashed as usual.
HASH_NEUTRAL_DEFAULTS: dict[str, typing.Any] = {
    "eval.sampled": False,
    "update.exact_form": "auto",
    "update.cg_rtol": 0.0,
    "policy.param_scale": 1.0,
    "diagnostics.heldout_every": 0,
    "diagnostics.snapshot_every": 0,
}


def experiment_fields(data: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """The fields of a config dict (to_dict's, or a config.json) that define the experiment.

    W&B and checkpoint settings are tracking, not the experiment, and fields in
    HASH_NEUTRAL_DEFAULTS at their listed value (or absent, as in configs written before
    they existed) are left out. Returns a copy; `data` is not modified.
    """
    data = json.loads(json.dumps(data))
    data.pop("wandb", None)
    data.pop("checkpoint", None)
    for dotted, neutral in HASH_NEUTRAL_DEFAULTS.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node.get(key, {})
        if leaf in node and node[leaf] == neutral:
            del node[leaf]
    return data


def config_hash(cfg: RunConfig) -> str:
    """sha1 of the canonical JSON of experiment_fields(cfg) without the seed (first 8 hex).

    Switching W&B or checkpoint settings, or adding an option at its neutral value, never
    renames a run.
    """
    data = experiment_fields(to_dict(cfg))
    data.pop("seed")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode()).hexdigest()[:8]


def run_id(cfg: RunConfig) -> str:
    """`{algo}__{env}__s{seed}__{hash8}`: no timestamp, so re-running is idempotent."""
    return f"{cfg.algo}__{cfg.env}__s{cfg.seed}__{config_hash(cfg)}"


def config_record(cfg: RunConfig) -> dict:
    """config.json content: the resolved config plus its identity."""
    return {**to_dict(cfg), "run_id": run_id(cfg), "config_hash": config_hash(cfg)}
