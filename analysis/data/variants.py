"""Controlled comparisons: which runs differ only in one setting.

A run's settings are its config.json flattened to dotted keys (policy.std_param,
update.kl_delta, ...), with meta.json's grid filling keys the config lacks. Runs are
*comparable on key K* when they share the algorithm and every setting except K, the env and
seed, the run's identity (run_id, config_hash) and measurement-only settings (diagnostics.*,
wandb.*). Such a set is a comparison group. It is named after the algorithm, plus the settings
that tell it apart from the algorithm's other groups on the same env
("vanilla[update.step_rule=sgd]"; per env, so an env override does not rename a group).
So vanilla with step_rule sgd and kl are never mixed, and a suite variant
("npg_exact_softplus") joins its base algorithm's group.
"""

from __future__ import annotations

import json
import math

import pandas as pd
from npgbench.harness.core.families import recorded_family
from npgbench.harness.core.run_files import RunStatus

IGNORED = frozenset({"run_id", "config_hash", "seed", "env", "algo"})
MEASUREMENT = ("diagnostics.", "wandb.")
"""Setting prefixes that change what is measured, not what is learned."""
COLUMNS = ["run_id", "env", "algo", "group", "key", "value", "value_text"]


def loads(text) -> dict:
    """A JSON object from a runs-table cell ({} when missing or malformed)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def value_text(value) -> str:
    """Settings value as written in labels: 0.01, softplus, (64,64)."""
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(map(str, value)) + ")"
    return str(value)


def sort_key(text: str) -> tuple:
    """Numbers in numeric order before other text (so 1e-05 < 0.001 < 0.01)."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, math.nan, text)


def run_settings(runs: pd.DataFrame) -> dict[str, dict]:
    """run_id -> {dotted key: value}: config.json (flattened), grid values filling gaps."""
    configs = runs["config"] if "config" in runs else pd.Series("{}", index=runs.index)
    return {
        rid: {**loads(grid), **loads(cfg)}
        for rid, grid, cfg in zip(runs["run_id"], runs["grid"], configs)
    }


def run_families(runs: pd.DataFrame) -> dict[str, str]:
    """run_id -> the variant's family (harness/core/families.py): the runs table's `family`
    column (meta.json's, load.py), else BUILT_IN_FAMILIES by algo for a hand-made table."""
    if "family" in runs:
        return dict(zip(runs["run_id"], runs["family"].fillna("")))
    return {rid: recorded_family(None, algo) for rid, algo in zip(runs["run_id"], runs["algo"])}


def _group_names(rests: list[dict]) -> list[str]:
    """Names of comparison groups of one algorithm on one env: the algorithm, plus the
    settings whose values differ between these groups (none when there is one group)."""
    keys = sorted({k for rest in rests for k in rest})
    differ = [k for k in keys if len({json.dumps(r.get(k), sort_keys=True) for r in rests}) > 1]
    names = [",".join(f"{k}={value_text(r.get(k))}" for k in differ) for r in rests]
    if len(set(names)) < len(names):  # e.g. 1 and 1.0: same text, different settings
        names = [f"{n},#{i}" if n else f"#{i}" for i, n in enumerate(names)]
    return names


def comparisons(runs: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per complete run in a comparison group on `key` that has at least two values
    of it on that env. Columns: run_id, env, algo, group, key, value, value_text."""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    rows, rests = [], {}
    all_settings = run_settings(done)
    for rid, env, algo in zip(done["run_id"], done["env"], done["algo"]):
        settings = all_settings[rid]
        if key not in settings:
            continue
        rest = {
            k: v
            for k, v in settings.items()
            if k != key and k not in IGNORED and not k.startswith(MEASUREMENT)
        }
        canon = json.dumps(rest, sort_keys=True)
        rests[(algo, canon)] = rest
        rows.append(
            {
                "run_id": rid,
                "env": env,
                "algo": algo,
                "canon": canon,
                "key": key,
                "value": settings[key],
                "value_text": value_text(settings[key]),
            }
        )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows)
    distinct = df.groupby(["algo", "canon", "env"])["value_text"].transform("nunique")
    df = df[distinct >= 2]
    names = {}
    for (algo, env), sub in df.groupby(["algo", "env"], sort=True):
        canons = sorted(sub["canon"].unique())
        for canon, parts in zip(canons, _group_names([rests[(algo, c)] for c in canons])):
            names[(algo, env, canon)] = f"{algo}[{parts}]" if parts else algo
    df = df.assign(group=[names[k] for k in zip(df["algo"], df["env"], df["canon"])])
    order = df["value_text"].map(sort_key)
    df = df.assign(_order=order).sort_values(["env", "group", "_order", "run_id"], kind="stable")
    return df[COLUMNS].reset_index(drop=True)


def per_value(summary: pd.DataFrame, runs: pd.DataFrame, key: str) -> pd.DataFrame:
    """Final return per value of `key` per (env, comparison group): seeds, final_mean,
    final_std (over seeds). value is numeric where every value is a number, else text."""
    cmp = comparisons(runs, key)
    finals = summary.set_index("run_id")["final"]
    cmp = cmp[cmp["run_id"].isin(finals.index)].assign(final=lambda d: d["run_id"].map(finals))
    cols = [
        "env",
        "algo",
        "group",
        "key",
        "value",
        "value_text",
        "seeds",
        "final_mean",
        "final_std",
    ]
    if cmp.empty:
        return pd.DataFrame(columns=cols)
    out = (
        cmp.groupby(["env", "algo", "group", "key", "value_text"], sort=False)
        .agg(seeds=("final", "count"), final_mean=("final", "mean"), final_std=("final", "std"))
        .reset_index()
    )
    numeric = pd.to_numeric(out["value_text"], errors="coerce")
    out["value"] = numeric if numeric.notna().all() else out["value_text"]
    out["_order"] = out["value_text"].map(sort_key)
    out = out.sort_values(["env", "group", "key", "_order"], kind="stable")
    return out[cols].reset_index(drop=True)


def grid_keys(runs: pd.DataFrame) -> list[str]:
    """Every key any complete run's meta.json grid swept, sorted."""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    return sorted({k for text in done["grid"] for k in loads(text)})
