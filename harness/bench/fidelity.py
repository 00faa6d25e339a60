"""Fisher fidelity at a policy's own size, on its own states: every natural direction against
the exact natural gradient, and every step on states it did not see.

For each saved policy (a run directory's policy.pt, with --snapshots also its
snapshots/it*.pt, or a .pt file) and each of --batches batch seeds, sample (frozen
normaliser, bench/frozen.py) a batch D of --batch-size states and a fresh batch E after it.
On D, compute g and every direction: vanilla (x = g), each registered natural-gradient
preconditioner at its variant's defaults, fitted fresh (npg_kfac: no running average;
npg_cg: its cg_iters at its damping), and the exact analytic x*(lambda) for each --lambdas.
Report per direction (fidelity_measures):

    cosine_ref{L}, kl_ratio_ref{L}  against x*(L) = (F + L I)^-1 g, the same for every direction
    cosine_own, kl_ratio_own        against the direction's own damping model (own_damping)
    gain_full, kl_full_fresh, ...   the step beta x at --kl-delta from D: g_D^T step in sample;
                                    g_E^T step and the measured KL on the fresh batch E
    gain_fit, kl_fit                the step computed on half A of D (envs 0..N/2-1) on A
    gain_heldout, kl_heldout        ... on the other half B (other envs: other trajectories)
    gain_fresh, kl_fresh            ... on the fresh batch E

Writes --out/fidelity.csv (one row per policy, batch seed and direction; rewritten after each
policy, and a rerun of the same command measures only the policies and batch seeds it does
not hold yet) and --out/fidelity_summary.csv (means over policies and batches, per task and
direction).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import pandas as pd
import torch
from npgbench.harness.core.config import ConfigError


def float_csv(text: str) -> list[float]:
    """argparse type: comma-separated positive floats, e.g. 0.01,0.1."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or not all(v > 0 and math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 0.01,0.1, got {text!r}")
    return values


def positive_float(text: str) -> float:
    """argparse type: one positive finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from npgbench.harness.bench.args import BenchParser, positive_int
    from npgbench.harness.core.command import HelpFormatter

    class Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
        """The module docstring as written, and every option's default."""

    p = BenchParser(prog="npgbench bench fidelity", description=__doc__, formatter_class=Formatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories or policy .pt files")
    p.add_argument("--out", type=Path, required=True, help="folder for the CSVs")
    p.add_argument("--batches", type=positive_int, default=3, help="batch seeds per policy")
    p.add_argument("--batch-size", type=positive_int, default=2048, help="states per batch")
    p.add_argument("--kl-delta", type=positive_float, default=0.01, help="KL budget of steps")
    p.add_argument("--lambdas", type=float_csv, default="0.01,0.1", help="reference dampings")
    p.add_argument("--snapshots", action="store_true", help="also every snapshots/it*.pt")
    return p


def direction_configs() -> dict:
    """label -> preconditioner config: vanilla's identity and every registered preconditioner
    variant at its defaults (K-FAC fitted fresh: kfac_stat_decay 0)."""
    from npgbench.algorithms.fisher.identity import Identity
    from npgbench.algorithms.registry import natural_config, preconditioner_variants, registry

    @dataclasses.dataclass(frozen=True)
    class IdentityConfig:
        damping: float = 0.0

        def preconditioner(self, seed: int) -> Identity:
            return Identity()

    configs = {"vanilla": IdentityConfig()}
    for name in preconditioner_variants(registry()):
        cfg = natural_config(name)
        if hasattr(cfg, "kfac_stat_decay"):
            cfg = dataclasses.replace(cfg, kfac_stat_decay=0.0)
        configs[name] = cfg
    return configs


def sources(runs: list[Path], snapshots: bool) -> list[Path]:
    """The policy files to measure; ConfigError naming the first path that is not one."""
    from npgbench.harness.bench.frozen import policy_file

    files = []
    for run in runs:
        files.append(policy_file(run))
        if snapshots and Path(run).is_dir():
            files += sorted((Path(run) / "snapshots").glob("it*.pt"))
    return files


def measure_batch(saved, batch, fresh, configs, lambdas, kl_delta, seed) -> list[dict]:
    """Rows of every direction on one (batch D, fresh batch E) of one saved policy."""
    from npgbench.harness.bench import fidelity_measures as fm
    from npgbench.harness.bench.frozen import env_halves, take

    policy = saved.policy
    half_a, half_b = (take(batch, i) for i in env_halves(batch, saved.cfg.sampler.num_envs))
    ref_a = fm.DenseReference(policy, half_a.obs)
    reference = fm.DenseReference.union(ref_a, fm.DenseReference(policy, half_b.obs), batch.obs)
    full, g = fm.directions(policy, batch, configs, lambdas, seed, reference)
    on_a, _ = fm.directions(policy, half_a, configs, lambdas, seed, ref_a, own=False)
    probes = {name: fm.StepProbe(policy, b) for name, b in (("fit", half_a), ("heldout", half_b))}
    probes["fresh"] = fm.StepProbe(policy, fresh)
    in_sample = fm.StepProbe(policy, batch)
    rows = []
    for d, d_a in zip(full, on_a, strict=True):
        row = dict(direction=d.label, own_damping=d.own_damping, cg_residual=d.cg_residual)
        row.update(fm.fidelity(d, reference, g, lambdas))
        step = fm.kl_step(policy, batch, d.x, kl_delta)
        row["gain_full"], row["kl_full"] = in_sample(step)
        row["gain_full_fresh"], row["kl_full_fresh"] = probes["fresh"](step)
        step_a = fm.kl_step(policy, half_a, d_a.x, kl_delta)
        for name, probe in probes.items():
            row[f"gain_{name}"], row[f"kl_{name}"] = probe(step_a)
        rows.append(row)
    return rows


def previous(args) -> pd.DataFrame:
    """The rows an earlier, interrupted run of the same measurement left in --out (none: an
    empty frame); ConfigError when they were measured with other settings."""
    file = args.out / "fidelity.csv"
    if not file.is_file():
        return pd.DataFrame()
    frame = pd.read_csv(file)
    need = {"source", "batch_seed", "states", "kl_delta"}
    need |= {f"cosine_ref{lam:g}" for lam in args.lambdas}
    same = need <= set(frame.columns) and set(frame.states) == {args.batch_size}
    if not (same and set(frame.kl_delta) == {args.kl_delta}):
        raise ConfigError(
            f"{file} holds rows measured with other --lambdas, --batch-size or --kl-delta; "
            "remove it or choose another --out"
        )
    return frame


def measure(policies: list, args, prior: pd.DataFrame, on_policy=None) -> pd.DataFrame:
    """Rows of every saved policy (frozen.SavedPolicy), batch seed and direction, after the
    `prior` rows (whose policy and batch seed are not measured again); on_policy(frame so
    far) after each policy, so an interrupted run keeps what it finished and resumes there."""
    from npgbench.harness.bench.frozen import sample_batches

    configs, rows = direction_configs(), prior.to_dict("records")
    done = {(r["source"], r["batch_seed"]) for r in rows}
    for saved in policies:
        for seed in range(args.batches):
            if (saved.source, seed) in done:
                continue
            batch, fresh = sample_batches(saved, 2, seed, args.batch_size)
            found = measure_batch(saved, batch, fresh, configs, args.lambdas, args.kl_delta, seed)
            head = dict(
                source=saved.source, policy=saved.label, env=saved.cfg.env, algo=saved.cfg.algo,
                train_seed=saved.cfg.seed, batch_seed=seed, n_params=saved.policy.num_params(),
                states=len(batch), kl_delta=args.kl_delta,
            )  # fmt: skip
            rows += [{**head, **r} for r in found]
            print(f"{saved.label} batch {seed}: " + ", ".join(
                f"{r['direction']} {r[f'cosine_ref{args.lambdas[0]:g}']:.2f}" for r in found
            ), flush=True)  # fmt: skip
        if on_policy is not None:
            on_policy(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Means over policies and batch seeds per task and direction (and their count)."""
    numeric = [c for c in frame.columns if c.startswith(("cosine", "kl_", "gain_"))]
    grouped = frame.groupby(["env", "direction"], sort=False)
    out = grouped[numeric].mean()
    out.insert(0, "n", grouped.size())
    return out.reset_index()


def main(argv: list[str]) -> int:
    from npgbench.harness.bench.frozen import load_saved
    from npgbench.harness.tracking.run_dir import check_output_dir

    args = build_parser().parse_args(argv)
    saved = [load_saved(f) for f in sources(args.runs, args.snapshots)]  # refuse bad input first
    check_output_dir(args.out)
    prior = previous(args)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    write = lambda f: f.to_csv(args.out / "fidelity.csv", index=False)  # noqa: E731
    frame = measure(saved, args, prior, write)
    table = summary(frame)
    table.to_csv(args.out / "fidelity_summary.csv", index=False)
    print(table.to_string(index=False, float_format="%.3f"))
    print(f"wrote {args.out}/fidelity.csv, fidelity_summary.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
