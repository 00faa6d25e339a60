"""Which suite describes a study's runs: a shipped suite by name, else the copy a sweep
recorded beside its runs (harness/sweep/execute.py writes <out>/suite.toml, or suite-<sha>.toml,
and the file's sha256 into every run's meta.json as `suite_sha256`).

meta.json's `suite` field is only ever compared with the shipped names, never opened as a
path (a results folder from elsewhere must not make the report read arbitrary files), and a
shipped name is read from the package's own folder, so a same-named file in the working
directory cannot stand in for it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
from npgbench.analysis.stats.summary import SuiteInfo, suite_info
from npgbench.harness.core.run_files import RunStatus
from npgbench.suites import file_sha256, find_copy, same_settings


def load_file(path: Path) -> SuiteInfo:
    """A suite file (no registry check, so no torch import); ValueError when invalid."""
    from npgbench.suites import load_suite

    return suite_info(load_suite(path))


def recorded_copy(runs: pd.DataFrame, sha: str) -> Path | None:
    """The suite*.toml beside these runs (in a run directory's parent) whose sha256 is sha."""
    for folder in sorted({Path(p).parent for p in runs["path"]}):
        copy = find_copy(folder, sha)
        if copy is not None:
            return copy
    return None


def study_suite(name: str, runs: pd.DataFrame, warn) -> tuple[SuiteInfo, str]:
    """(suite, where it came from) for the runs of study `name` (meta.json's suite field).

    Shipped name: the shipped file. Otherwise the recorded copy matching the runs' sha256;
    without one, an empty SuiteInfo (ranges and thresholds then come from the data), warned.
    """
    from npgbench.suites import SUITE_DIR, SUITES

    if not name:
        return SuiteInfo(), ""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    shas = Counter(s for s in done.get("suite_sha256", pd.Series(dtype=str)) if s)
    if name in SUITES:
        path = SUITE_DIR / f"{name}.toml"
        shipped_sha = file_sha256(path)
        if not all(sha == shipped_sha or _same_as(path, sha, done) for sha in shas):
            warn(
                f"suite {name!r}: its runs were swept from another version of the shipped "
                "file (suite_sha256 differs); the shipped one is used"
            )
        return _named(load_file(path), name), f"shipped suite {name}"
    if len(shas) > 1:
        warn(f"suite {name!r}: runs record {len(shas)} different suite files; the commonest used")
    for sha, _ in shas.most_common():
        copy = recorded_copy(done, sha)
        if copy is not None:
            try:
                return _named(load_file(copy), name), f"recorded copy {copy}"
            except (ValueError, OSError) as exc:
                warn(f"suite {name!r}: recorded copy {copy} not loadable ({exc})")
                break
    else:
        why = (
            "no recorded copy (suite_sha256 in meta.json)" if not shas else "recorded copy missing"
        )
        warn(f"suite {name!r} is not a shipped suite and {why}; using observed ranges")
    return SuiteInfo(name=name), ""


def _same_as(shipped: Path, sha: str, runs: pd.DataFrame) -> bool:
    """Whether runs swept from another file (sha256 `sha`) used the shipped file's settings:
    a recorded copy beside them that differs from it only in comments/layout."""
    copy = recorded_copy(runs, sha)
    return copy is not None and same_settings(copy, shipped)


def _named(info: SuiteInfo, name: str) -> SuiteInfo:
    """The study keeps meta.json's name (a copy's file stem, "suite", is not its name)."""
    return SuiteInfo(name, info.description, info.thresholds, info.score_ranges, info.references)
