"""`npgbench sweep --shard I/N`: run one of N disjoint slices of the grid (Slurm job arrays).

A run's shard is its index in the grid sorted by run id, modulo N. It depends only on the
grid (the suite and the narrowing flags, which every array task must share), never on which
runs are complete, so resuming a shard re-plans exactly the same runs; the N shards
partition the grid and differ in size by at most one run.
"""

from __future__ import annotations

import re

from npgbench.harness.core.config import ConfigError

_SHARD = re.compile(r"(\d+)/(\d+)")


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 0 <= I < N -> (I, N); ConfigError otherwise."""
    match = _SHARD.fullmatch(text.strip())
    if match and int(match[1]) == int(match[2]) > 0:  # N/N: a 1-based array's last task
        count = int(match[2])
        raise ConfigError(
            f"--shard {text!r}: expected I/N with 0 <= I < N: shards are 0-based, "
            f"0/{count} .. {count - 1}/{count}; a "
            f"1-based Slurm array (--array=1-{count}) would never run shard 0: pass "
            f"$((SLURM_ARRAY_TASK_ID - 1))/{count}, or use --array=0-{count - 1}"
        )
    if not match or not int(match[1]) < int(match[2]):
        raise ConfigError(
            f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. "
            "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=0-(N-1)"
        )
    return int(match[1]), int(match[2])


def shard_tasks(tasks: list, index: int, count: int) -> list:
    """The tasks of shard `index` of `count`, in their original order."""
    order = sorted(range(len(tasks)), key=lambda i: tasks[i].run_id)
    mine = {i for rank, i in enumerate(order) if rank % count == index}
    return [t for i, t in enumerate(tasks) if i in mine]
