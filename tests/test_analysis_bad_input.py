"""`npgbench report` on bad input and hostile labels: one line, exit 2, nothing written;
warnings only when a report is written; labels never run as mathtext or HTML. In process
(cli.main, tests/cli_inprocess.py): the exit code, output and files are the script's."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import write_run
from cli_inprocess import npgbench as npgbench_inprocess
from matplotlib import image


@pytest.fixture
def npgbench(capsys):
    """`npgbench report *args` in process."""
    return lambda *args: npgbench_inprocess(capsys, "report", *args)


def refused(result, out, *words) -> None:
    """Exit 2, exactly one stderr line naming `words`, no traceback, `out` not created."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert not out.exists()


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for seed in (0, 1):
        write_run(root, "ppo", "EnvA-v5", seed, [1.0, 2.0, 3.0])
    return root


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seed", "-1"], ["--seed must be an integer >= 0", "-1"]),
        (["--name", "../../x"], ["--name must be a plain file name", "../../x"]),
        (["--name", "sub/x"], ["--name must be a plain file name"]),
        (["--reps", "0"], ["--reps"]),
        (["--figures", "nope"], ["'nope'", "valid: learning_curves"]),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(npgbench, runs, tmp_path, args, words):
    out = tmp_path / "out"
    refused(npgbench(runs, "--out", out, *args), out, *words)
    assert not (tmp_path.parent / "x.md").exists()


def test_two_copies_of_one_run_id_are_refused(npgbench, runs, tmp_path):
    (original,) = [p for p in runs.iterdir() if "__s0__" in p.name]
    shutil.copytree(original, tmp_path / "runs" / "backup" / original.name)
    out = tmp_path / "out"
    refused(npgbench(runs, "--out", out), out, original.name, "2 directories", "one copy")


def test_warnings_are_not_printed_before_an_error(npgbench, tmp_path):
    root = tmp_path / "runs"
    bad = write_run(root, "ppo", "EnvA-v5", 0, [1.0, 2.0])
    (bad / "metrics.parquet").write_bytes(b"PAR1 garbage")  # a warning, and no complete run
    out = tmp_path / "out"
    refused(npgbench(root, "--out", out), out, "no complete runs")


def test_an_invalid_config_json_is_warned_about(npgbench, runs, tmp_path):
    (broken,) = [p for p in runs.iterdir() if "__s1__" in p.name]
    (broken / "config.json").write_text("[1, 2")
    result = npgbench(runs, "--out", tmp_path / "out", "--reps", "50")
    assert result.returncode == 0, result.stderr
    assert f"warning: {broken / 'config.json'}: unreadable" in result.stderr


def test_out_that_is_a_file_is_one_line(npgbench, runs, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    result = npgbench(runs, "--out", out, "--reps", "50")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot write the report" in result.stderr and out.read_text() == "x"


HOSTILE = [r"$\foo{$", "<script>alert(1)</script>", "a|b_c&d%"]


def test_hostile_labels_are_shown_literally(npgbench, tmp_path):
    root = tmp_path / "runs"
    for env in ("EnvA-v5", "EnvB-v5"):
        for i, label in enumerate(HOSTILE):
            for seed in (0, 1):
                write_run(
                    root,
                    "ppo",
                    env,
                    seed,
                    np.linspace(0, 10 * (i + 1), 6),
                    suite="s",
                    label=label,
                    config_hash=f"{i:08d}",
                )
    out = tmp_path / "out"
    result = npgbench(root, "--out", out, "--reps", "50")
    assert result.returncode == 0, result.stderr  # mathtext would raise on r"$\foo{$"
    assert "Traceback" not in result.stderr
    assert image.imread(out / "figures" / "learning_curves.png").std() > 0.01
    md = (out / "report.md").read_text()
    assert "<script>" not in md and "&lt;script>alert(1)&lt;/script>" in md
    assert "a\\|b_c&d%" in md  # the table cell: '|' escaped, the rest as written
    html = (out / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    tex = (out / "tables" / "convergence.tex").read_text()
    assert r"\$\textbackslash{}foo\{\$" in tex and r"a\textbar{}b\_c\&d\%" in tex
    groups = set(pd.read_csv(out / "tables" / "convergence.csv")["group"])
    assert groups == set(HOSTILE)
