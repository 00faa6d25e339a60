"""Suites: named experiment grids in TOML (stdlib tomllib), shipped as package data.

A suite file holds (every key but `envs`, `algos` and `steps` is optional):

    name, description         str (name defaults to the file stem)
    envs                      ["Hopper-v5", ...]
    algos                     ["ppo", ...], "all" (every variant: built-ins and installed
                              plugins) or "natural" (every natural-gradient
                              approximation, plugins included: one per preconditioner,
                              so npg_cg but not trpo, which takes npg_cg's direction)
    seeds                     [0, 1, 2]  (explicit; default [0])
    steps                     environment-step budget of every run
    [overrides]               dotted key -> value, all runs
    [algo_overrides.ALGO]     dotted key -> value, runs of that algorithm
    [env_overrides."ENV"]     dotted key -> value, runs on that env
    [variants.LABEL]          algo = "...", overrides = {...}: a labelled extra task
    [grid]                    dotted key -> [values] (for the algos whose config has the key);
    [grid.ALGO]               dotted key -> [values] for one algorithm; cartesian product
    [thresholds]              env -> return threshold (steps-to-threshold)
    [score_ranges."ENV"]      min, max (normalised scores)
    [[references]]            env, algo and/or label, value, std?, source, protocol
                              (best|final), env_version, steps: published numbers shown
                              beside ours; label names a [variants.LABEL] (its algo is
                              implied) so a reference can attach to one variant

Dotted keys may be written quoted (`"sampler.num_envs" = 8`) or as TOML nested tables; both
are flattened. Loading never imports torch (algorithm and env names are checked by
harness/sweep/suite_checks.py, in the layer that knows the registry), so the analysis layer can
read references and thresholds without the training stack.

The Suite and the keys a file may hold are in suites/schema.py, the parsing in suites/parse.py;
this module finds a suite by name or path and loads it.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from npgbench.harness.core.config import ConfigError, closest
from npgbench.suites.parse import parse_suite
from npgbench.suites.schema import Suite

SUITE_DIR = Path(__file__).resolve().parent
SUITES: list[str] = sorted(p.stem for p in SUITE_DIR.glob("*.toml"))
"""Names of the suites shipped in this package (suites/*.toml)."""


def suite_path(name_or_path: str | Path) -> Path:
    """A shipped suite by name, or a suite file by path; ConfigError naming the shipped suites.

    A bare name (no '/', no .toml suffix) always means a shipped suite, so a file in the
    working directory named like one never shadows it; write ./NAME for such a file.
    """
    text = str(name_or_path)
    if looks_like_path(text):
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"suite file not found: {path}")
        return path
    if text not in SUITES:
        raise ConfigError(
            f"unknown suite {text!r}: {closest(text, SUITES)} (a suite file: give its path, "
            "ending in .toml or containing /)"
        )
    return SUITE_DIR / f"{text}.toml"


def looks_like_path(text: str) -> bool:
    """Whether --suite names a file: it contains a path separator or ends in .toml."""
    return "/" in text or os.sep in text or text.endswith(".toml")


def load_suite(name_or_path: str | Path) -> Suite:
    """Parse and validate a suite file; ConfigError (one line naming file and key) on bad input.

    Names are not checked against the algorithm and env registries here (suites sit below the
    algorithms, and analysis/ reads suites without torch): npgbench.harness.sweep.suite_checks does
    that for the commands that run a suite.
    """
    path = suite_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    return parse_suite(data, path)


def content_sha256(data: bytes) -> str:
    """sha256 of a suite file's bytes: each run's meta.json records it as `suite_sha256`."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """content_sha256 of the file at path."""
    return content_sha256(Path(path).read_bytes())


def find_copy(folder: Path, sha: str) -> Path | None:
    """The suite*.toml in folder (a sweep's out folder or a dataset suite folder) whose
    sha256 is `sha`: the copy `npgbench sweep` recorded beside its runs."""
    for candidate in sorted(Path(folder).glob("suite*.toml")):
        if candidate.is_file() and file_sha256(candidate) == sha:
            return candidate
    return None


RECORDED_KEYWORDS = {
    "all": ["vanilla", "npg_exact", "npg_diag", "npg_kfac", "npg_cg", "trpo", "ppo"],
    "natural": ["npg_exact", "npg_diag", "npg_kfac", "npg_cg"],
}
"""What `algos = "all"` and `"natural"` expanded to before installed plugins joined "all":
the shipped suites that used them now list these variants, and a suite copy recorded then
(docs/data) is still the same experiment as the shipped file (a fact of the past, not the
registry, which may grow)."""


def _settings(path: Path) -> dict:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    algos = data.get("algos")
    if isinstance(algos, str) and algos in RECORDED_KEYWORDS:
        data["algos"] = RECORDED_KEYWORDS[algos]
    return data


def same_settings(a: Path, b: Path) -> bool:
    """Whether two suite files hold the same TOML data (they may differ in comments and
    layout, and a recorded copy's "all"/"natural" in the list it meant, RECORDED_KEYWORDS):
    runs swept from either are the same experiment. False when either is unreadable."""
    try:
        return _settings(a) == _settings(b)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


__all__ = [
    "SUITES",
    "Suite",
    "content_sha256",
    "file_sha256",
    "find_copy",
    "load_suite",
    "same_settings",
    "suite_path",
]
