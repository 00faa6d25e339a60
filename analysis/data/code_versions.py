"""Which code made each run, for the report: the short key of a run's recorded fingerprint
(up to harness/core/source_ledger.py's declared result-equivalent refactors) and the note
on a study whose variant mixes runs of different code."""

from __future__ import annotations

import pandas as pd
from npgbench.harness.core.run_files import RunStatus
from npgbench.harness.core.source_ledger import resolve


def versions_text(versions: dict | None) -> str:
    if not isinstance(versions, dict):
        return ""
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))


def code_key(code) -> str:
    """A short name of a run's code fingerprint (meta.json "code"): its variant source hash
    after source_ledger's declared result-equivalent refactors, plus the plugin's version for
    a plugin; "" when none is recorded."""
    if not isinstance(code, dict) or not code.get("variant_source_sha256"):
        return ""
    plugin = (
        f" {code['plugin_dist']} {code.get('plugin_version', '')}"
        if code.get("plugin_dist")
        else ""
    )
    return f"{resolve(str(code['variant_source_sha256']))[:12]}{plugin}"


def mixed_code_notes(runs: pd.DataFrame) -> list[str]:
    """One note per variant of a study whose complete runs were made by different code
    (different recorded fingerprints; runs that record none are not counted)."""
    notes = []
    done = runs[(runs["status"] == RunStatus.COMPLETE) & (runs["code"] != "")]
    for (study, label), sub in done.groupby(["study", "label"], sort=True):
        codes = sorted(sub["code"].unique())
        if len(codes) > 1:
            where = f" in suite {study}" if study else ""
            notes.append(
                f"{label}{where} mixes runs of {len(codes)} code versions ({', '.join(codes)}: "
                'meta.json "code"); its rows in every table combine them'
            )
    return notes
