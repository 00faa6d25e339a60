"""The results dataset: complete run directories copied out of sweeps, plus a manifest.

    npgbench dataset add results/tianshou-mujoco [...] --into docs/data
    npgbench dataset manifest --into docs/data

Layout: `<dataset>/<suite>/<run_id>/` holding exactly the files a sweep wrote that analysis
and `npgbench eval` read (config.json, meta.json, metrics.parquet, policy.pt): no W&B folder,
no lock, no checkpoint. `<dataset>/<suite>/suite-<sha12>.toml`: each version of the suite
file its runs were swept from (meta.json's suite_sha256), so the report can tell a later
comment-only edit of the shipped suite from a change of settings. `<dataset>/manifest.csv`
has one row per run. A run already in the dataset is never overwritten: a second copy with
different metrics is reported as a conflict and left out, so data taken at different commits
cannot silently replace each other. A run that says complete but fails its checks
(harness/tracking/integrity.py: rows missing, unreadable files) or holds a symlink is refused (exit 1).
"""

from __future__ import annotations

import csv
import filecmp
import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.run_files import RunStatus, complete_problem, set_aside
from npgbench.harness.tracking.run_dir import (
    atomic_write_bytes,
    check_output_dir,
    current_umask,
    read_json,
    run_status,
    safe_subdir,
)
from npgbench.suites.schema import SAFE_NAME

RUN_FILES = ("config.json", "meta.json", "metrics.parquet", "policy.pt")
"""What a dataset run holds: everything `npgbench report` and `npgbench eval` read."""
OPTIONAL_FILES = ("final_eval.json",)
"""Copied when the run has them: the final evaluation (harness/tracking/final_eval.py)."""
SNAPSHOTS = "snapshots"
"""Copied when the run has it: policy snapshots (diagnostics.snapshot_every), regular files."""
MANIFEST_COLUMNS = (
    "suite",
    "algo",
    "label",
    "env",
    "seed",
    "steps",
    "status",
    "git_sha",
    "wall_time_s",
    "final_eval_mean",
    "final_eval_episodes",
    "run_id",
)
"""One manifest row per run, in this order (steps = environment steps trained; final_eval_*:
its final_eval.json, empty when it has none)."""
NO_SUITE = "adhoc"
"""Folder of runs made by `npgbench run` (no suite in meta.json)."""


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    not_complete: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    """"name: why" of each run that says complete but fails its checks (integrity.py)."""


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories (folders with meta.json) under root, sorted; root itself may be one."""
    root = Path(root)
    if (root / "meta.json").is_file():
        return [root]
    found = (p.parent for p in root.rglob("meta.json"))
    # never copied: .corrupt and .submitit folders, and superseded/ (replaced by --rerun-stale)
    return sorted(p for p in found if not set_aside(p.relative_to(root).parts))


def _copy_problem(run_dir: Path) -> str | None:
    """Why a complete run cannot be copied (a symlinked file, a failed check), or None."""
    names = [*RUN_FILES, *OPTIONAL_FILES, SNAPSHOTS]
    linked = [f for f in names if (run_dir / f).is_symlink()]
    snapshots = run_dir / SNAPSHOTS
    if snapshots.is_dir() and not linked:
        linked = [f"{SNAPSHOTS}/{p.name}" for p in snapshots.iterdir() if not p.is_file()]
    if linked:
        return f"{linked[0]} is a symlink"
    return complete_problem(run_dir)


def _same_run(a: Path, b: Path) -> bool:
    """Same config and same metrics bytes (meta.json differs in host, times, argv)."""
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in ("config.json", "metrics.parquet"))


def _copy_run(src: Path, dest: Path) -> None:
    """Copy RUN_FILES into a temporary sibling, then rename: a dataset run is whole or absent.
    The folder gets the umask's mode, as mkdir would (mkdtemp makes it 0700)."""
    safe_subdir(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in RUN_FILES:
            shutil.copyfile(src / name, tmp / name, follow_symlinks=False)
        for name in OPTIONAL_FILES:
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name, follow_symlinks=False)
        if (src / SNAPSHOTS).is_dir():
            (tmp / SNAPSHOTS).mkdir()
            for snap in sorted((src / SNAPSHOTS).iterdir()):
                shutil.copyfile(snap, tmp / SNAPSHOTS / snap.name, follow_symlinks=False)
        os.chmod(tmp, 0o777 & ~current_umask())
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _copy_suite_file(sweep_folder: Path, dest_folder: Path, sha: str) -> None:
    """Keep the sweep's copy of the suite file whose sha256 is `sha` as
    dest_folder/suite-<sha12>.toml, once per version (nothing when none matches)."""
    from npgbench.suites import find_copy

    target = dest_folder / f"suite-{sha[:12]}.toml"
    if not sha or target.exists():
        return
    copy = find_copy(sweep_folder, sha)
    if copy is not None and not copy.is_symlink():
        atomic_write_bytes(target, copy.read_bytes())  # never left half-written


def add_runs(sources: list[Path], dataset: Path) -> AddResult:
    """Copy every complete run under `sources` into `dataset/<suite>/<run_id>/`."""
    result = AddResult()
    for src in [d for root in sources for d in find_run_dirs(root)]:
        if run_status(src) != RunStatus.COMPLETE:
            result.not_complete.append(src.name)
            continue
        problem = _copy_problem(src)
        if problem:
            result.corrupt.append(f"{src.name}: {problem}")
            continue
        meta = read_json(src / "meta.json") or {}
        suite = meta.get("suite") or NO_SUITE
        if not isinstance(suite, str) or not SAFE_NAME.fullmatch(suite):
            result.corrupt.append(f"{src.name}: meta.json suite {suite!r} is not a folder name")
            continue
        dest = Path(dataset) / suite / src.name
        if dest.is_symlink():
            result.conflicts.append(src.name)  # never written through
            continue
        if dest.exists() and not _same_run(src, dest):
            result.conflicts.append(src.name)
            continue
        _copy_suite_file(src.parent, dest.parent, meta.get("suite_sha256") or "")
        if dest.exists():
            result.already.append(src.name)
            continue
        _copy_run(src, dest)
        result.added.append(src.name)
    write_manifest(dataset)
    return result


def manifest_rows(dataset: Path) -> list[dict]:
    rows = []
    for run_dir in find_run_dirs(dataset):
        meta = read_json(run_dir / "meta.json") or {}
        row = {c: meta.get(c, "") for c in MANIFEST_COLUMNS}
        row["suite"] = meta.get("suite") or NO_SUITE
        row["steps"] = meta.get("total_steps_done", "")
        row["wall_time_s"] = f"{meta['wall_time_s']:.1f}" if "wall_time_s" in meta else ""
        final = read_json(run_dir / "final_eval.json") or {}
        row["final_eval_mean"] = f"{final['mean']:.2f}" if "mean" in final else ""
        row["final_eval_episodes"] = final.get("episodes", "")
        rows.append(row)
    return sorted(rows, key=lambda r: (r["suite"], r["run_id"]))


def write_manifest(dataset: Path) -> Path:
    """Rewrite `dataset/manifest.csv` from the run directories it holds (the source of truth)."""
    path = Path(dataset) / "manifest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(manifest_rows(dataset))
    atomic_write_bytes(path, text.getvalue().encode())  # replaces a planted symlink
    return path


def main(argv: list[str] | None = None) -> int:
    from npgbench.harness.core.command import OneLineParser, os_error_line

    parser = OneLineParser(prog="npgbench dataset", description="the committed results dataset")
    sub = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    add = sub.add_parser("add", help="copy complete runs from sweep folders into the dataset")
    add.add_argument("sources", nargs="+", help="sweep output folders or run directories")
    add.add_argument("--into", default="docs/data", help="dataset folder (default docs/data)")
    man = sub.add_parser("manifest", help="rewrite manifest.csv from the dataset's runs")
    man.add_argument("--into", default="docs/data", help="dataset folder (default docs/data)")
    try:
        args = parser.parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _act(args)
    except BrokenPipeError:  # a reader that left: npgbench's main ends quietly
        raise
    except (OSError, ConfigError) as exc:  # --into a file, unwritable, a name too long
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 2


def _act(args) -> int:
    """Run `dataset add` or `dataset manifest`; the exit code."""
    if args.action == "manifest":
        print(f"wrote {write_manifest(Path(args.into))}")
        return 0
    missing = [s for s in args.sources if not Path(s).is_dir()]
    if missing:
        print(f"error: not a folder: {missing[0]}", file=sys.stderr)
        return 2
    check_output_dir(Path(args.into), "--into")
    result = add_runs([Path(s) for s in args.sources], Path(args.into))
    print(
        f"added {len(result.added)}, already present {len(result.already)}, "
        f"not complete {len(result.not_complete)}, conflicts {len(result.conflicts)}"
        + (f", corrupt {len(result.corrupt)} (refused)" if result.corrupt else "")
    )
    for name in result.conflicts:
        print(f"conflict (kept the dataset's copy): {name}", file=sys.stderr)
    for line in result.corrupt:
        print(f"corrupt (not added): {line}", file=sys.stderr)
    return 1 if result.conflicts or result.corrupt else 0
