"""`npgbench bench invariance`: the command line, checked arguments, verdicts against theory,
the table and the CSVs (the measurements are bench/invariance.py's).

The verdict rules and the tolerance are the invariance module's (bench/invariance.py).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from npgbench.harness.bench import invariance
from npgbench.harness.bench.invariance import Row, Settings, predicted
from npgbench.harness.bench.reparam import FAMILIES, Reparam, families
from npgbench.harness.bench.saved_batch import BatchSource
from npgbench.harness.core.config import ConfigError

DAMPING_SHRINK = 10.0
"""A damping-made discrepancy falls at least this much from the largest damping to lambda*."""
ROUNDING = 1e-10
"""kl_between / kl_delta below this is float64 rounding (an angle of 1e-5 between steps)."""


def positive_float_csv(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated positive numbers, e.g. 1e-4,1e-2."""
    try:
        values = tuple(sorted(float(t) for t in text.split(",") if t.strip()))
    except ValueError:
        values = ()
    if not values or not all(v > 0 and math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 1e-4,1e-2, got {text!r}")
    return values


def _names(text: str, valid: list[str], flag: str) -> list[str]:
    names = valid if text == "all" else [t for t in text.split(",") if t]
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ConfigError(f"{flag}: unknown {unknown or text!r}: valid: all, {', '.join(valid)}")
    return names


def checked(args: argparse.Namespace, directions: tuple):
    """(BatchSource, directions, Settings) from the arguments; ConfigError on bad input, before
    anything is sampled or written."""
    from npgbench.harness.tracking.run_dir import check_output_dir

    chosen = _names(args.directions, [d.name for d in directions], "--directions")
    _names(args.families, list(FAMILIES), "--families")
    checks = [
        (args.kappa >= 1, "--kappa must be >= 1"),
        (args.tol > 0, "--tol must be > 0"),
        (0 < args.cg_rtol < 1, "--cg-rtol must be in (0, 1)"),
        (not args.out.is_dir(), f"--out {args.out}: is a directory; give a .csv file path"),
        (not args.batch_file.is_dir(), f"--batch-file {args.batch_file}: is a directory"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    try:
        hidden = tuple(int(h) for h in args.hidden.split(","))
    except ValueError:
        hidden = ()
    if not hidden or min(hidden) <= 0:
        raise ConfigError(f"--hidden: expected positive widths like 64,64, got {args.hidden!r}")
    check_output_dir(args.out.parent)
    init = args.policy == "init"
    source = BatchSource(
        policy=args.policy if init else str(Path(args.policy)),
        env=args.env if init else "",
        hidden=hidden if init else (),
        states=args.states,
        seed=args.seed,
    )
    settings = Settings(
        args.kl_deltas, args.dampings, args.kappa, args.seed, args.cg_max_iters, args.cg_rtol,
        args.tol,
    )  # fmt: skip
    return source, [d for d in directions if d.name in chosen], settings


def selected(reps: dict[str, Reparam], text: str) -> dict[str, Reparam]:
    """The --families subset of the families this policy has (the others are named)."""
    names = list(FAMILIES) if text == "all" else text.split(",")
    missing = [n for n in names if n not in reps]
    if missing:
        print(f"not defined for this policy: {', '.join(missing)}", flush=True)
    return {n: reps[n] for n in names if n in reps}


def reread(path: Path, saved, reps: dict, directions: list) -> list:
    """The rows of an earlier run of the same request (--rows), for the selected directions and
    families, with theory's answers recomputed; the verdicts are then taken afresh."""
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"--rows {path}: no such CSV (a previous run's --out)")
    rank_deficient = len(saved.batch) < saved.policy.num_params()
    chosen = {d.name: d for d in directions}
    rows = []
    for record in pd.read_csv(path).to_dict("records"):
        if record["direction"] in chosen and record["family"] in reps:
            answer = predicted(chosen[record["direction"]], reps[record["family"]], rank_deficient)
            rows.append(Row(**{**record, "predicted": answer}))
    return rows


@dataclass(frozen=True)
class Verdict:
    direction: str
    family: str
    predicted: str
    measured: str
    match: str
    damping: float
    """lambda*: the smallest damping at which every solve converged."""
    ratio: float
    """max over kl_delta of kl_between / kl_delta at lambda*."""
    ratio_max_damping: float
    """The same at the largest damping."""
    slope_delta: float
    """log-log slope of kl_between in kl_delta at lambda*."""
    slope_damping: float
    """log-log slope of kl_between in damping at the smallest kl_delta (converged dampings)."""


def loglog_slope(x: list[float], y: list[float]) -> float:
    """Least-squares k in y ~ c x^k over the finite positive y (nan with fewer than two)."""
    pts = [(a, b) for a, b in zip(x, y, strict=True) if b > 0 and math.isfinite(b)]
    if len(pts) < 2:
        return math.nan
    xs, ys = zip(*pts, strict=True)
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def judge(rows: list, direction, cfg) -> Verdict:
    """The verdict of one (direction, family) from its rows (rules: bench/invariance.py)."""
    first = rows[0]
    dampings = sorted({r.damping for r in rows})
    converged = [
        lam
        for lam in dampings
        if not direction.converged
        or all(r.cg_residual <= cfg.cg_rtol * 1.001 for r in rows if r.damping == lam)
    ]

    def ratio(lam: float) -> float:
        values = [r.kl_ratio for r in rows if r.damping == lam]
        finite = [v for v in values if math.isfinite(v)]
        return max(finite) if len(finite) == len(values) else math.inf

    smallest_delta = min(r.kl_delta for r in rows)
    at_delta = {r.damping: r.kl_between for r in rows if r.kl_delta == smallest_delta}
    slope_damping = loglog_slope(converged, [at_delta[lam] for lam in converged])
    if not converged:
        measured, lam, slope_delta = "not converged", math.nan, math.nan
        r_star = math.nan
    else:
        lam = converged[0]
        mine = sorted((r for r in rows if r.damping == lam), key=lambda r: r.kl_delta)
        slope_delta = loglog_slope([r.kl_delta for r in mine], [r.kl_between for r in mine])
        r_star, r_top = ratio(lam), ratio(dampings[-1])
        damping_made = r_star <= r_top / DAMPING_SHRINK or r_star < ROUNDING
        measured = "invariant" if r_star < cfg.tol and damping_made else "not invariant"
    match = (
        "-"
        if measured == "not converged"
        else ("yes" if (measured == "invariant") == (first.predicted == "yes") else "NO")
    )
    return Verdict(
        direction.name, first.family, first.predicted, measured, match, lam, r_star,
        ratio(dampings[-1]), slope_delta, slope_damping,
    )  # fmt: skip


def verdicts(rows: list, directions: list, cfg) -> list[Verdict]:
    """One verdict per (direction, family) measured, directions in order."""
    out = []
    for direction in directions:
        mine = [r for r in rows if r.direction == direction.name]
        for family in dict.fromkeys(r.family for r in mine):
            out.append(judge([r for r in mine if r.family == family], direction, cfg))
    return out


def print_table(table: list[Verdict], cfg) -> None:
    print(
        f"\nKL(pi_theta' || pi_phi') after one step of equal predicted KL; invariant: max "
        f"KL/delta < {cfg.tol:g} at lambda* and {DAMPING_SHRINK:g}x below the largest "
        "damping's (the damping's doing); slope d: in kl_delta (2: first-order invariant)"
    )
    head = (
        f"{'direction':<19}{'family':<16}{'predicted':>10}  {'measured':<14}{'match':>6}"
        f"{'lambda*':>9}{'KL/delta':>10}{'@max lam':>10}{'slope d':>9}{'slope lam':>10}"
    )
    print(head)
    for v in table:
        print(
            f"{v.direction:<19}{v.family:<16}{v.predicted:>10}  {v.measured:<14}{v.match:>6}"
            f"{v.damping:9.0e}{v.ratio:10.1e}{v.ratio_max_damping:10.1e}"
            f"{v.slope_delta:9.2f}{v.slope_damping:10.2f}"
        )


def write(rows: list, table: list[Verdict], out: Path) -> None:
    """The rows to `out` and the verdicts beside it (`<stem>_verdicts.csv`)."""
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([asdict(r) for r in rows]).to_csv(out, index=False)
    verdict_path = out.with_name(f"{out.stem}_verdicts.csv")
    pd.DataFrame([asdict(v) for v in table]).to_csv(verdict_path, index=False)
    print(f"wrote {out} and {verdict_path}")


def build_parser() -> argparse.ArgumentParser:
    from npgbench.harness.bench.args import BenchParser, positive_int
    from npgbench.harness.core.command import HelpFormatter

    class Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
        """The module docstring as written, and every option's default."""

    parser = BenchParser(
        prog="npgbench bench invariance", description=invariance.__doc__, formatter_class=Formatter
    )
    add = parser.add_argument
    add("--policy", default="init", help="a run directory holding policy.pt, or init (fresh)")
    add("--env", default="Hopper-v5", help="environment of an init policy")
    add("--hidden", default="64,64", help="hidden widths of an init policy")
    add("--states", type=positive_int, default=2048, help="states in the batch")
    add("--seed", type=int, default=0, help="seed of the batch, the maps and the sampled Fishers")
    add("--kl-deltas", type=positive_float_csv, default="1e-4,1e-3,1e-2,1e-1", help="kl_delta")
    add("--dampings", type=positive_float_csv, default="1e-4,1e-3,1e-2,1e-1", help="lambda")
    add("--families", default="all", help="comma-separated subset of the families, or all")
    add(
        "--directions",
        default="all",
        help="subset of " + ",".join(d.name for d in invariance.DIRECTIONS),
    )
    add("--kappa", type=float, default=10.0, help="scale range / condition number of the maps")
    add("--cg-max-iters", type=positive_int, default=500, help="iterations of npg_cg_converged")
    add("--cg-rtol", type=float, default=1e-6, help="relative residual CG must reach")
    add("--tol", type=float, default=1e-3, help="invariant: kl_between / kl_delta below this")
    add(
        "--rows",
        type=Path,
        default=None,
        help="take the rows from this CSV of an earlier run instead of measuring them "
        "(default: measure)",
    )
    add("--out", type=Path, default=Path("results/bench/invariance.csv"), help="CSV written")
    add("--batch-file", type=Path, default=Path("results/bench/invariance_batch.pt"),
        help="the batch and its policy, reused when present")  # fmt: skip
    return parser


def main(argv: list[str]) -> int:
    from npgbench.harness.bench.saved_batch import load_or_sample

    args = build_parser().parse_args(argv)
    source, directions, cfg = checked(args, invariance.DIRECTIONS)
    torch.set_num_threads(1)
    saved = load_or_sample(source, args.batch_file)
    reps = families(saved.policy, saved.batch.obs, cfg.kappa, cfg.seed)
    reps = selected(reps, args.families)
    print(f"P = {saved.policy.num_params()} parameters, {len(saved.batch)} states", flush=True)
    if args.rows is not None:
        rows = reread(args.rows, saved, reps, directions)
    else:
        rows = invariance.measure(saved, reps, directions, cfg)
    table = verdicts(rows, directions, cfg)
    print_table(table, cfg)
    write(rows, table, args.out)
    return 0
