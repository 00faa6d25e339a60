"""Loading run directories: statuses, corrupt files, grouping, the common step grid."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from analysis_fixtures import metrics_frame, write_run
from npgbench.analysis.data.load import interpolate_curves, load_runs, read_fisher_cost


def test_tidy_frame_and_runs_table(tmp_path):
    write_run(tmp_path / "sweep", "ppo", "EnvA-v5", 0, [1.0, 2.0, 3.0])
    write_run(tmp_path / "sweep", "ppo", "EnvA-v5", 1, [2.0, 3.0, 4.0])
    write_run(tmp_path / "deeper" / "x", "vanilla", "EnvA-v5", 0, [0.0, 0.0])
    rs = load_runs(tmp_path)
    assert len(rs.runs) == 3 and set(rs.runs["status"]) == {"complete"}
    assert len(rs.frame) == 8
    for col in [
        "run_id",
        "algo",
        "env",
        "seed",
        "config_hash",
        "iteration",
        "step",
        "wall_time",
        "return_mean",
        "kl_delta",
        "time_solve",
    ]:
        assert col in rs.frame.columns
    assert rs.frame["kl_delta"].isna().all()  # not logged by these variants: NaN, not 0
    assert rs.runs.loc[0, "versions"].startswith("gymnasium 1.4.0")
    assert not rs.warnings and not rs.notes


def test_failed_incomplete_and_corrupt_runs_are_listed_not_mixed(tmp_path):
    write_run(tmp_path, "ppo", "EnvA-v5", 0, [1.0, 2.0])
    write_run(tmp_path, "ppo", "EnvA-v5", 1, [1.0], status="failed")
    write_run(tmp_path, "ppo", "EnvA-v5", 2, [1.0], status="running")
    bad = write_run(tmp_path, "ppo", "EnvA-v5", 3, [1.0, 2.0])
    (bad / "metrics.parquet").write_bytes((bad / "metrics.parquet").read_bytes()[:40])
    no_metrics = write_run(tmp_path, "ppo", "EnvA-v5", 4, None)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "meta.json").write_text("{not json")
    rs = load_runs(tmp_path)
    status = dict(zip(rs.runs["seed"], rs.runs["status"], strict=True))
    assert status == {
        0: "complete",
        1: "failed",
        2: "incomplete",
        3: "corrupt",
        4: "corrupt",
        -1: "corrupt",
    }
    assert set(rs.frame["seed"]) == {0}
    assert any(str(bad / "metrics.parquet") in w for w in rs.warnings)
    assert any(str(no_metrics / "metrics.parquet") in w for w in rs.warnings)
    assert any("junk" in w for w in rs.warnings)


def test_mixed_config_hashes_and_suites_are_grouped_and_noted(tmp_path):
    write_run(tmp_path, "ppo", "EnvA-v5", 0, [1.0], config_hash="aaaaaaaa", suite="s1")
    write_run(tmp_path, "ppo", "EnvA-v5", 0, [2.0], config_hash="bbbbbbbb", suite="s1")
    write_run(
        tmp_path,
        "ppo",
        "EnvA-v5",
        0,
        [3.0],
        config_hash="cccccccc",
        suite="s2",
        label="ppo[clip=0.1]",
    )
    rs = load_runs(tmp_path)
    groups = set(rs.runs["group"])
    assert groups == {"ppo#aaaaaaaa", "ppo#bbbbbbbb", "ppo[clip=0.1]"}
    assert any("2 suites" in n for n in rs.notes)
    assert any("mixes 2 configs" in n for n in rs.notes)


def test_interpolation_to_a_common_grid_never_extrapolates(tmp_path):
    long = metrics_frame([0.0, np.nan, 20.0, 30.0], steps_per_update=100)
    short = metrics_frame([np.nan, 10.0], steps_per_update=100)
    write_run(tmp_path, "ppo", "EnvA-v5", 0, frame=long)
    write_run(tmp_path, "ppo", "EnvA-v5", 1, frame=short)
    curves = interpolate_curves(load_runs(tmp_path).frame, num=7)  # grid 100, 150, ..., 400
    a = curves[curves["seed"] == 0]["value"].to_numpy()
    # Forward fill (200 -> 0), then linear interpolation between logged points.
    np.testing.assert_allclose(a, [0, 0, 0, 10, 20, 25, 30])
    b = curves[curves["seed"] == 1]["value"].to_numpy()
    assert np.isnan(b[:2]).all()
    assert b[2] == 10.0 and np.isnan(b[3:]).all()


def test_fisher_cost_csv_columns_are_matched(tmp_path):
    path = tmp_path / "fisher_cost.csv"
    pd.DataFrame(
        {"preconditioner": ["exact", "kfac"], "num_params": [100, 1000], "total_ms": [5.0, 1.0]}
    ).to_csv(path, index=False)
    df = read_fisher_cost(path)
    assert list(df["seconds"]) == [0.005, 0.001] and list(df["label"]) == ["exact", "kfac"]


def test_analysis_never_imports_torch_or_gymnasium(tmp_path):
    # Import everything, load a shipped suite and run the CLI entry (its error path).
    code = (
        "import importlib, pkgutil, sys, npgbench.analysis as a;"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(a.__path__, 'npgbench.analysis.')];"
        "from npgbench.analysis.stats.summary import load_suite_info; load_suite_info('quickstart');"
        "from npgbench.analysis.report import command;"
        f"assert command.main([{str(tmp_path)!r}]) == 2;"
        "bad = [m for m in ('torch', 'gymnasium') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True)
