"""Run directories -> one tidy per-iteration DataFrame + a runs table (+ warnings).

A run directory is any folder holding config.json or meta.json (harness/tracking.py writes
both, then metrics.parquet). Folders are found recursively; a run directory is not searched
below. Only *complete* runs with a readable metrics file enter `RunSet.frame`; failed,
interrupted (status "running" with no writer left) and corrupt runs are listed in
`RunSet.runs` with their status and never mixed into curves or tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ID_COLUMNS = ["run_id", "study", "group", "label", "algo", "env", "seed", "config_hash"]
"""Identity columns of every row of the tidy frame (study = suite name, "" when none)."""
CORE_COLUMNS = [
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
"""Always present in the frame (NaN where a run did not log them: absent != zero)."""
BOOL_COLUMNS = ["skipped", "accepted"]
"""Stored as float 1/0/NaN so a missing flag stays missing instead of becoming False."""


@dataclass
class RunSet:
    """What `load_runs` found under one root."""

    root: Path
    frame: pd.DataFrame
    """One row per iteration of every complete run: ID_COLUMNS + CORE_COLUMNS + any extra."""
    runs: pd.DataFrame
    """One row per run directory, every status (complete|failed|incomplete|corrupt); `grid`
    (meta.json's swept values) and `config` (config.json flattened to dotted keys) are JSON."""
    warnings: list[str] = field(default_factory=list)
    """Problems with named files (corrupt metrics, unreadable meta) that were skipped."""
    notes: list[str] = field(default_factory=list)
    """Grouping decisions the report must state (mixed suites, mixed config hashes)."""

    @property
    def complete(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "complete"]


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
    # A run directory's own subfolders (none today) are not separate runs.
    return sorted(p for p in found if not any(q in p.parents for q in found))


def _read_metrics(path: Path) -> tuple[pd.DataFrame | None, str]:
    """(frame, "") or (None, why it is unusable)."""
    if not path.is_file():
        return None, f"{path}: metrics file missing"
    try:
        df = pd.read_parquet(path)
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
    for col in BOOL_COLUMNS:
        df[col] = pd.to_numeric(
            df[col].map(lambda v: np.nan if v is None else v), errors="coerce"
        ).astype(float)
    for col in df.columns:
        if col not in ("skip_reason",) and df[col].dtype == object:
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


def _versions_text(versions: dict | None) -> str:
    if not isinstance(versions, dict):
        return ""
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))


def _run_record(run_dir: Path, warnings: list[str]) -> tuple[dict, pd.DataFrame | None]:
    """One runs-table row and the run's metrics (None unless complete and readable)."""
    meta = _read_json(run_dir / "meta.json")
    config = _read_json(run_dir / "config.json")
    if config is None and (run_dir / "config.json").exists():
        warnings.append(
            f"{run_dir / 'config.json'}: unreadable or not a JSON object; the run's settings "
            "(hyperparameters, budget) are unknown"
        )
    config = config or {}
    src = meta or config
    rec = {
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
        "num_params": (meta or {}).get("num_params", np.nan),
        "wall_time_s": (meta or {}).get("wall_time_s", np.nan),
        "total_steps": config.get("total_steps", np.nan),
        "total_steps_done": (meta or {}).get("total_steps_done", np.nan),
        "versions": _versions_text((meta or {}).get("versions")),
        "git_sha": (meta or {}).get("git_sha", ""),
        "error": (meta or {}).get("error") or "",
        "iterations": 0,
    }
    if meta is None:
        warnings.append(f"{run_dir / 'meta.json'}: missing or unreadable; run skipped")
        return {**rec, "status": "corrupt"}, None
    status = meta.get("status")
    if status == "failed":
        return {**rec, "status": "failed"}, None
    if status != "complete":
        # "running" with no live writer = interrupted; a live run is not finished either.
        return {**rec, "status": "incomplete"}, None
    df, why = _read_metrics(run_dir / "metrics.parquet")
    if df is None:
        warnings.append(why)
        return {**rec, "status": "corrupt", "error": why}, None
    return {**rec, "status": "complete", "iterations": len(df)}, _clean_metrics(df)


def assign_groups(runs: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Group name per run: its label, or label#hash where one (study, label, env) mixes
    config hashes (seeds share a hash: it excludes the seed). Returns (groups, notes)."""
    groups = runs["label"].astype(str).copy()
    notes = []
    done = runs[runs["status"] == "complete"]
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


def load_runs(root: str | Path) -> RunSet:
    """Load every run directory under root. Never raises on a bad run: it is listed instead."""
    root = Path(root)
    warnings: list[str] = []
    records, frames = [], {}
    for run_dir in find_run_dirs(root):
        rec, df = _run_record(run_dir, warnings)
        records.append(rec)
        if df is not None:
            frames[rec["run_id"]] = df
    runs = pd.DataFrame(records, columns=None if records else ["run_id", "status"])
    if runs.empty:
        return RunSet(root, pd.DataFrame(columns=ID_COLUMNS + CORE_COLUMNS), runs, warnings)
    runs = runs.sort_values(["study", "env", "label", "seed", "run_id"], kind="stable")
    runs = runs.reset_index(drop=True)
    runs["group"], notes = assign_groups(runs)
    studies = sorted(runs.loc[runs["status"] == "complete", "study"].unique())
    if len(studies) > 1:
        names = ", ".join(s or "(no suite)" for s in studies)
        notes.insert(
            0,
            f"runs of {len(studies)} suites in one folder ({names}): "
            "each suite is analysed separately",
        )
    parts = []
    for rec in runs[runs["status"] == "complete"].itertuples(index=False):
        df = frames[rec.run_id]
        ids = pd.DataFrame({c: [getattr(rec, c)] * len(df) for c in ID_COLUMNS})
        parts.append(pd.concat([ids, df], axis=1))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=ID_COLUMNS + CORE_COLUMNS)
    )
    return RunSet(root, frame, runs, warnings, notes)


def run_frames(frame: pd.DataFrame):
    """Yield (run_id, per-run frame sorted by iteration)."""
    for run_id, df in frame.groupby("run_id", sort=True):
        yield run_id, df.sort_values("iteration", kind="stable")


def interpolate_curves(
    frame: pd.DataFrame, value: str = "return_mean", x: str = "step", num: int = 101
) -> pd.DataFrame:
    """Every run's curve on a common x grid per (study, env), for aggregate curves.

    The per-iteration value is forward-filled first (NaN = no episode ended that iteration,
    not zero), leading NaNs dropped, then linearly interpolated. The grid spans the smallest
    to the largest x of the env's runs; a run contributes NaN outside its own x range (no
    extrapolation), so a short run stops instead of being stretched.
    Returns columns study, env, group, run_id, seed, x, value (long form, num rows per run).
    """
    out = []
    for (study, env), env_df in frame.groupby(["study", "env"], sort=True):
        grid_X = np.linspace(env_df[x].min(), env_df[x].max(), num)
        for run_id, df in run_frames(env_df):
            xs, ys = df[x].to_numpy(float), df[value].ffill().to_numpy(float)
            ok = np.isfinite(xs) & np.isfinite(ys)
            vals_X = np.full(num, np.nan)
            if ok.any():
                inside = (grid_X >= xs[ok][0]) & (grid_X <= xs[ok][-1])
                vals_X[inside] = np.interp(grid_X[inside], xs[ok], ys[ok])
            out.append(
                pd.DataFrame(
                    {
                        "study": study,
                        "env": env,
                        "group": df["group"].iloc[0],
                        "run_id": run_id,
                        "seed": df["seed"].iloc[0],
                        "x": grid_X,
                        "value": vals_X,
                    }
                )
            )
    cols = ["study", "env", "group", "run_id", "seed", "x", "value"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def find_fisher_cost_csv(root: Path) -> Path | None:
    """The fisher-cost benchmark's CSV under root (fisher_cost*.csv / fisher-cost*.csv)."""
    hits = sorted(
        p for pattern in ("fisher_cost*.csv", "fisher-cost*.csv") for p in Path(root).rglob(pattern)
    )
    return hits[0] if hits else None


def _pick(columns, exact: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> str | None:
    for name in exact:
        if name in columns:
            return name
    return next((c for c in columns if c.startswith(prefixes)), None) if prefixes else None


def read_fisher_cost(path: Path) -> pd.DataFrame:
    """Fisher-cost CSV -> columns label, num_params, seconds, batch, source.

    harness/bench/fisher_cost.py writes method, n_params, hidden, batch, seconds_fit,
    seconds_solve, seconds_total (default path results/bench/fisher_cost.csv); seconds is its
    seconds_total (fit + solve). Other CSVs are matched by common names (a parameter count, a
    time in seconds or ms, a preconditioner/variant label). ValueError when none match."""
    df = pd.read_csv(path)
    cols = list(df.columns)
    params = _pick(cols, ("num_params", "params", "parameters", "n_params"))
    ms = next((c for c in cols if c == "ms" or c.endswith("_ms")), None)
    secs = _pick(
        [c for c in cols if c != ms],
        ("seconds_total", "seconds_per_update", "update_s", "seconds", "time_s", "total_s"),
        ("time", "seconds", "fit_solve"),
    )
    label = _pick(cols, ("preconditioner", "variant", "algo", "method", "fisher", "label", "name"))
    if params is None or (secs is None and ms is None):
        raise ValueError(f"{path}: no parameter-count or time column among {', '.join(cols)}")
    seconds = df[secs].astype(float) if secs is not None else df[ms].astype(float) / 1000.0
    return pd.DataFrame(
        {
            "label": df[label].astype(str) if label else "fisher-cost",
            "num_params": df[params].astype(float),
            "seconds": seconds,
            "batch": df["batch"].astype(float) if "batch" in cols else np.nan,
            "source": "fisher-cost benchmark",
        }
    )
