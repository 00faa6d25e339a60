"""The user-facing error of every command, and the hint that names the valid choices."""

from __future__ import annotations

import difflib
import typing


class ConfigError(ValueError):
    """A user-facing configuration error; the CLI prints it on one line and exits 2."""


def closest(name: str, choices: typing.Iterable[str]) -> str:
    """One-line hint naming the closest valid choices (or all of them when few)."""
    choices = sorted(choices)
    near = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if near:
        return f"did you mean {', '.join(near)}? valid: {', '.join(choices)}"
    return f"valid: {', '.join(choices)}"
