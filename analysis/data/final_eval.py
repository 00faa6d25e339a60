"""The final return of a run: 50 mean-action evaluation episodes of its final policy.

`npgbench eval` writes `<run_dir>/final_eval.json`: {"episodes": 50, "actions": "mean",
"returns": [...], "mean", "std", "eval_seed", "policy_sha256", "git_sha"}. A file is used only
if it is well formed, evaluates the mean action, and its policy_sha256 matches the sha256 of
the run's policy.pt (an evaluation of another policy is not this run's result). Otherwise the
report falls back to the mean of the last evaluation points of the training-time curve and
says so (reliability.last_points_mean).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

FILE = "final_eval.json"
POLICY = "policy.pt"


@dataclass(frozen=True)
class FinalEval:
    """One run's final evaluation, or why there is none (mean NaN, reason set)."""

    mean: float = math.nan
    episodes: int = 0
    reason: str = ""
    """Empty when used; otherwise why the file was not used ('absent', 'policy mismatch', ...)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_final_eval(run_dir: str | Path) -> FinalEval:
    """The run's final_eval.json if valid (see module docstring), else the reason it is not."""
    run_dir = Path(run_dir)
    path = run_dir / FILE
    if not path.is_file():
        return FinalEval(reason="absent")
    try:
        data = json.loads(path.read_text())
        returns = [float(r) for r in data["returns"]]
        mean, actions, sha = float(data["mean"]), data["actions"], str(data["policy_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return FinalEval(reason=f"unreadable ({type(exc).__name__})")
    if actions != "mean":
        return FinalEval(reason=f"actions {actions!r}, not 'mean'")
    if not returns or not math.isfinite(mean):
        return FinalEval(reason="no finite returns")
    policy = run_dir / POLICY
    if policy.is_file() and _sha256(policy) != sha:
        return FinalEval(reason="policy mismatch (policy_sha256 differs from policy.pt)")
    return FinalEval(mean=mean, episodes=len(returns))
