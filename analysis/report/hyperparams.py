"""The hyperparameter table: the resolved config of each variant, side by side, with the
settings that differ between variants highlighted (and listed first).

A variant's settings are its runs' config.json flattened to dotted keys (variants.run_settings);
the identity of a run (run_id, config_hash, seed, env) and the W&B settings (tracking, not
learning) are left out. Where one variant's runs disagree on a key (an env override, or a
grid), the cell lists every value: "a / b".
"""

from __future__ import annotations

import pandas as pd
from npgbench.analysis.data import variants
from npgbench.analysis.data.table import Table
from npgbench.harness.core.run_files import RunStatus

IDENTITY = frozenset({"run_id", "config_hash", "seed", "env"})
TRACKING = ("wandb.",)
MISSING = "–"
"""Cell of a key the variant's config does not have (another algorithm's setting)."""


def variant_settings(runs: pd.DataFrame) -> dict[str, dict[str, str]]:
    """{group: {dotted key: "value" or "a / b"}} over the group's complete runs."""
    done = runs[runs["status"] == RunStatus.COMPLETE]
    settings = variants.run_settings(done)
    values: dict[str, dict[str, set]] = {}
    for rid, group in zip(done["run_id"], done["group"]):
        mine = values.setdefault(group, {})
        for key, value in settings[rid].items():
            if key in IDENTITY or key.startswith(TRACKING):
                continue
            mine.setdefault(key, set()).add(variants.value_text(value))
    return {
        group: {k: " / ".join(sorted(v, key=variants.sort_key)) for k, v in keys.items()}
        for group, keys in sorted(values.items())
    }


def hyperparameters(runs: pd.DataFrame) -> Table | None:
    """Rows = settings (differing ones first), columns = variants; None without configs."""
    cells = variant_settings(runs)
    groups = list(cells)
    keys = sorted({k for mine in cells.values() for k in mine})
    if not keys:
        return None
    rows = [{"setting": k, **{g: cells[g].get(k, MISSING) for g in groups}} for k in keys]
    table = pd.DataFrame(rows, columns=["setting", *groups])
    differs = (
        table[groups].nunique(axis=1) > 1 if len(groups) > 1 else pd.Series(False, table.index)
    )
    order = sorted(range(len(table)), key=lambda i: (not differs.iloc[i], keys[i]))
    table, differs = table.iloc[order].reset_index(drop=True), differs.iloc[order].to_numpy()
    highlight = pd.DataFrame(False, index=table.index, columns=table.columns)
    highlight.loc[differs, groups] = True
    note = (
        "Resolved config.json of each variant (identity and W&B settings left out). Bold: "
        f"settings that differ between variants ({int(differs.sum())} of {len(keys)}), listed "
        f"first. a / b: the variant's runs differ (env overrides or a grid). {MISSING}: not a "
        "setting of that variant."
    )
    data = table.assign(differs=differs)
    return Table("hyperparameters", "Hyperparameters", data, table, note, highlight)
