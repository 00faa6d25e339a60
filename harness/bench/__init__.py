"""`npgbench bench NAME [options]`: speed benchmarks that print ratios measured in one run.

Timed tests are flaky on a shared machine; these benchmarks measure every contender in the
same process, back to back, and report ratios to a reference measured alongside.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def _throughput(argv: list[str]) -> int:
    from npgbench.harness.bench import throughput

    return throughput.main(argv)


def _fisher_cost(argv: list[str]) -> int:
    from npgbench.harness.bench import fisher_cost

    return fisher_cost.main(argv)


def _invariance(argv: list[str]) -> int:
    from npgbench.harness.bench import invariance_report

    return invariance_report.main(argv)


def _update_cost(argv: list[str]) -> int:
    from npgbench.harness.bench import update_cost

    return update_cost.main(argv)


def _fidelity(argv: list[str]) -> int:
    from npgbench.harness.bench import fidelity

    return fidelity.main(argv)


# Explicit lazy imports (the layer test sees them; one benchmark does not import the others).
BENCHMARKS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "throughput": (_throughput, "training steps/s of each algorithm vs the sampling ceiling"),
    "fisher-cost": (_fisher_cost, "fit + solve time of each Fisher approximation vs parameters"),
    "invariance": (
        _invariance,
        "one step under exact reparameterisations: which directions are invariant",
    ),
    "update-cost": (
        _update_cost,
        "CPU time of every variant's update on frozen batches, interleaved; scaling exponents",
    ),
    "fidelity": (
        _fidelity,
        "each natural direction vs the exact natural gradient on saved policies' batches",
    ),
}


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
    return BENCHMARKS[name][0](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
