"""Same seed, same numbers, across refactors: the stored reference runs still come out.

Run ids must match exactly everywhere (they name the dataset's runs). Metrics must be
bit-identical on the CPU model that recorded them; elsewhere float kernels (MKL/oneDNN
paths chosen per CPU) may differ in the last bits, so only a 1e-6 relative tolerance holds.
"""

from __future__ import annotations

import json
import math

import pytest
from reference_runs import REFERENCE, VARIANTS, cpu_model, dataset_run_ids, run_reference

STORED = json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("algo", VARIANTS)
def test_same_seed_reproduces_the_stored_reference(tmp_path, algo):
    stored = STORED["runs"][algo]
    rid, metrics = run_reference(algo, tmp_path)
    assert rid == stored["run_id"], "a config change renamed existing runs"
    assert sorted(metrics) == sorted(stored["metrics"])
    exact = cpu_model() == STORED["cpu"]
    for column, want in stored["metrics"].items():
        got = metrics[column]
        if exact:
            assert got == want, f"{algo}: column {column} changed"
        else:
            for g, w in zip(got, want, strict=True):
                if isinstance(w, float) and not (w is None or g is None):
                    assert math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-9), f"{algo}: {column}"
                else:
                    assert g == w, f"{algo}: column {column} changed"


def test_the_benchmark_datasets_run_ids_are_unchanged():
    assert dataset_run_ids() == STORED["dataset_run_ids"]
