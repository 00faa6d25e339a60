"""Operating-system errors are one line and a documented exit code, never a traceback: names
too long, a file or folder where the other is expected, unwritable targets, bytes that are not
UTF-8, hand-edited meta.json fields, and a disk that fills up before or during a run (which
leaves the run resumable, never "complete")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from analysis_fixtures import write_run
from npgbench.analysis.report.command import main as report_main
from npgbench.harness import cli
from npgbench.harness.core.identity import run_id
from npgbench.harness.runner import train
from npgbench.harness.sweep.command import main as sweep_main
from npgbench.harness.tracking.dataset import main as dataset_main
from reliability_fixtures import meta, run_argv, tiny_config

LONG = "x" * 300  # one path component past NAME_MAX (255)


def one_line(capsys, *expected: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    return err


def test_a_name_too_long_in_out_or_suite(tmp_path, capsys):
    assert cli.main(run_argv(tmp_path / LONG)) == 2
    one_line(capsys, "File name too long")
    assert sweep_main(["--suite", str(tmp_path / f"{LONG}.toml"), "--dry-run"]) == 2
    one_line(capsys, "error: ")


def test_dataset_into_a_file_or_an_unwritable_folder(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "file").write_text("x")
    assert dataset_main(["add", str(tmp_path / "src"), "--into", str(tmp_path / "file")]) == 2
    one_line(capsys, "is a file, not a directory")
    assert dataset_main(["add", str(tmp_path / "src"), "--into", "/proc/1/data"]) == 2
    one_line(capsys, "not writable")
    assert dataset_main(["manifest", "--into", str(tmp_path / "file")]) == 2
    one_line(capsys, "error: ")


def test_bytes_that_are_not_utf8(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_bytes(b'name = "s"\nenvs = ["\xff\xfe"]\n')
    assert sweep_main(["--suite", str(suite), "--dry-run"]) == 2
    one_line(capsys, "error: ")
    write_run(tmp_path / "runs", "vanilla", "EnvA-v5", 0, [1.0, 2.0])
    (tmp_path / "pre.md").write_bytes(b"# \xff\xfe\n")
    assert report_main([str(tmp_path / "runs"), "--preamble", str(tmp_path / "pre.md")]) == 2
    one_line(capsys, "cannot read --preamble", "not UTF-8")


def _interrupted(out: Path) -> Path:
    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), out, progress=False, on_row=stop)
    return out / run_id(tiny_config())


@pytest.mark.parametrize("name", ["metrics.parquet", "meta.json", "config.json"])
def test_a_run_file_replaced_by_a_folder(tmp_path, capsys, name):
    run_dir = _interrupted(tmp_path)
    (run_dir / name).unlink()
    (run_dir / name).mkdir()
    assert cli.main(run_argv(tmp_path)) == 1
    one_line(capsys, "run failed: Is a directory", name)


def test_a_run_directory_that_is_a_file(tmp_path, capsys):
    (tmp_path / run_id(tiny_config())).write_text("not a folder")
    assert cli.main(run_argv(tmp_path)) == 2
    one_line(capsys, "run directory is not a directory")


def test_report_survives_wrong_typed_meta_fields_and_string_returns(tmp_path, capsys):
    bad = {"wall_time_s": "slow", "num_params": [1], "total_steps_done": "x", "versions": ["v"]}
    write_run(tmp_path, "vanilla", "EnvA-v5", 0, [1.0, 2.0, 3.0], meta_extra=bad)
    frame_run = write_run(tmp_path, "ppo", "EnvA-v5", 0, [1.0, 2.0, 3.0])
    frame = pd.read_parquet(frame_run / "metrics.parquet")
    frame["return_mean"] = frame["return_mean"].astype(str)
    frame.to_parquet(frame_run / "metrics.parquet", index=False)
    assert report_main([str(tmp_path), "--reps", "100"]) == 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 48 KiB tmpfs (root and a kernel that lets this container mount one), else skip."""
    where = tmp_path / "full"
    where.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command: cannot make a small filesystem to fill")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(where)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()[:100]}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_during_a_run_leaves_it_resumable_not_complete(small_tmpfs, capsys):
    argv = run_argv(small_tmpfs / "out", 0, 8, "--set=checkpoint.every=1")
    assert cli.main(argv) == 1
    one_line(capsys, "run failed: No space left on device")
    run_dir = small_tmpfs / "out" / run_id(tiny_config(updates=8))
    if (run_dir / "meta.json").is_file():
        assert meta(run_dir)["status"] != "complete"
    assert not (run_dir / "policy.pt").exists()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    assert cli.main(argv) == 0  # the same command, once there is room, finishes the run
    assert meta(run_dir)["status"] == "complete"


def test_disk_full_before_a_run(small_tmpfs, capsys):
    filler = small_tmpfs / "filler"
    with open(filler, "wb", buffering=0) as fh:  # fill it up to the last block
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass
    code = cli.main(run_argv(small_tmpfs / "out"))
    assert code in (1, 2)
    one_line(capsys, "No space left on device")
    run_dir = small_tmpfs / "out" / run_id(tiny_config())
    assert not (run_dir / "meta.json").is_file() or meta(run_dir)["status"] != "complete"


def test_a_suite_file_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "s.toml").mkdir()
    assert sweep_main(["--suite", str(tmp_path / "s.toml"), "--dry-run"]) == 2
    one_line(capsys, "error: ")
