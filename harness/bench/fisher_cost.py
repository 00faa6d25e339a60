"""Fit + solve time of each Fisher approximation against the number of policy parameters.

For each hidden width h (two tanh layers h x h, Hopper-sized input/output by default) and a
synthetic batch of states, times `fit` (curvature at theta_old) and `solve` (one direction)
of every preconditioner in this process, back to back, with one torch thread:

    exact_dense  sampled dense Fisher [P, P], float64 Cholesky      ~ R P^2 + P^3 / 3
    exact_gram   sampled Fisher in the Gram/Woodbury form [R, R]    ~ R^2 W + R^3 / 3
    diagonal     sampled squared scores                              ~ R W
    kfac         sampled K-FAC factors + eigh per layer              ~ R W h + h^3
    cg           10 CG iterations on Fisher-vector products          ~ 10 R P
(R = batch rows, P = parameters, W = sum of layer widths.) exact_dense is skipped above
--dense-max-params. Prints a table and the log-log slope of total time against P per method,
and writes a CSV (method, n_params, hidden, batch, seconds_fit, seconds_solve, seconds_total).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

METHODS = ("exact_dense", "exact_gram", "diagonal", "kfac", "cg")
MAX_HIDDEN = 4096
MAX_GRAM_BATCH = 16_384
COLUMNS = ("method", "n_params", "hidden", "batch", "seconds_fit", "seconds_solve", "seconds_total")


def make_preconditioner(method: str, seed: int = 0):
    """A fresh preconditioner of `method` at the variants' default damping."""
    from npgbench.algorithms.fisher.cg import ConjugateGradient
    from npgbench.algorithms.fisher.diagonal import DiagonalFisher
    from npgbench.algorithms.fisher.exact import ExactFisher
    from npgbench.algorithms.fisher.kfac import KFAC

    gen = torch.Generator().manual_seed(seed)
    if method.startswith("exact_"):
        form = method.removeprefix("exact_")
        return ExactFisher(1e-2, "sampled", gen, max_memory_mb=math.inf, form=form)
    if method == "diagonal":
        return DiagonalFisher(1e-2, "sampled", gen)
    if method == "kfac":
        return KFAC(1e-2, "sampled", gen)
    return ConjugateGradient(0.1, cg_iters=10, cg_tol=0.0)


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


def time_method(method: str, policy, batch, repeats: int) -> tuple[float, float]:
    """Median (seconds_fit, seconds_solve) over `repeats`, after one untimed warm-up."""
    g = torch.randn(policy.num_params(), generator=torch.Generator().manual_seed(1))
    fits, solves = [], []
    for i in range(repeats + 1):
        precond = make_preconditioner(method, seed=i)
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
    methods: list[str],
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
        for method in methods:
            if method == "exact_dense" and policy.num_params() > dense_max_params:
                continue
            fit, solve = time_method(method, policy, data, repeats)
            rows.append(
                {
                    "method": method,
                    "n_params": policy.num_params(),
                    "hidden": h,
                    "batch": batch,
                    "seconds_fit": fit,
                    "seconds_solve": solve,
                    "seconds_total": fit + solve,
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
    from npgbench.harness.bench import BenchParser, positive_int, positive_int_csv
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
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="subset of " + ",".join(METHODS)
    )
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
        help="skip exact_dense above this many parameters (P^3 time, P^2 memory)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/bench/fisher_cost.csv"), help="CSV written"
    )
    return parser


def checked_methods(args: argparse.Namespace) -> list[str]:
    """The --methods to time, after refusing what cannot run (ConfigError, nothing written)."""
    from npgbench.harness.core.config import ConfigError
    from npgbench.harness.tracking import check_output_dir

    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown {unknown or methods}: valid: {', '.join(METHODS)}")
    if max(args.hidden) > MAX_HIDDEN:
        raise ConfigError(f"--hidden: widths up to {MAX_HIDDEN}, got {max(args.hidden)}")
    if "exact_gram" in methods and args.batch > MAX_GRAM_BATCH:
        raise ConfigError(
            f"--batch {args.batch}: exact_gram holds a float64 [batch, batch] matrix; at most "
            f"{MAX_GRAM_BATCH} (2 GiB), or leave exact_gram out of --methods"
        )
    if args.out.is_dir():
        raise ConfigError(f"--out {args.out}: is a directory; give a .csv file path")
    check_output_dir(args.out.parent)
    return methods


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    methods = checked_methods(args)
    torch.set_num_threads(1)
    hidden = args.hidden
    rows = run(
        hidden, methods, args.batch, args.obs_dim, args.act_dim, args.repeats, args.dense_max_params
    )
    report(rows, methods)
    write_csv(rows, args.out)
    print(f"wrote {args.out}")
    return 0
