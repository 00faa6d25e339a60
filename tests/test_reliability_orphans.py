"""A SIGKILLed sweep leaves no orphans beyond a bounded grace period (its loky workers watch
their parent and exit; the resource trackers follow), and the next sweep removes the scratch
folders of sweeps it can prove dead (their flock is free), never a live sweep's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from npgbench.harness.sweep.pool import ALIVE, SCRATCH_PREFIX, _hold, clean_dead_scratch
from reliability_fixtures import ENV, TINY

GRACE_S = 30
"""The workers look every ORPHAN_GRACE_S (2 s); the rest is slack for a loaded machine."""


def children(pid: int) -> set[int]:
    """Processes whose parent is pid (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_sigkilled_sweep_leaves_no_workers_and_its_debris_is_cleaned(tmp_path):
    suite = tmp_path / "orph.toml"
    overrides = "\n".join(f'"{k}" = {v}' for k, v in TINY.items())
    suite.write_text(
        textwrap.dedent(f"""
        name = "orph"
        envs = ["{ENV}"]
        algos = ["vanilla"]
        seeds = [0, 1]
        steps = {256 * 400}
        """)
        + f"[overrides]\n{overrides}\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "npgbench.harness.sweep.command", "--suite", str(suite)]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--jobs", "2", "--wandb", "disabled", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while len(list(out.glob("*/metrics.parquet"))) < 2 and time.time() < deadline:
            assert proc.poll() is None, "the sweep ended before it was killed"
            time.sleep(0.5)
        assert len(list(out.glob("*/metrics.parquet"))) == 2, "the runs never started"
        spawned = children(proc.pid)
        assert len(spawned) >= 2  # two workers (and the resource trackers)
        proc.kill()
        proc.wait()
        deadline = time.time() + GRACE_S
        while any(alive(p) for p in spawned) and time.time() < deadline:
            time.sleep(0.5)
        assert not [p for p in spawned if alive(p)], "orphans outlived the grace period"
    finally:
        if proc.poll() is None:
            proc.kill()
    debris = list(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{proc.pid}-*"))
    assert debris, "the killed sweep left its scratch folder (the case cleaned below)"
    removed = clean_dead_scratch(Path(tempfile.gettempdir()))
    assert set(debris) <= set(removed) and not any(d.exists() for d in debris)


def test_a_live_sweeps_scratch_folder_is_left_alone(tmp_path):
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-live"
    live.mkdir()
    held = _hold(live / ALIVE)  # as a running sweep holds it
    dead = tmp_path / f"{SCRATCH_PREFIX}1-dead"
    dead.mkdir()
    _hold(dead / ALIVE).close()  # its sweep died: the flock is free
    legacy = tmp_path / f"{SCRATCH_PREFIX}2-legacy"  # no .alive: cannot be proven dead
    legacy.mkdir()
    try:
        assert clean_dead_scratch(tmp_path) == [dead]
        assert live.is_dir() and legacy.is_dir() and not dead.exists()
    finally:
        held.close()
