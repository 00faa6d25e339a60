"""`npgbench report` on degenerate but valid runs: a run of one update, and one real run end to
end (run, then report) as a new user would try it."""

from __future__ import annotations

from analysis_fixtures import write_run
from npgbench.analysis.data.curves import interpolate_curves
from npgbench.analysis.data.load import load_runs
from npgbench.analysis.report.command import main as report_main
from npgbench.harness import cli


def test_curves_of_one_update_runs_have_one_point_each(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path, "vanilla", "EnvA-v5", seed, [10.0 + seed])
    curves = interpolate_curves(load_runs(tmp_path).frame)
    assert len(curves) == 2  # one x value: one grid point per run, not 101 equal ones
    assert sorted(curves["value"]) == [10.0, 11.0]
    assert not curves.duplicated(["run_id", "x"]).any()


def test_report_of_a_one_update_run_builds(tmp_path, capsys, tiny_overrides):
    overrides = [f"--set={k}={v}" for k, v in tiny_overrides.items()]
    out = tmp_path / "r1"
    argv = ["run", "--algo", "vanilla", "--env", "InvertedPendulum-v5", "--steps", "256"]
    assert cli.main([*argv, *overrides, "--out", str(out), "--quiet"]) == 0
    code = report_main([str(out), "--reps", "100"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    assert (out / "report" / "report.md").is_file()
