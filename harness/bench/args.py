"""What every benchmark's command line shares: the one-line-error parser and positive ints."""

from __future__ import annotations

import argparse

# One parser and one positive-int type for every command (npgbench.harness.core.command).
from npgbench.harness.core.command import OneLineParser as BenchParser  # noqa: F401
from npgbench.harness.core.command import positive_int as positive_int


def positive_int_csv(text: str) -> list[int]:
    """argparse type: comma-separated positive integers, e.g. 16,32,64."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers like 16,32, got {text!r}")
    return values
