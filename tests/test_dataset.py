"""The results dataset: only complete runs, only their four files, never overwritten."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile

import pandas as pd
import pytest
from npgbench.harness.tracking.dataset import MANIFEST_COLUMNS, RUN_FILES, add_runs


def _metrics(mark: bytes) -> bytes:
    """A readable one-row metrics.parquet told apart by `mark`."""
    return pd.DataFrame({"iteration": [0], "mark": [mark.decode()]}).to_parquet(index=False)


def _run_dir(root, run_id, status="complete", suite="s1", metrics=b"m1"):
    d = root / run_id
    d.mkdir(parents=True)
    meta = {
        "run_id": run_id,
        "algo": run_id.split("__")[0],
        "label": "lab",
        "env": "Hopper-v5",
        "seed": 0,
        "status": status,
        "suite": suite,
        "git_sha": "abc",
        "total_steps_done": 2048,
        "wall_time_s": 12.34,
    }
    (d / "meta.json").write_text(json.dumps(meta))
    (d / "config.json").write_text("{}")
    (d / "metrics.parquet").write_bytes(_metrics(metrics))
    with zipfile.ZipFile(d / "policy.pt", "w") as policy:  # torch.save's container
        policy.writestr("data.pkl", b"p")
    (d / ".lock").write_text("")
    (d / "wandb").mkdir()
    return d


def test_add_copies_complete_runs_and_writes_the_manifest(tmp_path):
    src = tmp_path / "sweep"
    _run_dir(src, "ppo__Hopper-v5__s0__aa")
    _run_dir(src, "trpo__Hopper-v5__s0__bb", status="failed")
    _run_dir(src, "npg_cg__Hopper-v5__s0__cc", suite=None)
    result = add_runs([src], tmp_path / "data")
    assert sorted(result.added) == ["npg_cg__Hopper-v5__s0__cc", "ppo__Hopper-v5__s0__aa"]
    assert result.not_complete == ["trpo__Hopper-v5__s0__bb"]
    copied = tmp_path / "data" / "s1" / "ppo__Hopper-v5__s0__aa"
    assert sorted(p.name for p in copied.iterdir()) == sorted(RUN_FILES)
    assert (tmp_path / "data" / "adhoc" / "npg_cg__Hopper-v5__s0__cc").is_dir()
    rows = list(csv.DictReader(open(tmp_path / "data" / "manifest.csv")))
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert [r["run_id"] for r in rows] == ["npg_cg__Hopper-v5__s0__cc", "ppo__Hopper-v5__s0__aa"]
    assert rows[1]["steps"] == "2048" and rows[1]["wall_time_s"] == "12.3"


def test_add_keeps_the_suite_file_each_run_was_swept_from(tmp_path):
    """The sweep's suite copy whose sha256 a run's meta.json records is kept once per version
    as <suite>/suite-<sha12>.toml; another version's file beside it is not taken."""
    import hashlib

    src = tmp_path / "sweep"
    run = _run_dir(src, "ppo__Hopper-v5__s0__aa")
    (src / "suite.toml").write_text("name = 's1'  # swept with this\n")
    (src / "suite-other.toml").write_text("name = 's1'  # another version\n")
    sha = hashlib.sha256((src / "suite.toml").read_bytes()).hexdigest()
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "suite_sha256": sha}))
    add_runs([src], tmp_path / "data")
    kept = sorted(p.name for p in (tmp_path / "data" / "s1").glob("suite*.toml"))
    assert kept == [f"suite-{sha[:12]}.toml"]
    assert (tmp_path / "data" / "s1" / kept[0]).read_bytes() == (src / "suite.toml").read_bytes()


def test_a_run_already_in_the_dataset_is_never_overwritten(tmp_path):
    _run_dir(tmp_path / "a", "ppo__Hopper-v5__s0__aa")
    add_runs([tmp_path / "a"], tmp_path / "data")
    _run_dir(tmp_path / "b", "ppo__Hopper-v5__s0__aa")  # same bytes: already present
    assert add_runs([tmp_path / "b"], tmp_path / "data").already == ["ppo__Hopper-v5__s0__aa"]
    _run_dir(tmp_path / "c", "ppo__Hopper-v5__s0__aa", metrics=b"other")
    result = add_runs([tmp_path / "c"], tmp_path / "data")
    assert result.conflicts == ["ppo__Hopper-v5__s0__aa"]
    kept = tmp_path / "data" / "s1" / "ppo__Hopper-v5__s0__aa" / "metrics.parquet"
    assert kept.read_bytes() == _metrics(b"m1")


@pytest.mark.parametrize("argv", [["add", "/nonexistent"], ["frobnicate"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, argv):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "npgbench.harness.cli",
            "dataset",
            *argv,
            "--into",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_the_results_page_is_rebuilt_byte_identically_from_the_dataset(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    docs = root / "docs"
    argv = ["report", "docs/data", "--out", str(tmp_path), "--name", "results"]
    argv += ["--preamble", "docs/preamble.md", "--bench", "docs/bench/update_cost.csv"]
    out = subprocess.run(  # the documented command, from the repository root (paths as typed)
        [sys.executable, "-m", "npgbench.harness.cli", *argv],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "results.md").read_bytes() == (docs / "results.md").read_bytes()
