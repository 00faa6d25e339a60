"""Training throughput of each algorithm as a fraction of the sampling ceiling.

Ceiling: the same SyncVectorEnv stepping with a policy forward pass per step and no learning.
Each algorithm then trains for the same number of steps in this process (one torch thread,
evaluation off); the ratio steps/s(algo) / steps/s(ceiling) is comparable across machines.
Targets: ppo at PPO-paper settings >= 0.4, vanilla >= 0.7.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from npgbench.harness.bench.args import BenchParser, positive_int

TARGETS = {"ppo": 0.4, "vanilla": 0.7}
MAX_STEPS = 10**8
"""Largest --steps per measurement (hours of training per algorithm at ~5k steps/s)."""


def ceiling(env_id: str, num_envs: int, steps: int) -> float:
    """Steps/s of vector-env stepping with a 64x64 policy forward and no learning."""
    from npgbench.harness.core.config import PolicyConfig
    from npgbench.harness.core.envs import make_vector_env
    from npgbench.harness.core.policy import GaussianPolicy

    envs = make_vector_env(env_id, num_envs)
    obs, _ = envs.reset(seed=0)
    policy = GaussianPolicy(obs.shape[1], envs.single_action_space.shape[0], PolicyConfig())
    low, high = envs.single_action_space.low, envs.single_action_space.high
    with torch.no_grad():
        for timed in (False, True):  # an untimed warm-up pass first (caches, lazy init)
            start = time.perf_counter()
            for _ in range(steps // num_envs if timed else 32):
                mean = policy.mean_net(torch.as_tensor(obs, dtype=torch.float32))
                action = (mean + policy.std() * torch.randn_like(mean)).numpy()
                obs, *_ = envs.step(np.clip(action, low, high))
    elapsed = time.perf_counter() - start
    envs.close()
    return (steps // num_envs) * num_envs / elapsed


def bench_config(algo: str, env_id: str, num_envs: int, steps: int):
    """The run config one measurement trains (ConfigError on impossible settings)."""
    from npgbench.harness.runner import resolve_config

    return resolve_config(algo, env_id, 0, steps, {"sampler.num_envs": num_envs, "eval.every": 0})


def algo_throughput(algo: str, env_id: str, num_envs: int, steps: int) -> tuple[float, dict]:
    """Training steps/s of `algo` over `steps` (after construction) and its mean time split."""
    from npgbench.harness.runner import Trainer

    cfg = bench_config(algo, env_id, num_envs, steps)
    trainer = Trainer(cfg)
    iterations = max(1, steps // cfg.sampler.steps_per_update)
    rows, start = [], time.perf_counter()
    for it in range(iterations):
        rows.append(trainer.iteration(it))
    elapsed = time.perf_counter() - start
    split = {
        k: float(np.mean([r[k] for r in rows]))
        for k in ("time_sample", "time_update", "time_value")
    }
    return iterations * cfg.sampler.steps_per_update / elapsed, split


def main(argv: list[str]) -> int:
    from npgbench.algorithms.registry import lookup, registry
    from npgbench.harness.core.command import HelpFormatter
    from npgbench.harness.core.config import ConfigError

    parser = BenchParser(
        prog="npgbench bench throughput",
        description=__doc__.splitlines()[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--env", default="HalfCheetah-v5", help="gymnasium env id")
    parser.add_argument("--num-envs", type=positive_int, default=16, help="parallel environments")
    parser.add_argument("--steps", type=positive_int, default=20480, help="steps per measurement")
    parser.add_argument("--algos", default=",".join(registry()), help="comma-separated")
    args = parser.parse_args(argv)
    algos = [a for a in args.algos.split(",") if a]
    if not algos:
        raise ConfigError(f"--algos is empty: valid: {', '.join(registry())}")
    for a in algos:
        lookup(a)
    if not args.num_envs <= args.steps <= MAX_STEPS:
        raise ConfigError(
            f"--steps {args.steps}: expected --num-envs ({args.num_envs}) to {MAX_STEPS:,d}"
        )
    for a in algos:  # every config resolves (env, sizes) before anything is timed
        bench_config(a, args.env, args.num_envs, args.steps)
    torch.set_num_threads(1)
    # The ceiling is measured before and after the algorithms and the faster of the two is
    # the reference: on a shared machine one measurement can catch a slow moment, and a
    # low ceiling would flatter every ratio.
    before = ceiling(args.env, args.num_envs, args.steps)
    measured = {a: algo_throughput(a, args.env, args.num_envs, args.steps) for a in algos}
    after = ceiling(args.env, args.num_envs, args.steps)
    base = max(before, after)
    print(f"{args.env}, {args.num_envs} envs, {args.steps} steps per measurement, 1 torch thread")
    print(
        f"{'ceiling':<10} {base:8.0f} steps/s  ratio 1.00  (before {before:.0f}, after {after:.0f})"
    )
    print(
        f"{'algo':<10} {'steps/s':>8}  {'ratio':>5}  {'target':>6}  sample/update/value s per iteration"
    )
    for algo, (sps, split) in measured.items():
        target = TARGETS.get(algo)
        mark = (
            "" if target is None else f"{target:.2f} {'ok' if sps / base >= target else 'MISSED'}"
        )
        times = "/".join(f"{split[k]:.3f}" for k in ("time_sample", "time_update", "time_value"))
        print(f"{algo:<10} {sps:8.0f}  {sps / base:5.2f}  {mark:>6}  {times}")
    return 0


__all__ = ["main", "ceiling", "algo_throughput"]
