"""`npgbench bench NAME [options]`: speed benchmarks that print ratios measured in one run.

Timed tests are flaky on a shared machine; these benchmarks measure every contender in the
same process, back to back, and report ratios to a reference measured alongside.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "throughput": (
        "harness.bench.throughput",
        "training steps/s of each algorithm vs the sampling ceiling",
    ),
    "fisher-cost": (
        "harness.bench.fisher_cost",
        "fit + solve time of each Fisher approximation vs parameters",
    ),
}


def main(argv: list[str]) -> int:
    from harness.config import ConfigError, closest

    if not argv or argv[0] in ("-h", "--help"):
        print("usage: npgbench bench {" + ",".join(BENCHMARKS) + "} [options]")
        for name, (_, text) in BENCHMARKS.items():
            print(f"  {name:<12} {text}")
        return 0 if argv else 2
    name = argv[0]
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}: {closest(name, BENCHMARKS)}")
    return importlib.import_module(BENCHMARKS[name][0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
