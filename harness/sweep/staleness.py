"""Complete runs made by other code: found from the fingerprint in meta.json ("code",
harness/tracking/fingerprint.py), shown by `sweep --dry-run` and `run`, redone by `--rerun-stale`.

A complete run is
  current  its recorded fingerprint matches the installed code (variant source, plugin);
  stale    it does not: `reasons` says what changed;
  unknown  it records no fingerprint (made before npg-bench recorded one): never stale,
           since nothing says its code differs.

`--rerun-stale` moves a stale run's directory to <out>/superseded/<run id>.<UTC time>/ (it is
never deleted; analysis does not read below a `superseded` folder) and runs it again under the
same run id: the fingerprint stays out of the run hash, so ids and the dataset do not change.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from npgbench.harness.core.run_files import RunStatus
from npgbench.harness.tracking import integrity

SUPERSEDED = integrity.SUPERSEDED  # one name for the folder
"""<out>/<SUPERSEDED>/: run directories replaced by --rerun-stale, kept."""


@dataclass(frozen=True)
class CodeCheck:
    """How a complete run's recorded code compares with the installed code."""

    state: str
    """current | stale | unknown"""
    reasons: tuple[str, ...] = ()
    """What changed (stale only), e.g. "variant source changed (npgbench.algorithms.ppo)"."""


@functools.cache
def _installed(algo: str) -> dict:
    from npgbench.harness.tracking.fingerprint import code_fingerprint

    return code_fingerprint(algo)


def check_code(run_dir: Path, algo: str) -> CodeCheck:
    """Compare the fingerprint in run_dir/meta.json with the installed code of `algo`."""
    from npgbench.harness.tracking.fingerprint import stale_reasons
    from npgbench.harness.tracking.run_dir import read_json

    recorded = (read_json(Path(run_dir) / "meta.json") or {}).get("code")
    if not isinstance(recorded, dict) or not recorded:
        return CodeCheck("unknown")
    reasons = stale_reasons(recorded, _installed(algo))
    return CodeCheck("stale", tuple(reasons)) if reasons else CodeCheck("current")


def code_checks(tasks, statuses: list[RunStatus], out: Path) -> dict[str, CodeCheck]:
    """{run id: CodeCheck} of every complete run among a sweep's tasks."""
    return {
        t.run_id: check_code(out / t.run_id, t.cfg.algo)
        for t, s in zip(tasks, statuses, strict=True)
        if s == RunStatus.COMPLETE
    }


def say_stale(run_dir: Path, algo: str, rerun: bool) -> bool:
    """Whether a complete run was made by other code; says so on stderr, with what changed
    (or that its code is unknown), for `npgbench run`."""
    check = check_code(run_dir, algo)
    if check.state == "stale":
        todo = "rerunning it (--rerun-stale)" if rerun else "--rerun-stale reruns it"
        print(f"stale: {'; '.join(check.reasons)}: {todo}", file=sys.stderr)
    elif check.state == "unknown":
        print("code unknown: the run records no code fingerprint", file=sys.stderr)
    return check.state == "stale"


def stale_line(label: str, run_id: str, check: CodeCheck) -> str:
    """One line naming a stale run and what changed."""
    return f"stale: {label} {run_id}: {'; '.join(check.reasons)}"


def describe(checks: dict[str, CodeCheck], rerun: bool) -> list[str]:
    """Summary lines: how many complete runs are stale or of unknown code, and what to do."""
    stale = sum(c.state == "stale" for c in checks.values())
    unknown = sum(c.state == "unknown" for c in checks.values())
    lines = []
    if stale:
        what = "rerun now (--rerun-stale)" if rerun else "kept; --rerun-stale reruns them"
        lines.append(f"{stale} complete run(s) made by other code (stale): {what}")
    if unknown:
        lines.append(
            f"{unknown} complete run(s) record no code fingerprint (made before npg-bench "
            "recorded one): code unknown, not counted as stale"
        )
    return lines


def mark(tasks, statuses: list[RunStatus], checks: dict[str, CodeCheck]) -> list[RunStatus]:
    """The plan's statuses with STALE for each stale complete run."""
    return [
        RunStatus.STALE if s == RunStatus.COMPLETE and checks[t.run_id].state == "stale" else s
        for t, s in zip(tasks, statuses, strict=True)
    ]


def print_notes(tasks, checks: dict[str, CodeCheck], rerun: bool, each: bool, file) -> None:
    """What describe() says, after one line per stale run when `each`."""
    if each:
        for task in tasks:
            check = checks.get(task.run_id)
            if check is not None and check.state == "stale":
                print(f"  {stale_line(task.label, task.run_id, check)}", file=file)
    for line in describe(checks, rerun):
        print(line, file=file)


def move_aside(run_dir: Path) -> Path:
    """Move a run directory to <its parent>/superseded/<name>.<UTC time>/; the new path."""
    run_dir = Path(run_dir)
    kept = run_dir.parent / SUPERSEDED
    kept.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, n = kept / f"{run_dir.name}.{stamp}", 0
    while target.exists():
        n += 1
        target = kept / f"{run_dir.name}.{stamp}.{n}"
    run_dir.rename(target)
    return target


__all__ = [
    "CodeCheck",
    "SUPERSEDED",
    "check_code",
    "code_checks",
    "describe",
    "mark",
    "move_aside",
    "print_notes",
    "say_stale",
]
