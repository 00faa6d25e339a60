"""`npgbench run` and `npgbench eval`: one run in this process (resumed from its checkpoint,
or redone when stale with --rerun-stale), and the replay of saved final policies."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from npgbench.harness.core.command import (
    one_line,
    os_error_line,
    overrides_from,
    rounding_note,
    show_progress,
)
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.identity import run_id
from npgbench.harness.core.run_files import RunStatus
from npgbench.harness.sweep.staleness import move_aside, say_stale
from npgbench.harness.tracking import live


def cmd_run(args) -> int:
    from npgbench.harness.core.config_checks import check_policy_size
    from npgbench.harness.core.envs import allow_env_modules, check_env_spaces
    from npgbench.harness.runner import resolve_config
    from npgbench.harness.tracking.integrity import drop_stale_checkpoint, verified_status
    from npgbench.harness.tracking.run_dir import RunBusy, check_output_dir, holding_run

    overrides = overrides_from(args.set)
    if args.wandb:
        overrides["wandb.mode"] = args.wandb
    if args.allow_env_module:
        allow_env_modules()
    cfg = resolve_config(args.algo, args.env, args.seed, args.steps, overrides)
    check_policy_size(cfg, *check_env_spaces(cfg.env))
    run_dir = Path(args.out) / run_id(cfg)
    status = verified_status(run_dir)
    stale = status == RunStatus.COMPLETE and say_stale(run_dir, cfg.algo, args.rerun_stale)
    if status == RunStatus.COMPLETE and not (stale and args.rerun_stale):
        drop_stale_checkpoint(run_dir)
        print(f"already complete, not overwritten: {run_dir}")
        return 0
    check_output_dir(Path(args.out))
    if args.tensorboard:
        from npgbench.harness.tracking.live import check_tensorboard

        check_tensorboard()
    note = rounding_note(cfg.total_steps, cfg.sampler.steps_per_update)
    if note:  # after every check: an error is the only line of a refused command
        print(note, file=sys.stderr)
    if stale:  # moved before the lock is taken: the lock file moves with the old directory
        print(f"old run kept in {move_aside(run_dir)}; running it again", file=sys.stderr)
    with contextlib.ExitStack() as held:
        try:  # before the W&B mirror opens; an OSError (run dir a file) is bad input, exit 2
            held.enter_context(holding_run(run_dir))
        except RunBusy as exc:  # another `run` or a sweep trains it: nothing was touched
            print(str(exc), file=sys.stderr)
            return 1
        try:
            return _run_locked(args, cfg, run_dir, status == RunStatus.CORRUPT)
        except OSError as exc:  # disk full, a file replaced by a folder: recorded, resumable
            print(f"run failed: {os_error_line(exc)} (see {run_dir}/meta.json)", file=sys.stderr)
            return 1


def _run_locked(args, cfg, run_dir: Path, corrupt: bool) -> int:
    """Train, holding the run's lock; the exit code (a corrupt run is moved to OUT/.corrupt/
    by train())."""
    from npgbench.harness.runner import train

    if corrupt:
        print(
            f"note: {run_dir} says complete but fails its checks: moved aside to "
            f"{Path(args.out) / '.corrupt'}/ and redone",
            file=sys.stderr,
        )
    mirror, status = _wandb_mirror(cfg, run_dir), RunStatus.FAILED
    watch = live.watchers(cfg, run_dir, show_progress(args.quiet), args.quiet, args.tensorboard)
    try:
        done = train(
            cfg,
            Path(args.out),
            progress=show_progress(args.quiet),
            on_row=live.compose(mirror and mirror.on_row, *(w.on_row for w in watch)),
        )
        status = RunStatus.COMPLETE
    except ConfigError as exc:  # raised inside the run: recorded in meta.json, so exit 1
        print(f"run failed: {one_line(exc)} (see {run_dir}/meta.json)", file=sys.stderr)
        return 1
    finally:
        if mirror is not None:
            mirror.finish({"status": status.value}, exit_code=int(status != RunStatus.COMPLETE))
        for watcher in watch:
            if hasattr(watcher, "close"):
                watcher.close()
    print(f"run directory: {done.run_dir}")
    return 0


def _wandb_mirror(cfg, run_dir: Path):
    """The W&B mirror of one run, or None when disabled or unavailable (never fatal)."""
    if cfg.wandb.mode == "disabled":
        return None
    try:
        from npgbench.harness.tracking.wandb_mirror import open_mirror
    except ImportError:
        return None
    return open_mirror(cfg, run_dir)


def cmd_eval(args) -> int:
    import numpy as np
    from npgbench.harness.core.evaluation import evaluate, load_policy
    from npgbench.harness.tracking import final_eval
    from npgbench.harness.tracking.run_dir import run_status

    if args.seed < 0:
        raise ConfigError("--seed must be a non-negative integer")
    run_dirs = [Path(d) for d in args.run_dir]
    for run_dir in run_dirs:  # every one checked before any is evaluated or written
        if run_status(run_dir) != RunStatus.COMPLETE or not (run_dir / "policy.pt").is_file():
            raise ConfigError(
                f"{run_dir} is not a complete run directory (no complete meta.json and policy.pt)"
            )
    episodes = args.episodes or (final_eval.EPISODES if args.write else 10)
    for run_dir in run_dirs:
        try:
            if args.write:
                done = final_eval.final_eval(run_dir, episodes, args.seed)
                mean, std, note = done.mean, done.std, " (kept)" if done.reused else ""
            else:
                policy, norm, cfg = load_policy(run_dir)
                returns = evaluate(
                    policy, norm, cfg["env"], episodes, args.seed, cfg.get("max_episode_steps", 0)
                )
                mean, std, note = float(np.mean(returns)), float(np.std(returns)), ""
        except Exception as exc:  # a corrupt or foreign policy.pt: say which file, no traceback
            raise ConfigError(
                f"cannot load {run_dir / 'policy.pt'}: {type(exc).__name__}: {one_line(exc)}"
            ) from None
        print(
            f"{run_dir.name}: mean-action return {mean:.1f} +- {std:.1f} "
            f"over {episodes} episodes{note}",
            flush=True,
        )
    return 0
