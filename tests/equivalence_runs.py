"""Evidence for a source_ledger.py entry: short same-seed runs of the campaign's option paths
(converged CG with a tolerance, damping 0.1, K-FAC without averaging, param_scale 10, softplus
std, other step sizes), recorded as digests of every metrics column (timings left out) and of
every final policy tensor, so two checkouts compare bit for bit:

    OLD/.venv/bin/python tests/equivalence_runs.py old.json      # in the old checkout
    .venv/bin/python tests/equivalence_runs.py new.json          # in this one
    python tests/equivalence_runs.py --compare old.json new.json

tests/data/equivalence_runs.json holds the record made at the campaign's fixed commit
(RECORDED_AT); tests/test_equivalence_runs.py (slow) re-records with the installed code and
compares. The reference runs (reference_runs.py) cover every variant at its default settings;
this covers the options the committed campaign runs use.
"""

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

BASE = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "value.epochs": 2,
    "eval.every": 2,
    "eval.episodes": 1,
}
CASES = {
    "cgexact_d0.01": ("npg_cg", {"update.damping": 0.01, "update.cg_iters": 600, "update.cg_rtol": 0.005, "diagnostics.heldout_every": 2, "diagnostics.snapshot_every": 2}),
    "cgexact_d0.1": ("npg_cg", {"update.damping": 0.1, "update.cg_iters": 300, "update.cg_rtol": 0.005}),
    "exact_d0.1": ("npg_exact", {"update.damping": 0.1, "diagnostics.heldout_every": 2}),
    "kfac_nodecay": ("npg_kfac", {"update.kfac_stat_decay": 0.0}),
    "cg_kl0.0065": ("npg_cg", {"update.kl_delta": 0.0065}),
    "exact_s10": ("npg_exact", {"policy.param_scale": 10.0}),
    "diag_s10": ("npg_diag", {"policy.param_scale": 10.0}),
    "sgd_s10": ("vanilla", {"update.step_rule": "sgd", "update.lr": 0.1, "policy.param_scale": 10.0}),
    "exact_softplus_lowdamp": ("npg_exact", {"policy.std_param": "softplus", "update.damping": 0.001}),
    "trpo_kl0.003": ("trpo", {"update.kl_delta": 0.003}),
    "ppo_lr1e-3": ("ppo", {"update.lr": 0.001}),
}  # fmt: skip


RECORDED_AT = "5526eb1fd65618734e96db3aa8c98887e5985836"
"""The commit whose record tests/data/equivalence_runs.json holds (the campaign's)."""


def digest(values) -> str:
    return hashlib.sha256(repr(values).encode()).hexdigest()


def record_cases() -> dict[str, dict]:
    """case -> {"metrics": column -> digest, "policy": tensor name -> digest}."""
    from npgbench.harness.runner import resolve_config, train

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (algo, extra) in CASES.items():
            cfg = resolve_config(algo, "Hopper-v5", 5, 768, {**BASE, **extra})
            result = train(cfg, Path(tmp) / name, progress=False)
            run_dir = getattr(result, "run_dir", result)  # older checkouts return the path
            frame = pd.read_parquet(run_dir / "metrics.parquet")
            frame = frame.drop(columns=[c for c in frame if c.startswith("time_") or c == "wall_time"])  # fmt: skip
            frame = frame.astype(object).where(frame.notna(), None)
            policy = torch.load(run_dir / "policy.pt", weights_only=True)["policy"]
            out[name] = {
                "metrics": {c: digest([repr(v) for v in frame[c].tolist()]) for c in sorted(frame)},
                "policy": {k: digest(v.flatten().tolist()) for k, v in policy.items()},
            }
    return out


def differences(old: dict, new: dict) -> list[str]:
    """'case: column' (or 'case: policy tensor', or 'case') of every digest that differs."""
    out = []
    for name, case in old.items():
        if name not in new:
            out.append(f"{name}: not recorded")
            continue
        for part in ("metrics", "policy"):
            keys = sorted(set(case[part]) | set(new[name][part]))
            out += [
                f"{name}: {part} {k}" for k in keys if case[part].get(k) != new[name][part].get(k)
            ]
    return out


def compare(old: Path, new: Path) -> int:
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    bad = differences(a, b)
    same = len({d.split(":")[0] for d in bad})
    print(f"{len(a) - same} of {len(a)} cases bit-identical" + (f"; differ: {bad}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    Path(sys.argv[1]).write_text(json.dumps(record_cases(), indent=1, sort_keys=True) + "\n")
