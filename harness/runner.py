"""One run: seed -> sample / update / fit value / log, in a loop -> run directory.

The loop is the same for every variant; only `updater.update(batch)` differs.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from npgbench.algorithms.heldout import fresh_state_kl
from npgbench.algorithms.registry import lookup
from npgbench.harness.core.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
)
from npgbench.harness.core.envs import check_env_id, check_env_spaces
from npgbench.harness.core.evaluation import evaluate, mean_std
from npgbench.harness.core.identity import config_hash, config_record, run_id
from npgbench.harness.core.metric_rows import MetricRow, assemble, empty_row
from npgbench.harness.core.policy import GaussianPolicy, ValueNet, flat_params
from npgbench.harness.core.returns import final_return, run_final_return
from npgbench.harness.core.rollout import Sampler
from npgbench.harness.core.run_files import RunStatus
from npgbench.harness.core.value import ValueFitter
from npgbench.harness.tracking import checkpoint
from npgbench.harness.tracking.fingerprint import code_fingerprint
from npgbench.harness.tracking.integrity import settle
from npgbench.harness.tracking.run_dir import (
    LostRun,
    RunDirectory,
    atomic_write_bytes,
    holding_run,
    owns_run,
)


def resolve_config(
    algo: str,
    env: str,
    seed: int = 0,
    total_steps: int | None = None,
    overrides: dict | None = None,
) -> RunConfig:
    """Defaults < variant protocol defaults < user overrides; raises ConfigError on bad input."""
    variant = lookup(algo)
    check_env_id(env)
    check_env_spaces(env)
    cfg = RunConfig(algo=algo, env=env, seed=seed, update=variant.config())
    if total_steps is not None:
        cfg = dataclasses.replace(cfg, total_steps=total_steps)
    cfg = apply_overrides(cfg, {**variant.defaults, **(overrides or {})})
    if cfg.checkpoint.every < 0:
        raise ConfigError("checkpoint.every must be >= 0 (0 disables checkpoints)")
    return cfg


def seed_streams(seed: int) -> dict[str, int]:
    """Independent 32-bit seeds from one integer: env resets, action noise ("torch"), value-fit
    minibatches, evaluation, network init, and the updater's own stream (PPO minibatches,
    sampled-Fisher actions), and the action noise of sampled evaluations ("eval_noise").
    Spawned children are keyed by index: adding one keeps the rest."""
    names = ("env", "torch", "minibatch", "eval", "init", "update", "eval_noise")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: int(c.generate_state(1)[0]) for n, c in zip(names, children)}


class Trainer:
    """Everything a run holds: env sampler, policy, value net, updater, RNG streams."""

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        seeds = seed_streams(cfg.seed)
        torch.manual_seed(seeds["init"])
        self.gen = torch.Generator().manual_seed(seeds["torch"])
        self.rng = np.random.default_rng(seeds["minibatch"])
        self.eval_seed = seeds["eval"] % 2**31
        self.eval_noise = torch.Generator().manual_seed(seeds["eval_noise"])
        self.sampler = Sampler(cfg.env, cfg.sampler, cfg.max_episode_steps, seeds["env"] % 2**31)
        self.policy = GaussianPolicy(self.sampler.obs_dim, self.sampler.act_dim, cfg.policy)
        self.value_fn = ValueNet(self.sampler.obs_dim, cfg.value)
        self.updater = lookup(cfg.algo).make(
            self.policy, cfg.update, seeds["update"], cfg.diagnostics
        )
        self.value_fitter = ValueFitter(self.value_fn, cfg.value)
        self.theta_before_update: torch.Tensor | None = None
        """theta_old [P] of the last update when it was a held-out diagnostic one."""
        self.conditions = tuple(
            name
            for name, on in (
                ("eval.sampled", cfg.eval.sampled),
                ("held-out", cfg.diagnostics.heldout_every > 0),
            )
            if on
        )
        """The metrics.CONDITIONS of the runner's own columns in this run."""

    def iteration(self, it: int) -> MetricRow:
        """Sample one batch, update the policy, fit the value function; one metrics row: the
        runner's own, the updater's and the value fit's rows joined (metric_rows.assemble)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        batch = self.sampler.collect(self.policy, self.value_fn, self.gen)
        t1, c1 = time.perf_counter(), time.thread_time()
        fresh_kl = self._fresh_state_kl(it, batch)
        stats = self.updater.update(batch)
        t2, c2 = time.perf_counter(), time.thread_time()
        value = self.value_fitter.fit(batch, self.rng)
        t3, c3 = time.perf_counter(), time.thread_time()
        ret_mean, ret_std = mean_std(batch.episode_returns)
        # "update": a plugin updater's plain dict may leave skipped / skip_reason out
        row = assemble(empty_row(("runner", "update"), self.conditions), stats, value)
        row.update(
            iteration=it,
            return_mean=ret_mean,
            return_std=ret_std,
            episodes=len(batch.episode_returns),
            time_sample=t1 - t0,
            time_update=t2 - t1,
            time_value=t3 - t2,
            # this thread's CPU seconds: what the phase cost, whatever else the machine ran
            time_sample_cpu=c1 - c0,
            time_update_cpu=c2 - c1,
            time_value_cpu=c3 - c2,
        )
        if "held-out" in self.conditions:
            row["prev_step_kl_fresh"] = fresh_kl
        if self.cfg.eval.every > 0 and (it + 1) % self.cfg.eval.every == 0:
            row["eval_return_mean"], row["eval_return_std"] = mean_std(
                self.evaluate(self.cfg.eval.episodes)
            )
            if self.cfg.eval.sampled:
                row["eval_sampled_return_mean"], row["eval_sampled_return_std"] = mean_std(
                    self.evaluate(self.cfg.eval.episodes, self.eval_noise)
                )
        return row

    def _fresh_state_kl(self, it: int, batch) -> float:
        """With diagnostics.heldout_every = K: KL between the policy before and after the
        previous update on this batch's states (that update never saw them; NaN unless the
        previous update was a diagnostic one), and keep theta_old when this one is."""
        every = self.cfg.diagnostics.heldout_every
        if every <= 0:
            return math.nan
        kl = math.nan
        if self.theta_before_update is not None:
            kl = fresh_state_kl(self.policy, self.theta_before_update, batch.obs)
        due = it % every == 0
        self.theta_before_update = flat_params(self.policy.all_params()) if due else None
        return kl

    def evaluate(self, episodes: int, noise: torch.Generator | None = None) -> list[float]:
        return evaluate(
            self.policy,
            self.sampler.obs_norm,
            self.cfg.env,
            episodes,
            self.eval_seed,
            self.cfg.max_episode_steps,
            noise,
        )

    def save(self, path: Path) -> None:
        """policy.pt: weights, normaliser statistics and config, written atomically."""
        buffer = io.BytesIO()
        torch.save(
            {
                "policy": self.policy.state_dict(),
                "obs_norm": self.sampler.obs_norm.state_dict(),
                "value": self.value_fn.state_dict(),
                "config": config_record(self.cfg),
            },
            buffer,
        )
        path.parent.mkdir(exist_ok=True)  # snapshots/
        atomic_write_bytes(path, buffer.getvalue())


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What `train` returns: the run it finished, so that no caller reads it back."""

    run_dir: Path
    """out/<run_id>/: the run directory, the record of everything else."""
    final_return: float
    """The run's final return (harness/core/returns.py: the forward-filled training return
    over the last 10% of iterations; NaN when no episode ended)."""
    iterations: int
    """Updates the run holds: ceil(total_steps / sampler.steps_per_update)."""
    trained: bool
    """False when the run was complete already and left untouched."""


def train(
    cfg: RunConfig,
    out: Path,
    progress: bool = True,
    on_row: Callable[[dict], None] | None = None,
    extra_meta: dict | None = None,
) -> TrainResult:
    """Run cfg into out/<run_id>/ and say how it ended. A complete run is left untouched;
    an incomplete one continues from its checkpoint.pt when it has one (harness/tracking/checkpoint.py);
    a "complete" one that fails its checks (harness/tracking/integrity.py) is moved aside and redone.

    Holds the run's lock throughout (tracking.holding_run): RunBusy, with nothing touched,
    when another process trains this run. on_row is called with every metrics row (the W&B
    mirror), a resumed run's restored rows first; its failures never stop the run.
    """
    record = config_record(cfg)
    run_dir = Path(out) / record["run_id"]
    with holding_run(run_dir):
        extra = settle(run_dir)
        if extra is None:  # complete already: its return is only in the directory
            return TrainResult(run_dir, run_final_return(run_dir), _iterations(cfg), False)
        torch.set_num_threads(1)
        saved, warning = checkpoint.read(run_dir, cfg)
        meta = {**(extra_meta or {}), **extra, "code": code_fingerprint(cfg.algo)}
        writer = RunDirectory(run_dir, record, meta)
        try:
            _train_loop(cfg, writer, progress, on_row, saved, warning)
            returns_T = np.array([row["return_mean"] for row in writer.rows], dtype=float)
        except BaseException as exc:  # KeyboardInterrupt too: record, then let it propagate
            if owns_run(run_dir):  # never write into a directory that is someone else's now
                writer.finish(
                    RunStatus.FAILED,
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                )
            raise
    return TrainResult(run_dir, final_return(returns_T), len(writer.rows), True)


def _iterations(cfg: RunConfig) -> int:
    """Updates in a run: its step budget rounded up to whole updates."""
    return math.ceil(cfg.total_steps / cfg.sampler.steps_per_update)


def _train_loop(
    cfg: RunConfig, writer: RunDirectory, progress: bool, on_row, saved, warning: str
) -> None:
    # the variant's family, for analysis (which may not import the registry) to read
    writer.record_meta(family=lookup(cfg.algo).family)
    trainer = Trainer(cfg)
    writer.meta["num_params"] = trainer.policy.num_params()
    keeper = checkpoint.Checkpointer(writer, cfg.checkpoint.every, config_hash(cfg), run_id(cfg))
    try:
        try:
            done, elapsed = keeper.start(trainer, saved, warning)
        except ValueError:  # the checkpoint did not load (recorded): start over, fresh
            trainer.sampler.close()
            trainer = Trainer(cfg)
            done, elapsed = 0, 0.0
        with checkpoint.DeferredSignals() as signals:
            _iterate(cfg, trainer, writer, progress, on_row, keeper, signals, done, elapsed)
    finally:
        trainer.sampler.close()  # a long-lived sweep worker must not leak MuJoCo envs


def _iterate(cfg, trainer, writer, progress, on_row, keeper, signals, done, elapsed) -> None:
    """Iterations done .. the end; checkpoints after due iterations and held signals."""
    from tqdm import tqdm

    per_update = cfg.sampler.steps_per_update
    iterations = _iterations(cfg)
    writer.progress(done * per_update, iterations * per_update)
    bar = tqdm(
        initial=done * per_update,
        total=iterations * per_update,
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
        desc=f"{cfg.algo} {cfg.env} s{cfg.seed}",
    )
    start, last_return = time.perf_counter() - elapsed, math.nan
    for row in writer.rows if on_row is not None else ():
        on_row(row)  # a resumed run's rows so far: its W&B record then holds every row
    for it in range(done, iterations):
        row = trainer.iteration(it)
        row["step"] = (it + 1) * per_update
        row["wall_time"] = time.perf_counter() - start
        row = dict(row)  # logged, checkpointed and mirrored as a plain dict
        writer.log(row)
        writer.progress(row["step"], iterations * per_update)
        if on_row is not None:
            on_row(row)
        snapshot_every = cfg.diagnostics.snapshot_every
        if snapshot_every > 0 and (it + 1) % snapshot_every == 0 and it + 1 < iterations:
            trainer.save(writer.path / "snapshots" / f"it{it + 1:05d}.pt")
        if keeper.due(it + 1, iterations) or signals.pending is not None:
            keeper.save(trainer, it + 1, row["wall_time"])
        signals.deliver_pending()
        if not math.isnan(row["return_mean"]):
            last_return = row["return_mean"]
        bar.update(per_update)
        bar.set_postfix(sps=f"{row['step'] / row['wall_time']:.0f}", ret=f"{last_return:.1f}")
    bar.close()
    _complete(trainer, writer, keeper, iterations * per_update)


def _complete(trainer: Trainer, writer: RunDirectory, keeper, steps: int) -> None:
    """policy.pt, then no checkpoint, then meta.json complete: only while this process still
    owns the run (LostRun otherwise: its directory was moved or its lock replaced)."""
    if not owns_run(writer.path):
        raise LostRun(f"{writer.path}: the run's lock is no longer this process's; not completed")
    trainer.save(writer.path / "policy.pt")
    keeper.remove()  # a kill from here to the next line costs a restart, never a stale file
    writer.finish(RunStatus.COMPLETE, total_steps_done=steps)


__all__ = ["ConfigError", "resolve_config", "train", "Trainer", "TrainResult"]
