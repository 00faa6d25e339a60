"""`npgbench bench NAME [options]`: speed benchmarks that print ratios measured in one run.

Timed tests are flaky on a shared machine; these benchmarks measure every contender in the
same process, back to back, and report ratios to a reference measured alongside.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = {
    "throughput": (
        "npgbench.harness.bench.throughput",
        "training steps/s of each algorithm vs the sampling ceiling",
    ),
    "fisher-cost": (
        "npgbench.harness.bench.fisher_cost",
        "fit + solve time of each Fisher approximation vs parameters",
    ),
    "invariance": (
        "npgbench.harness.bench.invariance",
        "one step under exact reparameterisations: which directions are invariant",
    ),
    "update-cost": (
        "npgbench.harness.bench.update_cost",
        "CPU time of every variant's update on frozen batches, interleaved; scaling exponents",
    ),
    "fidelity": (
        "npgbench.harness.bench.fidelity",
        "each natural direction vs the exact natural gradient on saved policies' batches",
    ),
}


# One parser and one positive-int type for every command (npgbench.harness.core.command).
from npgbench.harness.core.command import OneLineParser as BenchParser  # noqa: E402, F401
from npgbench.harness.core.command import positive_int as positive_int  # noqa: E402


def positive_int_csv(text: str) -> list[int]:
    """argparse type: comma-separated positive integers, e.g. 16,32,64."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers like 16,32, got {text!r}")
    return values


def main(argv: list[str]) -> int:
    from npgbench.harness.core.config import ConfigError, closest

    if argv and argv[0] in ("-h", "--help"):
        print("usage: npgbench bench {" + ",".join(BENCHMARKS) + "} [options]")
        for name, (_, text) in BENCHMARKS.items():
            print(f"  {name:<12} {text}")
        return 0
    if not argv:
        raise ConfigError(f"npgbench bench: name a benchmark: valid: {', '.join(BENCHMARKS)}")
    name = argv[0]
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}: {closest(name, BENCHMARKS)}")
    return importlib.import_module(BENCHMARKS[name][0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
