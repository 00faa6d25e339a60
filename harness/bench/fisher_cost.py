"""Fit + solve time of each Fisher approximation against the number of policy parameters.

For each hidden width h (two tanh layers h x h, Hopper-sized input/output by default) and a
synthetic batch of states, times `fit` (curvature at theta_old) and `solve` (one direction)
of every natural-gradient variant's preconditioner in this process, back to back, with one
torch thread, at the variant's default config. The arms come from the registry: each config
class declares its own (`COST_ARMS`, with the claimed cost), a plugin's variant is one arm
named after it. The built-ins:

    exact_dense  sampled dense Fisher [P, P], float64 Cholesky      ~ R P^2 + P^3 / 3
    exact_gram   sampled Fisher in the Gram/Woodbury form [R, R]    ~ R^2 W + R^3 / 3
    diagonal     sampled squared scores                              ~ R W
    kfac         sampled K-FAC factors + eigh per layer              ~ R W h + h^3
    cg           10 CG iterations on Fisher-vector products          ~ 10 R P
(R = batch rows, P = parameters, W = sum of layer widths.) Arms that form the dense P x P
matrix are skipped above --dense-max-params; a size a variant refuses (npg_exact's memory
limit) is refused before anything is timed. Prints a table and the log-log slope of total
time against P per arm, and writes a CSV (COLUMNS: method, n_params, hidden, batch,
seconds_fit, seconds_solve, seconds_total, and the arm's claim and expected exponent).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

MAX_HIDDEN = 4096
COLUMNS = (
    "method",
    "n_params",
    "hidden",
    "batch",
    "seconds_fit",
    "seconds_solve",
    "seconds_total",
    "claim",
    "expected_exponent",
)


def cost_arms() -> dict[str, tuple[Any, Any]]:
    """label -> (update config, CostArm) for every natural-gradient variant in the registry
    (built-ins, then plugins), each config class once (trpo shares npg_cg's), from the arms
    its config declares (`PreconditionerConfig.COST_ARMS`; none: one arm named after it)."""
    from npgbench.algorithms.fisher import CostArm
    from npgbench.algorithms.registry import natural_config, preconditioner_variants, registry

    arms, variants = {}, registry()
    for name in preconditioner_variants(variants):
        for label, arm in (variants[name].config.COST_ARMS or {name: CostArm()}).items():
            arms[label] = (dataclasses.replace(natural_config(name), **arm.overrides), arm)
    return arms


def check_arms(arms: dict, hidden: list[int], batch: int, obs: int, act: int, dense_max: int):
    """Every size each arm will be timed at passes the arm config's own check_shape (e.g.
    npg_exact's memory limit): ConfigError naming the arm before any timing starts."""
    from npgbench.harness.core.config import ConfigError
    from npgbench.harness.core.config_checks import PolicyShape

    for label, (cfg, arm) in arms.items():
        for h in hidden:
            shape = PolicyShape((obs, h, h, act))
            if arm.dense_matrix and shape.num_params > dense_max:
                continue
            try:
                cfg.check_shape(shape, batch)
            except ConfigError as exc:
                msg = f"--methods {label} at --hidden {h}, --batch {batch}: {exc}"
                raise ConfigError(msg) from None


def synthetic_batch(policy, batch: int, seed: int):
    """Random states (obs only matter for the curvature) with pi_old = the policy."""
    from npgbench.harness.core.rollout import Batch

    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, policy.mean_net[0].in_features, generator=gen)
    with torch.no_grad():
        mean, std = policy(obs)
    zeros = torch.zeros(batch)
    return Batch(
        obs=obs,
        actions=mean.clone(),
        log_probs=zeros,
        old_mean=mean,
        old_std=std.clone(),
        advantages=zeros,
        returns=zeros,
        values=zeros,
        episode_returns=[],
        episode_lengths=[],
    )


def time_method(cfg, policy, batch, repeats: int) -> tuple[float, float]:
    """Median (seconds_fit, seconds_solve) of cfg's preconditioner over `repeats`, after one
    untimed warm-up; a fresh preconditioner (seeded i) each time."""
    g = torch.randn(policy.num_params(), generator=torch.Generator().manual_seed(1))
    fits, solves = [], []
    for i in range(repeats + 1):
        precond = cfg.preconditioner(seed=i)
        t0 = time.perf_counter()
        precond.fit(policy, batch)
        t1 = time.perf_counter()
        precond.solve(g)
        t2 = time.perf_counter()
        if i > 0:
            fits.append(t1 - t0)
            solves.append(t2 - t1)
    return float(np.median(fits)), float(np.median(solves))


def loglog_slope(n: list[float], seconds: list[float]) -> float:
    """Least-squares exponent k in seconds ~ c n^k (nan with fewer than two points)."""
    if len(n) < 2:
        return math.nan
    return float(np.polyfit(np.log(n), np.log(seconds), 1)[0])


def run(
    hidden: list[int],
    arms: dict[str, tuple[Any, Any]],
    batch: int,
    obs_dim: int,
    act_dim: int,
    repeats: int,
    dense_max_params: int,
) -> list[dict]:
    from npgbench.harness.core.config import PolicyConfig
    from npgbench.harness.core.policy import GaussianPolicy

    rows = []
    for h in hidden:
        torch.manual_seed(0)
        policy = GaussianPolicy(obs_dim, act_dim, PolicyConfig(hidden_sizes=(h, h)))
        data = synthetic_batch(policy, batch, seed=h)
        for method, (cfg, arm) in arms.items():
            if arm.dense_matrix and policy.num_params() > dense_max_params:
                continue
            fit, solve = time_method(cfg, policy, data, repeats)
            rows.append(
                {
                    "method": method,
                    "n_params": policy.num_params(),
                    "hidden": h,
                    "batch": batch,
                    "seconds_fit": fit,
                    "seconds_solve": solve,
                    "seconds_total": fit + solve,
                    "claim": arm.claim,
                    "expected_exponent": arm.expected_exponent,
                }
            )
            print(
                f"  {method:<12} h={h:<4} n={policy.num_params():<7} fit {fit:8.4f}s  "
                f"solve {solve:8.4f}s",
                flush=True,
            )
    return rows


def report(rows: list[dict], methods: list[str]) -> None:
    widths = sorted({r["hidden"] for r in rows})
    print(f"\nseconds (fit + solve), batch {rows[0]['batch']}:")
    header = "".join(f"{f'h={h}':>10}" for h in widths)
    print(f"{'method':<12}{header}{'exponent':>10}{'last 3':>8}")
    for method in methods:
        mine = {r["hidden"]: r for r in rows if r["method"] == method}
        cells = "".join(
            f"{mine[h]['seconds_total']:10.4f}" if h in mine else f"{'-':>10}" for h in widths
        )
        n = [r["n_params"] for r in mine.values()]
        seconds = [r["seconds_total"] for r in mine.values()]
        slope, tail = loglog_slope(n, seconds), loglog_slope(n[-3:], seconds[-3:])
        print(f"{method:<12}{cells}{slope:10.2f}{tail:8.2f}")
    params = {r["hidden"]: r["n_params"] for r in rows}
    print(f"{'n_params':<12}" + "".join(f"{params[h]:10d}" for h in widths))
    print(
        "exponent: least-squares slope of log(seconds) against log(n_params), over all widths "
        "and over the 3 largest (fixed costs flatten the slope at small n)"
    )


def write_csv(rows: list[dict], path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(path, index=False)


def build_parser() -> argparse.ArgumentParser:
    from npgbench.harness.bench.args import BenchParser, positive_int, positive_int_csv
    from npgbench.harness.core.command import HelpFormatter

    class Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
        """The module docstring as written, and every option's default."""

    parser = BenchParser(
        prog="npgbench bench fisher-cost", description=__doc__, formatter_class=Formatter
    )
    parser.add_argument(
        "--hidden",
        type=positive_int_csv,
        default="16,32,48,64,96,128,192,256",
        help="comma-separated hidden widths h (policy h x h)",
    )
    every = cost_arms()
    parser.add_argument("--methods", default=",".join(every), help="subset of " + ",".join(every))
    parser.add_argument(
        "--batch", type=positive_int, default=2048, help="states per batch (rows R)"
    )
    parser.add_argument(
        "--obs-dim", type=positive_int, default=11, help="observation size (Hopper: 11)"
    )
    parser.add_argument("--act-dim", type=positive_int, default=3, help="action size (Hopper: 3)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed repeats (median)")
    parser.add_argument(
        "--dense-max-params",
        type=positive_int,
        default=6000,
        help="skip arms that form the dense P x P Fisher (exact_dense) above this many "
        "parameters (P^3 time, P^2 memory)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/bench/fisher_cost.csv"), help="CSV written"
    )
    return parser


def checked_arms(args: argparse.Namespace) -> dict[str, tuple[Any, Any]]:
    """The --methods arms to time (label -> (config, CostArm)), after refusing what cannot run
    (ConfigError, nothing written)."""
    from npgbench.harness.core.config import ConfigError
    from npgbench.harness.tracking.run_dir import check_output_dir

    every = cost_arms()
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(every))
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown {unknown or methods}: valid: {', '.join(every)}")
    if max(args.hidden) > MAX_HIDDEN:
        raise ConfigError(f"--hidden: widths up to {MAX_HIDDEN}, got {max(args.hidden)}")
    arms = {m: every[m] for m in methods}
    check_arms(arms, args.hidden, args.batch, args.obs_dim, args.act_dim, args.dense_max_params)
    if args.out.is_dir():
        raise ConfigError(f"--out {args.out}: is a directory; give a .csv file path")
    check_output_dir(args.out.parent)
    return arms


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    arms = checked_arms(args)
    torch.set_num_threads(1)
    rows = run(
        args.hidden, arms, args.batch, args.obs_dim, args.act_dim, args.repeats,
        args.dense_max_params,
    )  # fmt: skip
    report(rows, list(arms))
    write_csv(rows, args.out)
    print(f"wrote {args.out}")
    return 0
