"""Cost of one policy update per variant, on frozen batches, in CPU time, arms interleaved.

Benchmark shapes (study "benchmark"): for each --envs task, one batch of --batch-size real
states sampled from a saved policy (--policies: run directories or .pt files, matched to
tasks by their config's env; a task without one gets a fresh policy), and every variant of
--suite at the suite's own config for that task. Each repetition times the whole
`updater.update(batch)` of every arm once, in an order rotated per repetition, on a deep
copy of the arm's primed updater (cost_timing), with one torch thread: CPU time of this
thread (time.thread_time) beside wall time, and the preconditioner's fit and solve inside
the update. Summaries: median and IQR, and the ratio of medians to --reference with a
paired bootstrap CI over repetitions (cost_stats).

Scaling sweep (--sweep-env): fresh policies of width --hidden on the task's real states
(pi_old relabelled to each), batch --batch-size (study "params"); and width --sweep-width
over --batches rows (study "batch"). The arms are the preconditioner configs' COST_ARMS plus
vanilla and ppo; each gets log-log exponents in n_params and in batch rows, with bootstrap
CIs, beside its claimed cost. Arms that form the dense n x n Fisher are skipped above
--dense-max-params.

Writes into --out: update_cost_times.csv (every timing), update_cost.csv (one row per study,
env, arm and size), update_cost_scaling.csv (exponents and claims) and update_cost.json
(the benchmark-shape table, the exponents and the conditions of the measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from pathlib import Path

import pandas as pd
import torch
from npgbench.harness.bench import cost_stats
from npgbench.harness.bench.cost_timing import suite_arms, sweep_arms, time_arms, timing_rows
from npgbench.harness.core.config import ConfigError

TASKS = "HalfCheetah-v5,Hopper-v5,Walker2d-v5"


def build_parser() -> argparse.ArgumentParser:
    from npgbench.harness.bench.args import BenchParser, positive_int, positive_int_csv
    from npgbench.harness.core.command import HelpFormatter

    class Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
        """The module docstring as written, and every option's default."""

    p = BenchParser(
        prog="npgbench bench update-cost", description=__doc__, formatter_class=Formatter
    )
    p.add_argument("--envs", default=TASKS, help="comma-separated tasks of --suite")
    p.add_argument("--policies", nargs="*", type=Path, default=[], help="saved policies")
    p.add_argument("--suite", default="controlled-1m", help="suite whose configs are timed")
    p.add_argument("--reference", default="vanilla", help="arm the ratios divide by")
    p.add_argument("--reps", type=positive_int, default=30, help="repetitions per arm")
    p.add_argument("--batch-size", type=positive_int, default=2048, help="states per batch")
    p.add_argument("--seed", type=int, default=0, help="batch seed (env seed, action noise)")
    p.add_argument("--sweep-env", default="Hopper-v5", help="task of the sweep ('' skips it)")
    p.add_argument("--sweep-reps", type=positive_int, default=10, help="repetitions per point")
    p.add_argument("--hidden", type=positive_int_csv, default="16,32,64,128,256", help="widths")
    p.add_argument("--batches", type=positive_int_csv, default="512,1024,2048,4096,8192")
    p.add_argument("--sweep-width", type=positive_int, default=64, help="width of the batch sweep")
    p.add_argument("--dense-max-params", type=positive_int, default=6000, help="dense arms' cap")
    p.add_argument("--out", type=Path, default=Path("results/bench/update-cost"), help="folder")
    return p


@dataclasses.dataclass
class Plan:
    """What will be timed, resolved and checked before anything runs."""

    tasks: dict  # env -> list[grid.Task] (seed 0)
    policies: dict  # env -> SavedPolicy
    sweep_env: str


def make_plan(args: argparse.Namespace) -> Plan:
    """Resolve the suite, tasks and policies; ConfigError (nothing written) on bad input."""
    from npgbench.harness.bench.frozen import fresh_policy, load_saved
    from npgbench.harness.sweep.grid import expand
    from npgbench.harness.sweep.suite_checks import load_checked_suite
    from npgbench.harness.tracking.run_dir import check_output_dir

    suite = load_checked_suite(args.suite)
    envs = [e for e in args.envs.split(",") if e]
    if args.sweep_env and args.sweep_env not in envs:
        envs.append(args.sweep_env)
    tasks = {env: expand(suite, envs=[env], seeds=[0]) for env in envs}
    if args.reference not in {t.label for t in tasks[envs[0]]}:
        labels = ", ".join(t.label for t in tasks[envs[0]])
        raise ConfigError(f"--reference {args.reference!r}: valid: {labels}")
    policies = {}
    for path in args.policies:
        saved = load_saved(path)
        if saved.cfg.env not in tasks or saved.cfg.env in policies:
            raise ConfigError(f"--policies {path}: one saved policy per task of --envs ({envs})")
        want = tasks[saved.cfg.env][0].cfg.policy
        if saved.cfg.policy != want:
            raise ConfigError(f"--policies {path}: policy {saved.cfg.policy} is not {want}")
        policies[saved.cfg.env] = saved
    for env in envs:
        policies.setdefault(env, fresh_policy(tasks[env][0].cfg))
    check_output_dir(args.out)
    return Plan(tasks, policies, args.sweep_env)


def run_benchmark(args, plan: Plan, rows: list[dict], flush) -> None:
    """The benchmark-shape timings of every task of --envs, appended to rows (flush() after
    each task)."""
    from npgbench.harness.bench.frozen import sample_batches

    for env in [e for e in args.envs.split(",") if e]:
        saved = plan.policies[env]
        batch = sample_batches(saved, 1, args.seed, args.batch_size)[0]
        print(f"{env}: {saved.source}, {len(batch)} states", flush=True)
        timings = time_arms(suite_arms(plan.tasks[env]), saved.policy, batch, args.reps)
        width = max(saved.cfg.policy.hidden_sizes, default=0)
        point = dict(study="benchmark", env=env, hidden=width, batch=len(batch))
        rows += timing_rows(timings, **point, n_params=saved.policy.num_params())
        flush()


def run_sweep(args, plan: Plan, rows: list[dict], flush) -> None:
    """The scaling sweep over widths (batch --batch-size) and batch sizes (--sweep-width),
    appended to rows (flush() after each point)."""
    from npgbench.harness.bench.frozen import fresh_policy, rebase, sample_batches, take

    env = plan.sweep_env
    states = sample_batches(plan.policies[env], 1, args.seed, max(args.batches))[0]
    cfg = plan.tasks[env][0].cfg
    points = [("params", h, args.batch_size) for h in args.hidden]
    points += [("batch", args.sweep_width, n) for n in args.batches]
    for study, width, size in points:
        wide = dataclasses.replace(
            cfg, policy=dataclasses.replace(cfg.policy, hidden_sizes=(width, width))
        )
        policy = fresh_policy(wide).policy
        batch = rebase(take(states, torch.arange(size)), policy)
        arms = [
            a for a in sweep_arms(plan.tasks[env])
            if not (a.cost.dense_matrix and policy.num_params() > args.dense_max_params)
        ]  # fmt: skip
        print(f"sweep {study}: h={width} n={policy.num_params()} R={size}", flush=True)
        timings = time_arms(arms, policy, batch, args.sweep_reps)
        point = dict(study=study, env=env, hidden=width, batch=size)
        rows += timing_rows(timings, **point, n_params=policy.num_params())
        flush()


def summarise(times: pd.DataFrame, reference: str) -> pd.DataFrame:
    """One row per (study, env, hidden, batch, arm): medians and IQR in ms, ratio to the
    reference arm of the same point with its paired bootstrap CI."""
    out = []
    for key, point in times[times.rep >= 0].groupby(["study", "env", "hidden", "batch"]):
        ref = point[point.arm == reference].sort_values("rep").cpu.to_numpy()
        for arm, t in point.groupby("arm", sort=False):
            cpu = cost_stats.spread(t.cpu * 1e3)
            ratio = (
                cost_stats.paired_ratio(t.sort_values("rep").cpu.to_numpy(), ref)
                if len(ref)
                else None
            )
            out.append(dict(
                zip(("study", "env", "hidden", "batch"), key), arm=arm,
                n_params=int(t.n_params.iloc[0]), reps=len(t), cpu_ms=cpu.median,
                cpu_ms_q25=cpu.q25, cpu_ms_q75=cpu.q75,
                wall_ms=cost_stats.spread(t.wall * 1e3).median,
                fit_cpu_ms=cost_stats.spread(t.fit_cpu * 1e3).median,
                solve_cpu_ms=cost_stats.spread(t.solve_cpu * 1e3).median,
                ratio=ratio.value if ratio else float("nan"),
                ratio_low=ratio.low if ratio else float("nan"),
                ratio_high=ratio.high if ratio else float("nan"),
            ))  # fmt: skip
    return pd.DataFrame(out)


def exponents(times: pd.DataFrame, claims: dict) -> pd.DataFrame:
    """Per arm and sweep dimension: fitted exponent of CPU time, CI, tail fit, and the claim."""
    out = []
    for (study, arm), t in times[times.study.isin(["params", "batch"]) & (times.rep >= 0)].groupby(
        ["study", "arm"]
    ):
        size = "n_params" if study == "params" else "batch"
        groups = [g.cpu.to_numpy() for _, g in t.groupby(size)]
        fit = cost_stats.scaling_exponent(sorted(t[size].unique()), groups)
        cost = claims[arm]
        claimed = cost.expected_exponent if study == "params" else cost.batch_exponent
        out.append(dict(
            arm=arm, dimension=size, sizes=t[size].nunique(), exponent=fit.value,
            exponent_low=fit.low, exponent_high=fit.high, tail_exponent=fit.tail,
            claimed_exponent=claimed, consistent=cost_stats.claim_holds(fit, claimed),
            claim=cost.claim,
        ))  # fmt: skip
    return pd.DataFrame(out)


def write(
    out: Path, times: pd.DataFrame, summary: pd.DataFrame, scaling: pd.DataFrame, argv
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    times.to_csv(out / "update_cost_times.csv", index=False)
    summary.to_csv(out / "update_cost.csv", index=False)
    scaling.to_csv(out / "update_cost_scaling.csv", index=False)
    meta = {
        "command": "npgbench bench update-cost " + " ".join(argv),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "machine": platform.processor() or platform.machine(),
        "clock": "time.thread_time (CPU of the timing thread), wall beside it",
        "benchmark": summary[summary.study == "benchmark"].to_dict("records"),
        "scaling": scaling.to_dict("records"),
    }  # fmt: skip
    (out / "update_cost.json").write_text(json.dumps(meta, indent=1, default=float) + "\n")


def print_table(summary: pd.DataFrame) -> None:
    for env, t in summary[summary.study == "benchmark"].groupby("env"):
        print(f"\n{env}: CPU ms per update, median [IQR]; ratio to reference [95% CI]")
        for r in t.itertuples():
            print(
                f"  {r.arm:<10} {r.cpu_ms:9.1f} [{r.cpu_ms_q25:.1f}, {r.cpu_ms_q75:.1f}]  wall "
                f"{r.wall_ms:8.1f}  ratio {r.ratio:7.2f} [{r.ratio_low:.2f}, {r.ratio_high:.2f}]"
            )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    plan = make_plan(args)
    torch.set_num_threads(1)
    sweep = sweep_arms(plan.tasks[plan.sweep_env]) if plan.sweep_env else []
    claims, rows = {a.label: a.cost for a in sweep}, []

    def flush() -> tuple[pd.DataFrame, pd.DataFrame]:
        """Summaries of the timings so far, written (an interrupted run keeps its points)."""
        times = pd.DataFrame(rows)
        summary = summarise(times, args.reference)
        is_sweep = times.study.isin(["params", "batch"]).any()
        scaling = exponents(times, claims) if is_sweep else pd.DataFrame()
        write(args.out, times, summary, scaling, argv)
        return summary, scaling

    run_benchmark(args, plan, rows, flush)
    if plan.sweep_env:
        run_sweep(args, plan, rows, flush)
    summary, scaling = flush()
    print_table(summary)
    if len(scaling):
        print("\n" + scaling.drop(columns="claim").to_string(index=False, float_format="%.2f"))
    print(f"wrote {args.out}/update_cost*.csv, update_cost.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
