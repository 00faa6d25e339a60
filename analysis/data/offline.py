"""The offline measurements kept beside the runs: CSVs that `npgbench bench invariance` and
`npgbench bench fidelity` write (harness/bench/invariance.py, harness/bench/fidelity.py),
found under a results folder by their file names and read into typed frames.

Two kinds, both deterministic or descriptive (docs/analysis-plan.md: the one-step invariance
test is judged against its stated tolerance, with no p-value; the fidelity measures are
described):

- one-step invariance: each `*_verdicts.csv` (direction, family, predicted, measured, match,
  damping, ratio, ratio_max_damping, slope_delta, slope_damping), with the damping range read
  from its rows file (the same name without `_verdicts`: one row per family, direction,
  kl_delta and damping);
- fidelity: each `fidelity.csv` (one row per policy, batch seed and direction).

A file that lacks a needed column is skipped with a warning, as the fisher-cost CSV is: the
run directories stay the source of truth, and these tables are extras beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from npgbench.harness.core.run_files import set_aside

VERDICT_COLUMNS = (
    "direction", "family", "predicted", "measured", "match", "damping", "ratio",
    "ratio_max_damping", "slope_delta", "slope_damping",
)  # fmt: skip
FIDELITY_COLUMNS = (
    "source", "policy", "env", "algo", "batch_seed", "n_params", "direction", "cosine_ref0.01",
    "cosine_ref0.1", "cosine_own", "kl_ratio_ref0.01", "kl_delta", "gain_fit",
    "gain_heldout", "gain_fresh", "kl_heldout", "kl_fresh",
)  # fmt: skip


@dataclass
class OfflineData:
    """What a results folder holds besides its runs (None: no such file found)."""

    one_step: pd.DataFrame | None = None
    """VERDICT_COLUMNS plus `file` (folder/stem of the verdict file), `damping_lo`, `damping_hi` and
    `kl_delta_lo`, `kl_delta_hi` (the grid of its rows file; NaN when that file is absent)."""
    fidelity: pd.DataFrame | None = None
    """FIDELITY_COLUMNS (and the rest of fidelity.csv), plus `file` (its folder's name:
    measurements of different folders are never pooled)."""
    warnings: list[str] = field(default_factory=list)


def _read(path: Path, needed: tuple[str, ...], warnings: list[str]) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        warnings.append(f"{path}: unreadable ({exc}); skipped")
        return None
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        warnings.append(f"{path}: no column {', '.join(missing)}; skipped")
        return None
    if frame.empty:
        warnings.append(f"{path}: no rows; skipped")
        return None
    return frame


def _grid(rows_file: Path, warnings: list[str]) -> dict[str, float]:
    """The damping and kl_delta ranges of a verdict file's rows (NaN when it is absent)."""
    nan = float("nan")
    rows = _read(rows_file, ("damping", "kl_delta"), warnings) if rows_file.exists() else None
    if rows is None:
        return dict(damping_lo=nan, damping_hi=nan, kl_delta_lo=nan, kl_delta_hi=nan)
    return dict(
        damping_lo=float(rows["damping"].min()),
        damping_hi=float(rows["damping"].max()),
        kl_delta_lo=float(rows["kl_delta"].min()),
        kl_delta_hi=float(rows["kl_delta"].max()),
    )


def read_one_step(paths: list[Path], warnings: list[str]) -> pd.DataFrame | None:
    """Every verdict file, in the order given, as one frame (None when none is usable)."""
    parts = []
    for path in paths:
        frame = _read(path, VERDICT_COLUMNS, warnings)
        if frame is None:
            continue
        rows_file = path.with_name(path.name.replace("_verdicts", ""))
        name = f"{path.parent.name}/{path.stem.replace('_verdicts', '')}"
        frame = frame.assign(file=name, **_grid(rows_file, warnings))
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else None


def read_fidelity(paths: list[Path], warnings: list[str]) -> pd.DataFrame | None:
    parts = []
    for path in paths:
        frame = _read(path, FIDELITY_COLUMNS, warnings)
        if frame is not None:
            parts.append(frame.assign(file=str(path.parent.name)))
    return pd.concat(parts, ignore_index=True) if parts else None


def _found(root: Path, pattern: str) -> list[Path]:
    """Files under root matching pattern, outside folders set aside (.corrupt, superseded)."""
    hits = (p for p in root.rglob(pattern) if not set_aside(p.relative_to(root).parts[:-1]))
    return sorted(hits)


def find_offline(root: Path) -> OfflineData:
    """The offline CSVs under root: invariance `*_verdicts.csv` (in each folder the main
    file, `invariance_verdicts.csv`, first) and `fidelity.csv`, searched recursively."""
    root = Path(root)
    main_first = lambda p: (str(p.parent), p.name != "invariance_verdicts.csv", p.name)  # noqa: E731
    data = OfflineData()
    data.one_step = read_one_step(sorted(_found(root, "*_verdicts.csv"), key=main_first), data.warnings)  # fmt: skip
    data.fidelity = read_fidelity(_found(root, "fidelity.csv"), data.warnings)
    return data
