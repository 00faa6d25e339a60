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
cannot silently replace each other.
"""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from npgbench.harness.tracking import atomic_write_bytes, read_json

RUN_FILES = ("config.json", "meta.json", "metrics.parquet", "policy.pt")
"""What a dataset run holds: everything `npgbench report` and `npgbench eval` read."""
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
    "run_id",
)
"""One manifest row per run, in this order (steps = environment steps trained)."""
NO_SUITE = "adhoc"
"""Folder of runs made by `npgbench run` (no suite in meta.json)."""


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    not_complete: list[str] = field(default_factory=list)


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories (folders with meta.json) under root, sorted; root itself may be one."""
    root = Path(root)
    if (root / "meta.json").is_file():
        return [root]
    found = (p.parent for p in root.rglob("meta.json"))
    # runs replaced by `--rerun-stale` are kept under superseded/, never copied
    return sorted(p for p in found if "superseded" not in p.relative_to(root).parts)


def _is_complete_copyable(run_dir: Path) -> bool:
    meta = read_json(run_dir / "meta.json") or {}
    return meta.get("status") == "complete" and all((run_dir / f).is_file() for f in RUN_FILES)


def _same_run(a: Path, b: Path) -> bool:
    """Same config and same metrics bytes (meta.json differs in host, times, argv)."""
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in ("config.json", "metrics.parquet"))


def _copy_run(src: Path, dest: Path) -> None:
    """Copy RUN_FILES into a temporary sibling, then rename: a dataset run is whole or absent."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name in RUN_FILES:
            shutil.copyfile(src / name, tmp / name)
        os.chmod(tmp, 0o755)
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
    if copy is not None:
        atomic_write_bytes(target, copy.read_bytes())  # never left half-written


def add_runs(sources: list[Path], dataset: Path) -> AddResult:
    """Copy every complete run under `sources` into `dataset/<suite>/<run_id>/`."""
    result = AddResult()
    for src in [d for root in sources for d in find_run_dirs(root)]:
        if not _is_complete_copyable(src):
            result.not_complete.append(src.name)
            continue
        meta = read_json(src / "meta.json") or {}
        dest = Path(dataset) / (meta.get("suite") or NO_SUITE) / src.name
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
        rows.append(row)
    return sorted(rows, key=lambda r: (r["suite"], r["run_id"]))


def write_manifest(dataset: Path) -> Path:
    """Rewrite `dataset/manifest.csv` from the run directories it holds (the source of truth)."""
    path = Path(dataset) / "manifest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest_rows(dataset))
    return path


def main(argv: list[str] | None = None) -> int:
    from npgbench.harness.core.command import OneLineParser
    from npgbench.harness.core.config import ConfigError

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
    if args.action == "manifest":
        print(f"wrote {write_manifest(Path(args.into))}")
        return 0
    missing = [s for s in args.sources if not Path(s).is_dir()]
    if missing:
        print(f"error: not a folder: {missing[0]}", file=sys.stderr)
        return 2
    result = add_runs([Path(s) for s in args.sources], Path(args.into))
    print(
        f"added {len(result.added)}, already present {len(result.already)}, "
        f"not complete {len(result.not_complete)}, conflicts {len(result.conflicts)}"
    )
    for name in result.conflicts:
        print(f"conflict (kept the dataset's copy): {name}", file=sys.stderr)
    return 1 if result.conflicts else 0
