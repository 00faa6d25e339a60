"""Run directories -> one tidy per-iteration DataFrame + a runs table (+ warnings).

A run directory is any folder holding config.json or meta.json (harness/tracking/run_dir.py writes
both, then metrics.parquet). Folders are found recursively; a run directory is not searched
below. Only *complete* runs with a readable metrics file enter `RunSet.frame`; failed,
interrupted (status "running" with no writer left) and corrupt runs (unreadable files, or
"complete" with rows missing: harness/tracking/integrity.py) are listed in
`RunSet.runs` with their status and never mixed into curves or tables.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from npgbench.analysis.data.code_versions import code_key, mixed_code_notes, versions_text

# Moved to their own modules; still importable from here.
from npgbench.analysis.data.curves import interpolate_curves as interpolate_curves
from npgbench.analysis.data.curves import run_frames as run_frames
from npgbench.analysis.data.fisher_cost_csv import find_fisher_cost_csv as find_fisher_cost_csv
from npgbench.analysis.data.fisher_cost_csv import read_fisher_cost as read_fisher_cost
from npgbench.harness.core.families import recorded_family
from npgbench.harness.core.metrics import declared, names_of
from npgbench.harness.core.run_files import RunStatus, complete_problem, set_aside

ID_COLUMNS = ["run_id", "study", "group", "label", "algo", "env", "seed", "config_hash"]
"""Identity columns of every row of the tidy frame (study = suite name, "" when none)."""
CORE_COLUMNS = declared(
    [
        "iteration",
        "step",
        "wall_time",
        "return_mean",
        "return_std",
        "episodes",
        "eval_return_mean",
        "eval_return_std",
        "kl",
        "kl_delta",
        "entropy",
        "value_loss",
        "explained_variance",
        "skipped",
        "accepted",
        "backtracks",
        "time_sample",
        "time_update",
        "time_value",
        "time_grad",
        "time_fisher_fit",
        "time_solve",
        "time_line_search",
    ]
)
"""The columns analysis reads from every run: always present in the frame (NaN where a run did
not log them: absent != zero). What each means: harness/core/metrics.py, which must declare
them all (`declared` raises at import otherwise)."""
BOOL_COLUMNS = names_of("bool")
"""The schema's flags (skipped, accepted, value_skipped), read as float 1/0/NaN so a missing
flag stays missing instead of becoming False."""
TEXT_COLUMNS = names_of("str")
"""The schema's text columns (skip_reason, value_skip_reason): kept as text; every other
column of dtype object is read as numbers."""


@dataclass
class RunSet:
    """What `load_runs` found under one root."""

    root: Path
    frame: pd.DataFrame
    """One row per iteration of every complete run: ID_COLUMNS + CORE_COLUMNS + any extra."""
    runs: pd.DataFrame
    """One row per run directory, every status (complete|failed|incomplete|corrupt); `grid`
    (meta.json's swept values) and `config` (config.json flattened to dotted keys) are JSON;
    `family` is the variant's (harness/core/families.py: meta.json's, else by algo)."""
    warnings: list[str] = field(default_factory=list)
    """Problems with named files (corrupt metrics, unreadable meta) that were skipped."""
    notes: list[str] = field(default_factory=list)
    """Grouping decisions the report must state (mixed suites, mixed config hashes)."""

    @property
    def complete(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == RunStatus.COMPLETE]


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def find_run_dirs(root: Path) -> list[Path]:
    """Every folder under root (root included) holding config.json or meta.json, sorted."""
    root = Path(root)
    if (root / "meta.json").is_file() or (root / "config.json").is_file():
        return [root]
    found = {p.parent for name in ("meta.json", "config.json") for p in root.rglob(name)}
    # Folders named ".*" (.corrupt: runs set aside by a sweep, .submitit) hold no results, nor
    # superseded/ (runs replaced by `--rerun-stale`, harness/sweep/staleness.py).
    found = {p for p in found if not set_aside(p.relative_to(root).parts)}
    # A run directory's own subfolders (none today) are not separate runs.
    return sorted(p for p in found if not any(q in p.parents for q in found))


def _read_metrics(path: Path) -> tuple[pd.DataFrame | None, str]:
    """(frame, "") or (None, why it is unusable)."""
    if not path.is_file():
        return None, f"{path}: metrics file missing"
    try:  # from one read of the bytes: a live run replaces the file while pyarrow reads it
        df = pd.read_parquet(io.BytesIO(path.read_bytes()))
    except Exception as exc:  # pyarrow raises several types for truncated / garbage files
        return None, f"{path}: unreadable metrics file ({type(exc).__name__}); run skipped"
    missing = [c for c in ("iteration", "step") if c not in df.columns]
    if missing or df.empty:
        why = "no rows" if df.empty else f"missing column(s) {', '.join(missing)}"
        return None, f"{path}: {why}; run skipped"
    return df, ""


def _clean_metrics(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values("iteration", kind="stable").reset_index(drop=True).copy()
    for col in CORE_COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    for col in (c for c in BOOL_COLUMNS if c in df.columns):
        df[col] = pd.to_numeric(
            df[col].map(lambda v: np.nan if v is None else v), errors="coerce"
        ).astype(float)
    for col in df.columns:
        if col not in TEXT_COLUMNS and (
            df[col].dtype == object or pd.api.types.is_string_dtype(df[col])
        ):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def flatten(table: dict, prefix: str = "") -> dict:
    """Nested config -> dotted keys: {"update": {"lr": 0.1}} -> {"update.lr": 0.1}."""
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _number(value) -> float:
    """A numeric meta.json / config.json field as float; NaN when absent or of another type
    (a hand-edited file must not stop the report)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return np.nan
    return float(value)


def _identity_row(run_dir: Path, meta: dict | None, config: dict) -> dict:
    """The runs-table fields a run's meta.json and config.json give (status set later)."""
    src = meta or config
    return {
        "run_id": src.get("run_id", run_dir.name),
        "path": str(run_dir),
        "study": str((meta or {}).get("suite") or ""),
        "suite_sha256": str((meta or {}).get("suite_sha256") or ""),
        "label": str((meta or {}).get("label") or src.get("algo", "?")),
        "algo": src.get("algo", "?"),
        "env": src.get("env", "?"),
        "seed": src.get("seed", -1),
        "config_hash": src.get("config_hash", ""),
        "grid": json.dumps((meta or {}).get("grid") or {}, sort_keys=True),
        "config": json.dumps(flatten(config), sort_keys=True),
        "num_params": _number((meta or {}).get("num_params")),
        "wall_time_s": _number((meta or {}).get("wall_time_s")),
        "total_steps": _number(config.get("total_steps")),
        "total_steps_done": _number((meta or {}).get("total_steps_done")),
        "versions": versions_text((meta or {}).get("versions")),
        "git_sha": (meta or {}).get("git_sha", ""),
        "code": code_key((meta or {}).get("code")),
        "error": (meta or {}).get("error") or "",
        # recorded by the registry; runs from before it was, by BUILT_IN_FAMILIES
        "family": recorded_family(meta, src.get("algo", "?")),
        "iterations": 0,
    }


def _run_record(
    run_dir: Path, warnings: list[str], include_incomplete: bool = False
) -> tuple[dict, pd.DataFrame | None]:
    """One runs-table row and the run's metrics (None unless readable, and complete or
    include_incomplete)."""
    meta = _read_json(run_dir / "meta.json")
    config = _read_json(run_dir / "config.json")
    if config is None and (run_dir / "config.json").exists():
        warnings.append(
            f"{run_dir / 'config.json'}: unreadable or not a JSON object; the run's settings "
            "(hyperparameters, budget) are unknown"
        )
    rec = _identity_row(run_dir, meta, config or {})
    if meta is None:
        warnings.append(f"{run_dir / 'meta.json'}: missing or unreadable; run skipped")
        # the runs table holds the statuses as plain strings (.value): it is data, saved as is
        return {**rec, "status": RunStatus.CORRUPT.value}, None
    status = meta.get("status")
    if status != RunStatus.COMPLETE:
        # "running" with no live writer = interrupted; a live run is not finished either.
        rec["status"] = (
            RunStatus.FAILED if status == RunStatus.FAILED else RunStatus.INCOMPLETE
        ).value
        if not include_incomplete:
            return rec, None
        df, _ = _read_metrics(run_dir / "metrics.parquet")  # no rows yet is no problem
        if df is None:
            return rec, None
        return {**rec, "iterations": len(df)}, _clean_metrics(df)
    df, why = _read_metrics(run_dir / "metrics.parquet")
    if df is None:
        warnings.append(why)
        return {**rec, "status": RunStatus.CORRUPT.value, "error": why}, None
    problem = complete_problem(run_dir, df["iteration"].to_numpy(), policy=False)
    if problem:  # says complete, yet is not: never scored
        why = f"{run_dir}: says complete but {problem}; run skipped"
        warnings.append(why)
        return {**rec, "status": RunStatus.CORRUPT.value, "error": why}, None
    return {**rec, "status": RunStatus.COMPLETE.value, "iterations": len(df)}, _clean_metrics(df)


def assign_groups(runs: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Group name per run: its label, or label#hash where one (study, label, env) mixes
    config hashes (seeds share a hash: it excludes the seed). Returns (groups, notes)."""
    groups = runs["label"].astype(str).copy()
    notes = []
    done = runs[runs["status"] == RunStatus.COMPLETE]
    for (study, label, env), sub in done.groupby(["study", "label", "env"], sort=True):
        hashes = sorted(sub["config_hash"].astype(str).unique())
        if len(hashes) > 1:
            groups[sub.index] = label + "#" + sub["config_hash"].astype(str)
            where = f" in suite {study}" if study else ""
            notes.append(
                f"{label} on {env}{where} mixes {len(hashes)} configs "
                f"({', '.join(hashes)}): grouped by label#config_hash"
            )
    return groups, notes


def load_runs(root: str | Path, include_incomplete: bool = False) -> RunSet:
    """Load every run directory under root. Never raises on a bad run: it is listed instead.
    include_incomplete: the rows so far of failed and incomplete (running) runs enter the
    frame too, for watching a live sweep; the report never sets it."""
    root = Path(root)
    warnings: list[str] = []
    records, frames = [], {}
    for run_dir in find_run_dirs(root):
        rec, df = _run_record(run_dir, warnings, include_incomplete)
        records.append(rec)
        if df is not None:
            frames[rec["run_id"]] = df
    runs = pd.DataFrame(records, columns=None if records else ["run_id", "status"])
    if runs.empty:
        return RunSet(root, pd.DataFrame(columns=ID_COLUMNS + CORE_COLUMNS), runs, warnings)
    runs = runs.sort_values(["study", "env", "label", "seed", "run_id"], kind="stable")
    runs = runs.reset_index(drop=True)
    runs["group"], notes = assign_groups(runs)
    notes += mixed_code_notes(runs)
    studies = sorted(runs.loc[runs["status"] == RunStatus.COMPLETE, "study"].unique())
    if len(studies) > 1:
        names = ", ".join(s or "(no suite)" for s in studies)
        notes.insert(
            0,
            f"runs of {len(studies)} suites in one folder ({names}): "
            "each suite is analysed separately",
        )
    parts = []
    for rec in runs[runs["run_id"].isin(list(frames))].itertuples(index=False):
        df = frames[rec.run_id]
        ids = pd.DataFrame({c: [getattr(rec, c)] * len(df) for c in ID_COLUMNS})
        parts.append(pd.concat([ids, df], axis=1))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=ID_COLUMNS + CORE_COLUMNS)
    )
    return RunSet(root, frame, runs, warnings, notes)
