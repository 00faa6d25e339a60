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
}


class BenchParser(argparse.ArgumentParser):
    """argparse with one-line errors (ConfigError: the CLI prints it and exits 2)."""

    def error(self, message: str):
        from npgbench.harness.core.config import ConfigError

        raise ConfigError(f"{self.prog}: {message}")


from npgbench.harness.cli import positive_int as positive_int  # noqa: E402  (one definition)


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
