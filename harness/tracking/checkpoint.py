"""Mid-run checkpoints: <run_dir>/checkpoint.pt lets an interrupted run continue bit-identically.

What is saved is everything the training loop reads: policy and value weights, every
optimiser's state, the updater's own state (generators, K-FAC's running factors), the
sampler's envs (MuJoCo state, time-limit counters, np_random), pending observation, episodes in
flight and normalisers, every generator of the trainer (action noise, value minibatches, eval
noise, torch's global RNG), and the metrics rows so far. Resuming from iteration k and running
to the end gives the same metrics.parquet (timings aside) and policy.pt as one uninterrupted
run (tests/test_checkpoint.py checks it for every registered variant).

When: after every `checkpoint.every`-th iteration, and, in a top-level process, on SIGINT or
SIGTERM once the iteration in progress has ended (a second signal does not wait). Sweep
workers rely on the periodic checkpoints. Completing a run deletes its checkpoint before
meta.json says complete (a kill in between costs a restart, never a complete run with a
checkpoint); one left beside a complete run by older versions is deleted by the next
`npgbench run` or sweep of it.

Format: torch.save of tensors and plain values, read with weights_only=True, so loading runs
no pickled code. A checkpoint is bound to its run: it records its format, the run id (seed
included) and config hash, and its own consistency facts (iteration = number of rows, rows
numbered 0 .. iteration-1, iteration within the run's budget). One that cannot be read (a
directory or a symlink in its place included), or that disagrees on any of these, is deleted
and the run restarts from iteration 0 with `checkpoint_warning` in meta.json, so a checkpoint
of another config or seed, or a crafted one, can never continue a run.
An updater or env without state methods (a plugin) keeps no checkpoints and records
`checkpoint_unsupported` in meta.json: it restarts from zero, as runs did before.
"""

from __future__ import annotations

import io
import logging
import math
import multiprocessing
import shutil
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import torch
from npgbench.harness.core.envs import StateUnsupported
from npgbench.harness.tracking.run_dir import RunDirectory, atomic_write_bytes, atomic_write_json

FILENAME = "checkpoint.pt"
FORMAT = 2
"""Bumped whenever the layout of the saved dict changes; another format is refused."""

_log = logging.getLogger("npgbench.checkpoint")


def _rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def capture(trainer) -> dict:
    """The state of a harness.runner.Trainer between two iterations (tensors, plain values).

    Raises StateUnsupported or NotImplementedError when a part cannot be captured.
    """
    save_updater = getattr(trainer.updater, "state_dict", None)
    if save_updater is None:
        raise NotImplementedError(f"{type(trainer.updater).__name__} has no state_dict()")
    return {
        "policy": trainer.policy.state_dict(),
        "value": trainer.value_fn.state_dict(),
        "value_fitter": trainer.value_fitter.state_dict(),
        "updater": save_updater(),
        "sampler": trainer.sampler.state_dict(),
        "action_noise": trainer.gen.get_state(),
        "eval_noise": trainer.eval_noise.get_state(),
        "minibatch": _rng_state(trainer.rng),
        "torch_global": torch.get_rng_state(),
        "theta_before_update": trainer.theta_before_update,  # None unless held-out diagnostics
    }


def restore(trainer, state: dict) -> None:
    """Inverse of capture on a freshly built Trainer of the same config."""
    trainer.policy.load_state_dict(state["policy"])
    trainer.value_fn.load_state_dict(state["value"])
    trainer.value_fitter.load_state_dict(state["value_fitter"])
    trainer.updater.load_state_dict(state["updater"])
    trainer.sampler.load_state_dict(state["sampler"])
    trainer.gen.set_state(state["action_noise"])
    trainer.eval_noise.set_state(state["eval_noise"])
    trainer.rng.bit_generator.state = state["minibatch"]
    torch.set_rng_state(state["torch_global"])
    trainer.theta_before_update = state.get("theta_before_update")


def _plain(value):
    """Metrics values as built-in types (numpy scalars are not weights_only-loadable)."""
    return value.item() if isinstance(value, np.generic) else value


def _one_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"


def discard(path: Path) -> None:
    """Delete whatever is at path: a file, a symlink (never followed) or a directory."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def read(run_dir: Path, cfg) -> tuple[dict | None, str]:
    """(saved checkpoint of this run, "") or (None, warning). An unusable one is deleted."""
    path = Path(run_dir) / FILENAME
    if not path.exists() and not path.is_symlink():
        return None, ""
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        payload = torch.load(path, weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} npg-bench checkpoint")
    except Exception as exc:  # any unreadable file: restart, never a traceback
        problem = f"corrupt {FILENAME} ({_one_line(exc)})"
    else:
        problem = _mismatch(payload, cfg)
        if not problem:
            return payload, ""
    discard(path)
    warning = f"{problem} ignored and deleted; restarted from iteration 0"
    _log.warning("%s: %s", run_dir, warning)
    return None, warning


def _mismatch(payload: dict, cfg) -> str:
    """Why a readable checkpoint cannot continue this run, or "" (missing keys are left to
    Checkpointer.start, which reports them)."""
    from npgbench.harness.core.identity import config_hash, run_id

    if payload.get("config_hash") != config_hash(cfg):
        return f"{FILENAME} of config {payload.get('config_hash')!r}, not {config_hash(cfg)!r}"
    if payload.get("run_id") != run_id(cfg):
        return f"{FILENAME} of run {payload.get('run_id')!r}, not {run_id(cfg)!r}"
    done, rows = payload.get("iteration"), payload.get("rows")
    if done is None or rows is None:
        return ""
    total = math.ceil(cfg.total_steps / cfg.sampler.steps_per_update)
    if not isinstance(done, int) or not isinstance(rows, list) or not 0 < done <= total:
        return f"{FILENAME} at iteration {done!r} of a {total}-iteration run"
    numbers = [row.get("iteration") if isinstance(row, dict) else None for row in rows]
    if numbers != list(range(done)):
        return f"{FILENAME} at iteration {done} holds {len(rows)} rows, not rows 0 .. {done - 1}"
    return ""


class Checkpointer:
    """Writes and resumes one run directory's checkpoint.pt."""

    def __init__(self, writer: RunDirectory, every: int, config_hash: str, run_id: str):
        self.writer, self.every, self.config_hash = writer, every, config_hash
        self.run_id = run_id
        self.path = writer.path / FILENAME
        self.resumes: list[int] = []
        self.supported = True

    def _write_meta(self) -> None:
        atomic_write_json(self.writer.path / "meta.json", self.writer.meta)

    def start(self, trainer, saved: dict | None, warning: str) -> tuple[int, float]:
        """Load `saved` into the fresh trainer: (iterations done, wall time so far).

        (0, 0.0) without a checkpoint. A checkpoint that fails to load raises ValueError after
        recording the warning; the caller then starts over with a fresh trainer.
        """
        try:
            capture(trainer)
        except (StateUnsupported, NotImplementedError) as exc:
            self._unsupported(str(exc))
        except Exception as exc:  # a plugin's broken state_dict must not fail the run
            self._unsupported(f"{type(exc).__name__}: {exc}")
        if warning:
            self.writer.meta["checkpoint_warning"] = warning
        if saved is None:
            self._write_meta()
            return 0, 0.0
        try:
            done, elapsed = int(saved["iteration"]), float(saved["wall_time"])
            resumes, rows = [*saved["resumes"], done], [dict(row) for row in saved["rows"]]
            restore(trainer, saved["trainer"])
        except Exception as exc:
            discard(self.path)
            self.writer.meta["checkpoint_warning"] = (
                f"{FILENAME} did not fit this run ({_one_line(exc)}); restarted from iteration 0"
            )
            self._write_meta()
            raise ValueError("checkpoint did not load") from exc
        self.resumes = resumes
        self.writer.meta["resumed_at_iterations"] = resumes
        self.writer.rows = rows
        self.writer.flush()
        self._write_meta()
        return done, elapsed

    def _unsupported(self, reason: str) -> None:
        self.supported = False
        self.writer.meta["checkpoint_unsupported"] = f"{reason}: restarts from iteration 0"

    def due(self, done: int, total: int) -> bool:
        return self.every > 0 and done % self.every == 0 and done < total

    def save(self, trainer, done: int, wall_time: float) -> None:
        """Atomically write the state after `done` iterations (no-op when unsupported)."""
        if not self.supported:
            return
        payload = {
            "format": FORMAT,
            "config_hash": self.config_hash,
            "run_id": self.run_id,
            "iteration": done,
            "wall_time": wall_time,
            "resumes": self.resumes,
            "rows": [{k: _plain(v) for k, v in row.items()} for row in self.writer.rows],
            "trainer": capture(trainer),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())

    def remove(self) -> None:
        discard(self.path)


class RunTerminated(SystemExit):
    """A run stopped by a signal whose default action is to terminate (SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.name = signal.Signals(signum).name

    def __str__(self) -> str:
        return f"terminated by {self.name}; rerun to continue from the last checkpoint"


class DeferredSignals:
    """Hold SIGINT/SIGTERM until the current iteration ends, so a checkpoint can be written.

    Installed only in a process's main thread of a top-level process (`npgbench run`, a
    direct `train` call): a sweep's pool workers keep their pool's own signal handling. A
    signal whose handler is SIG_IGN stays ignored. A second signal is not deferred.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.pending: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        if multiprocessing.parent_process() is not None:
            return self
        for signum in self.SIGNALS:
            handler = signal.getsignal(signum)
            if handler not in (signal.SIG_IGN, None):
                self.previous[signum] = handler
                signal.signal(signum, self._defer)
        return self

    def _defer(self, signum: int, frame) -> None:
        if self.pending is None:
            self.pending = signum
            return
        self.pending = None  # asked twice: stop now, the last checkpoint stands
        self._reinstall()
        self._deliver(signum)

    def _reinstall(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _deliver(self, signum: int) -> None:
        """Act as the original handler would have: call it, or (SIG_DFL) exit 128 + signum."""
        handler = signal.getsignal(signum)
        if callable(handler):
            handler(signum, None)  # Python's SIGINT handler raises KeyboardInterrupt
            return
        stop = RunTerminated(signum)
        print(f"error: {stop}", file=sys.stderr)
        raise stop

    def deliver_pending(self) -> None:
        """After the checkpoint: let a held signal take effect."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            self._reinstall()
            self._deliver(signum)

    def __exit__(self, *exc) -> None:
        self._reinstall()
