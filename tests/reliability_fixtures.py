"""Small real runs for the reliability tests: InvertedPendulum-v5, 256-step updates."""

from __future__ import annotations

import json
from pathlib import Path

from npgbench.harness.runner import resolve_config

ENV = "InvertedPendulum-v5"
TINY = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "eval.every": 0,
    "value.epochs": 2,
}


def tiny_config(seed: int = 0, updates: int = 4, **extra):
    """A vanilla run of `updates` 256-step updates (a second or two each)."""
    return resolve_config("vanilla", ENV, seed, 256 * updates, {**TINY, **extra})


def run_argv(out: Path, seed: int = 0, updates: int = 4, *more: str) -> list[str]:
    """`npgbench run` arguments (for cli.main) of tiny_config(seed, updates)."""
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    return [
        "run", "--algo", "vanilla", "--env", ENV, "--seed", str(seed),
        "--steps", str(256 * updates), "--out", str(out), "--quiet", *sets, *more,
    ]  # fmt: skip


def meta(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "meta.json").read_text())


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (relative path -> bytes): to show nothing was touched."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
