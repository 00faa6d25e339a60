"""The sweep's progress bar in env steps, advanced while runs train, not only as they end.

Workers are other processes (loky, dask, Slurm jobs), so the parent learns their progress
from the run directories: the runner rewrites <run_dir>/progress.json after every update
(harness/core/run_files.py PROGRESS). Whenever the executor reports that no run finished for
a tick (harness/sweep/pool.py, `tick_s`), the parent reads the progress.json of the unfinished
runs that can be in flight; a finished run counts its whole budget. A missing, partial or
stale file only means no news: the bar never moves backwards and never passes a run's budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from npgbench.harness.core.run_files import read_progress
from npgbench.harness.sweep.jobs import Job

TICK_S = 1.0
"""Seconds between looks at the running runs' progress files."""
WINDOW = 64
"""At least this many unfinished runs are looked at per tick (and 4 per worker): jobs start
in list order (loky, submitit), so the runs in flight are among the first unfinished ones,
and a sweep of thousands of runs costs a few dozen small reads a second, not thousands."""


class Bar(Protocol):
    """What the sweep needs of its bar (tqdm's methods)."""

    def update(self, n: int) -> object: ...


class StepProgress:
    """Env steps done across a sweep's runs, pushed into `bar` as they grow.

    total: the sum of each job's budget in whole updates (Job.env_steps).
    """

    def __init__(self, jobs: Sequence[Job], bar: Bar, n_jobs: int = 1):
        self.bar = bar
        self.jobs = list(jobs)
        self.budget = {j.run_id: j.env_steps for j in self.jobs}
        self.counted = dict.fromkeys(self.budget, 0)
        """run id -> env steps of that run already added to the bar."""
        self.open = {j.run_id for j in self.jobs}
        """Runs that have not finished yet."""
        self.window = max(WINDOW, 4 * n_jobs)

    @property
    def total(self) -> int:
        """Env steps of the whole sweep: the bar's total."""
        return sum(self.budget.values())

    def poll(self) -> None:
        """Add the steps the unfinished runs' progress files report since the last look."""
        looked = 0
        for job in self.jobs:
            if looked >= self.window:
                break
            if job.run_id in self.open:
                looked += 1
                step = read_progress(job.run_dir)
                if step is not None:
                    self._advance(job.run_id, step)

    def finished(self, run_id: str) -> None:
        """A run ended (however it ended): its whole budget is done for the bar."""
        self.open.discard(run_id)
        self._advance(run_id, self.budget[run_id])

    def _advance(self, run_id: str, step: int) -> None:
        """Move run_id to `step` env steps (capped at its budget, never backwards)."""
        gain = min(step, self.budget[run_id]) - self.counted[run_id]
        if gain > 0:
            self.counted[run_id] += gain
            self.bar.update(gain)
