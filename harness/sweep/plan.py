"""Planning a sweep before anything runs: the seeds, the checks that need an env's sizes, the
status of every run directory already under --out, and what --dry-run prints.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from npgbench.harness.core.command import rounding_note
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.run_files import RunStatus

MAX_SEEDS = 10_000
"""Most seeds a sweep takes (--seeds, --num-seeds): far past any benchmark's, and a typo such
as 10**9 is refused before a list of that length is built."""


def pick_seeds(suite_seeds, seeds: list[int] | None, num: int | None) -> list[int]:
    """--seeds as given; --num-seeds N: the suite's first N, extended with the next integers."""
    if max(len(seeds or []), num or 0) > MAX_SEEDS:
        raise ConfigError(f"at most {MAX_SEEDS:,d} seeds per sweep, got {num or len(seeds):,d}")
    if seeds:
        return seeds
    chosen = list(suite_seeds)
    if num is None:
        return chosen
    chosen = chosen[:num]
    nxt = max(suite_seeds) + 1
    while len(chosen) < num:
        chosen.append(nxt)
        nxt += 1
    return chosen


def check_sizes(tasks) -> None:
    """Checks that need the env's dimensions (fidelity's policy size), before anything runs."""
    from npgbench.harness.core.config_checks import check_policy_size
    from npgbench.harness.core.envs import check_env_spaces

    for task in tasks:
        try:
            check_policy_size(task.cfg, *check_env_spaces(task.env))
        except ConfigError as exc:
            raise ConfigError(f"{task.label} on {task.env}: {exc}") from None


def plan(tasks, out: Path) -> list[RunStatus]:
    """Status of every task's run directory; refuses a directory holding another config.

    Compares the experiment's fields (config.experiment_fields: not W&B or checkpoint
    settings, not options at their neutral value) with the folder's config.json, so data
    computed under another config is never overwritten, and runs recorded before an option
    existed are still recognised as the same run.
    """
    from npgbench.harness.core.identity import experiment_fields, to_dict
    from npgbench.harness.tracking.integrity import verified_status
    from npgbench.harness.tracking.run_dir import read_json

    statuses = []
    for task in tasks:
        run_dir = out / task.run_id
        found = read_json(run_dir / "config.json")
        expected = experiment_fields(to_dict(task.cfg))
        if found is not None:
            found = experiment_fields(found)
        if found is not None and any(found.get(k) != v for k, v in expected.items()):
            raise ConfigError(
                f"{run_dir} holds a different config under the same run id; "
                "refusing to overwrite it (move it away or use another --out)"
            )
        statuses.append(verified_status(run_dir) or RunStatus.NEW)
    return statuses


def drop_stale_checkpoints(tasks, statuses, out: Path) -> None:
    """Delete the checkpoint.pt left beside any complete run (integrity.py)."""
    from npgbench.harness.tracking.integrity import drop_stale_checkpoint

    for task, status in zip(tasks, statuses, strict=True):
        if status == RunStatus.COMPLETE:
            drop_stale_checkpoint(out / task.run_id)


def print_rounding(tasks) -> None:
    """One stderr line per distinct budget that the runs round up to whole updates."""
    budgets = Counter((t.cfg.total_steps, t.cfg.sampler.steps_per_update) for t in tasks)
    for (requested, per_update), runs in sorted(budgets.items()):
        note = rounding_note(requested, per_update)
        if note:
            print(f"{note}, {runs} run{'s' * (runs != 1)}", file=sys.stderr)


def print_plan(
    suite, tasks, statuses, out: Path, done=(RunStatus.COMPLETE, RunStatus.STALE)
) -> None:
    """The plan, one line per run, and the counts; `done`: the statuses that are no work."""
    width = max(len(t.label) for t in tasks)
    env_w = max(len(t.env) for t in tasks)
    print(f"suite {suite.name} ({suite.path}) -> {out}")
    for task, status in zip(tasks, statuses, strict=True):
        print(
            f"  {status:<8}  {task.label:<{width}}  {task.env:<{env_w}}  s{task.seed:<3} "
            f"{task.env_steps:>9,d} steps  {task.run_id}"
        )
    counts = Counter(statuses)
    todo = [t for t, s in zip(tasks, statuses, strict=True) if s not in done]
    n_stale, n_corrupt = counts[RunStatus.STALE], counts[RunStatus.CORRUPT]
    stale = f" (stale {n_stale})" if n_stale else ""
    corrupt = f"corrupt {n_corrupt} (redone), " if n_corrupt else ""
    print(
        f"{len(tasks)} runs: complete {counts[RunStatus.COMPLETE] + n_stale}{stale}, "
        f"{corrupt}failed {counts[RunStatus.FAILED]}, incomplete {counts[RunStatus.RUNNING]}, "
        f"new {counts[RunStatus.NEW]}; work left: {len(todo)} runs, "
        f"{sum(t.env_steps for t in todo):,d} env steps"
    )
