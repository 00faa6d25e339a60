"""examples/npg_single_file.py, the ~120-line reading copy of npg_cg, is npg_cg: on the stored
reference run (tests/data/reference_runs.json) every column it writes has npg_cg's values."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

from reference_runs import OVERRIDES, REFERENCE, SEED, STEPS, cpu_model

EXAMPLE = Path(__file__).parents[1] / "examples" / "npg_single_file.py"
COLUMNS = {
    "iteration", "step", "episodes", "return_mean", "return_std", "grad_norm", "cg_residual",
    "cg_iterations", "g_dot_x", "x_fisher_x", "beta", "predicted_kl", "kl", "entropy",
    "value_loss", "explained_variance",
}  # fmt: skip


def load_example():
    spec = importlib.util.spec_from_file_location("npg_single_file", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_single_file_example_reproduces_npg_cg_on_the_reference_run():
    from npgbench.harness.runner import resolve_config

    stored = json.loads(REFERENCE.read_text())
    want = stored["runs"]["npg_cg"]["metrics"]
    cfg = resolve_config("npg_cg", "Hopper-v5", SEED, STEPS, OVERRIDES)
    rows = load_example().train(cfg)
    # The value fit's row always carries its skip flag; the run directory drops the two
    # columns when no fit was undone (metric_rows.unheld_columns), as in this run.
    unheld = {"value_skipped", "value_skip_reason"}
    assert set(rows[0]) - unheld == COLUMNS
    assert not any(row["value_skipped"] for row in rows)
    exact = cpu_model() == stored["cpu"]  # other CPUs: last-bit kernel differences only
    for column in sorted(COLUMNS):
        got = [row[column] for row in rows]
        if exact:
            assert got == want[column], column
        else:
            assert all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want[column]))
