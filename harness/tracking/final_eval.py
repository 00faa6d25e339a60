"""final_eval.json: the final policy of a complete run, replayed with the mean action.

The primary "final return" of the analysis (docs/analysis-plan.md). Training-episode returns
mix in each variant's exploration noise (its sigma ends at very different values), and the
5-episode evaluations logged during training are few; this replays policy.pt for `episodes`
episodes with the mean action (clipped to the action box), frozen observation normaliser, reset
seeds seed .. seed + episodes - 1: the same initial states for every run (common random numbers,
so variants are compared on the same episodes). Written atomically beside policy.pt:

    {"episodes": 50, "actions": "mean", "returns": [...], "mean": ..., "std": ...,
     "eval_seed": 12345, "policy_sha256": ..., "git_sha": ...}

A run that already holds a final_eval.json of the same protocol (episodes, seed) and the same
policy.pt is not evaluated again; one of another protocol or policy is replaced.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILENAME = "final_eval.json"
EPISODES = 50
SEED = 12345


@dataclass(frozen=True)
class FinalEval:
    """One run's final evaluation."""

    run_dir: Path
    mean: float
    std: float
    episodes: int
    reused: bool
    """True when an existing final_eval.json of the same protocol and policy was kept."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(run_dir: Path) -> dict | None:
    """The run's final_eval.json, or None when it has none or it is unreadable."""
    try:
        data = json.loads((Path(run_dir) / FILENAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def final_eval(run_dir: Path, episodes: int = EPISODES, seed: int = SEED) -> FinalEval:
    """Evaluate (or reuse) the final policy of the complete run `run_dir` and write the file."""
    from npgbench.harness.core.evaluation import evaluate, load_policy
    from npgbench.harness.tracking.run_dir import atomic_write_json, git_sha

    run_dir = Path(run_dir)
    policy_sha = _sha256(run_dir / "policy.pt")
    old = read(run_dir)
    if (
        old is not None
        and old.get("episodes") == episodes
        and old.get("eval_seed") == seed
        and old.get("policy_sha256") == policy_sha
    ):
        return FinalEval(run_dir, float(old["mean"]), float(old["std"]), episodes, True)
    policy, norm, cfg = load_policy(run_dir)
    returns = evaluate(policy, norm, cfg["env"], episodes, seed, cfg.get("max_episode_steps", 0))
    record = {
        "episodes": episodes,
        "actions": "mean",
        "returns": returns,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "eval_seed": seed,
        "policy_sha256": policy_sha,
        "git_sha": git_sha(),
    }
    atomic_write_json(run_dir / FILENAME, record)
    return FinalEval(run_dir, record["mean"], record["std"], episodes, False)
