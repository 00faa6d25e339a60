"""Watching a run while it trains: progress lines in a log, and TensorBoard event files.

Both take the metrics rows as the W&B mirror does (`train(..., on_row=...)`, a resumed run's
restored rows first), so they see the same numbers as metrics.parquet:

  ProgressLines      `npgbench run` without a terminal (a Slurm log, nohup, CI): one line
                     per `every` updates (default: a tenth of the run) or per minute,
                     whichever comes first, and the last; iteration, env steps, the latest
                     training return and steps/s.
  TensorBoardMirror  `--tensorboard`: <run_dir>/tensorboard/ event files with the W&B
                     mirror's keys (charts/episodic_return, losses/kl, ...) against
                     global_step (harness/tracking/wandb_keys.py: one metric schema for both). Needs
                     the `tensorboard` package (pip install 'npg-bench[tensorboard]').
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path


class ProgressLines:
    """One progress line per `every` updates or per `seconds`, and after the last update."""

    def __init__(self, label: str, iterations: int, every: int = 0, seconds: float = 60.0,
                 stream=None):  # fmt: skip
        self.label, self.iterations = label, iterations
        self.every = every or max(1, math.ceil(iterations / 10))
        self.seconds, self.stream = seconds, stream or sys.stderr
        self.last_line, self.last_return = time.monotonic(), math.nan

    def on_row(self, row: dict) -> None:
        if not math.isnan(row.get("return_mean", math.nan)):
            self.last_return = row["return_mean"]
        done = int(row["iteration"]) + 1
        due = done % self.every == 0 or done == self.iterations
        if not due and time.monotonic() - self.last_line < self.seconds:
            return
        self.last_line = time.monotonic()
        sps = row["step"] / row["wall_time"] if row.get("wall_time") else math.nan
        print(
            f"{self.label}: iteration {done}/{self.iterations}, {row['step']:,d} steps, "
            f"return {self.last_return:.1f}, {sps:.0f} steps/s",
            file=self.stream,
            flush=True,
        )


class TensorBoardMirror:
    """Event files of one run under <run_dir>/tensorboard/, keyed as the W&B mirror keys."""

    def __init__(self, run_dir: Path, algo: str):
        from npgbench.harness.tracking.wandb_keys import metric_keys

        self.dir, self.keys, self.writer = Path(run_dir) / "tensorboard", metric_keys(algo), None

    def on_row(self, row: dict) -> None:
        """Write the row's scalars; the first failure is logged and turns the mirror off
        (like the W&B mirror, it never stops the run)."""
        if self.keys is None:
            return
        try:
            self._write(row)
        except Exception as exc:
            logging.getLogger("npgbench.tensorboard").warning(
                "TensorBoard write failed, mirror off: %s: %s", type(exc).__name__, exc
            )
            self.keys = None

    def _write(self, row: dict) -> None:
        from npgbench.harness.tracking.wandb_keys import STEP_KEY, wandb_row

        data = wandb_row(row, self.keys)
        step = int(data.pop(STEP_KEY))
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: a resumed run rewrites its rows from the first one it is given, so
            # the points an earlier attempt wrote from there on are hidden, not doubled
            self.writer = SummaryWriter(str(self.dir), purge_step=step)
        for key, value in data.items():
            if isinstance(value, (int, float)):  # bool too: flags as 0/1
                self.writer.add_scalar(key, float(value), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def watchers(cfg, run_dir: Path, bar: bool, quiet: bool, tensorboard: bool) -> list:
    """What watches one `npgbench run` beside W&B (each has on_row): progress lines when no
    bar is drawn and output is wanted (a log), TensorBoard event files when asked for."""
    watch: list = []
    if not bar and not quiet:
        iterations = math.ceil(cfg.total_steps / cfg.sampler.steps_per_update)
        watch.append(ProgressLines(f"{cfg.algo} {cfg.env} s{cfg.seed}", iterations))
    if tensorboard:
        watch.append(TensorBoardMirror(run_dir, cfg.algo))
    return watch


def check_tensorboard() -> None:
    """ConfigError (one line, exit 2) when --tensorboard is asked for without the package."""
    from npgbench.harness.core.config import ConfigError

    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--tensorboard needs the tensorboard package: pip install 'npg-bench[tensorboard]'"
        ) from None


def compose(*callbacks: Callable[[dict], None] | None) -> Callable[[dict], None] | None:
    """One on_row calling each given callback in turn (None when there is none)."""
    chosen = [c for c in callbacks if c is not None]
    if not chosen:
        return None
    if len(chosen) == 1:
        return chosen[0]

    def on_row(row: dict) -> None:
        for callback in chosen:
            callback(row)

    return on_row


__all__ = ["ProgressLines", "TensorBoardMirror", "check_tensorboard", "compose", "watchers"]
