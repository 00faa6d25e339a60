"""`npgbench report` end to end on synthetic run directories, and its bad-input errors."""

from __future__ import annotations

import contextlib
import hashlib
import io
import textwrap

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import synthetic_results, write_run
from matplotlib import image
from npgbench.analysis.data.load import load_runs
from npgbench.analysis.report import tables
from npgbench.analysis.report.command import main
from npgbench.analysis.stats.summary import Options, SuiteInfo, summarise_runs

FAST = ["--reps", "200"]
FIGURES = [
    "learning_curves",
    "aggregate_iqm",
    "performance_profiles",
    "final_intervals",
    "return_vs_wallclock",
    "time_split",
    "update_cost",
]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """One report over 3 variants x 2 envs x 3 seeds (+ a failed run, a corrupt one and a
    fisher-cost CSV), built once for the module."""
    root = synthetic_results(tmp_path_factory.mktemp("runs") / "results")
    write_run(root, "ppo", "EnvA-v5", 9, [1.0], status="failed")
    bad = write_run(root, "ppo", "EnvA-v5", 8, [1.0, 2.0])
    (bad / "metrics.parquet").write_bytes(b"PAR1 truncated")
    pd.DataFrame(
        {"preconditioner": ["exact", "diag"], "num_params": [500, 5000], "seconds": [0.01, 0.002]}
    ).to_csv(root / "fisher_cost.csv", index=False)
    return root, bad


def build(root, out, capsys, *extra):
    code = main([str(root), "--out", str(out), *FAST, *extra])
    return code, capsys.readouterr()


@pytest.fixture(scope="module")
def built(synthetic, tmp_path_factory):
    """The synthetic report, built once: (out dir, exit code, stdout, stderr)."""
    out = tmp_path_factory.mktemp("report") / "rep"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([str(synthetic[0]), "--out", str(out), *FAST])
    return out, code, stdout.getvalue(), stderr.getvalue()


def test_report_files_tables_and_figures(synthetic, built):
    _, bad = synthetic
    out, code, stdout, stderr = built
    assert code == 0
    assert str(out / "report.md") in stdout and str(out / "figures") in stdout
    assert str(bad / "metrics.parquet") in stderr  # the corrupt run is named, then skipped
    for name in FIGURES:
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
        assert (out / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        pixels = image.imread(out / "figures" / f"{name}.png")
        assert pixels.std() > 0.01, f"{name}.png looks blank"
    rows = {
        name: len(pd.read_csv(out / "tables" / f"{name}.csv"))
        for name in [
            "convergence",
            "stability",
            "wall_clock",
            "aggregate",
            "improvement",
            "per_run",
            "excluded_runs",
        ]
    }
    assert rows == {
        "convergence": 6,
        "stability": 6,
        "wall_clock": 6,
        "aggregate": 3,
        "improvement": 3,
        "per_run": 18,
        "excluded_runs": 2,
    }
    assert len(pd.read_csv(out / "tables" / "runs.csv")) == 20  # every run dir, any status
    conv = pd.read_csv(out / "tables" / "convergence.csv")
    assert set(conv["group"]) == {"npg_cg", "ppo", "vanilla"} and (conv["seeds"] == 3).all()
    stab = pd.read_csv(out / "tables" / "stability.csv").set_index(["env", "group"])
    assert stab.loc[("EnvA-v5", "npg_cg"), "kl_violation_rate"] == pytest.approx(0.2)
    assert np.isnan(stab.loc[("EnvA-v5", "ppo"), "kl_violation_rate"])
    wall = pd.read_csv(out / "tables" / "wall_clock.csv").set_index(["env", "group"])
    assert wall.loc[("EnvA-v5", "npg_cg"), "time_update_other_median"] == pytest.approx(0.1)
    md = (out / "report.md").read_text()
    for heading in [
        "## Convergence",
        "## Stability",
        "## Wall-clock",
        "## Aggregate across envs",
        "## Probability of improvement",
        "## Excluded runs",
    ]:
        assert heading in md
    assert "](figures/learning_curves.png)" in md and "best return (max over training)" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert 'src="figures/' not in html  # self-contained


def test_same_input_same_output(synthetic, built, tmp_path, capsys):
    """Every file, figures in all three formats and LaTeX tables included, is byte-identical
    on rebuild (no dates in PNG, SVG or PDF metadata, seeded bootstraps)."""
    first = built[0]
    assert build(synthetic[0], tmp_path / "again", capsys)[0] == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".md", ".html", ".csv", ".tex", ".png", ".svg", ".pdf"}
    for rel in files:
        assert (first / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "results path not found"),
        ("empty", "no run directories"),
        ("failed_only", "no complete runs"),
        ("bad_suite", "cannot load suite"),
        ("bad_frac", "--final-frac must be in (0, 1]"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, setup, message):
    root = tmp_path / "results"
    extra = []
    if setup != "missing":
        root.mkdir()
    if setup == "failed_only":
        write_run(root, "ppo", "EnvA-v5", 0, [1.0], status="failed")
    if setup == "bad_suite":
        write_run(root, "ppo", "EnvA-v5", 0, [1.0, 2.0])
        extra = ["--suite", str(tmp_path / "nope.toml")]
    if setup == "bad_frac":
        write_run(root, "ppo", "EnvA-v5", 0, [1.0, 2.0])
        extra = ["--final-frac", "0"]
    code, io = build(root, tmp_path / "out", capsys, *extra)
    assert code == 2
    lines = io.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in io.err


SUITE_TOML = """
name = "tiny"
description = "a test suite"
envs = ["EnvA-v5", "EnvB-v5"]
algos = ["npg_cg", "ppo"]
steps = 20000
[thresholds]
"EnvA-v5" = 500.0
[score_ranges."EnvA-v5"]
min = 0.0
max = 1000.0
[[references]]
env = "EnvA-v5"
algo = "npg_cg"
value = 1000.0
std = 50.0
source = "Somebody et al."
protocol = "best"
env_version = "v3"
steps = 1000000
[[references]]
env = "EnvA-v5"
algo = "ppo"
value = 700.0
source = "Other et al."
protocol = "final"
env_version = "v4"
steps = 1000000
"""


def test_suite_references_thresholds_and_mixed_suites(tmp_path, capsys):
    root = tmp_path / "results"
    root.mkdir()
    suite_path = root / "suite.toml"  # the copy a sweep records beside its runs
    suite_path.write_text(textwrap.dedent(SUITE_TOML))
    sha = hashlib.sha256(suite_path.read_bytes()).hexdigest()
    synthetic_results(root, envs=("EnvA-v5",), seeds=(0, 1), suite="tiny", sha=sha)
    write_run(root, "ppo", "EnvA-v5", 0, [5.0, 6.0, 7.0], suite="other", config_hash="0000ffff")
    code, io = build(root, tmp_path / "rep", capsys)
    assert code == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "runs of 2 suites" in md and "## Suite: other" in md
    assert "suite 'other'" in io.err  # not loadable: said once, ranges come from the data
    prefix = next(p.name.split("__")[0] for p in (tmp_path / "rep" / "tables").glob("*tiny*"))
    refs = pd.read_csv(tmp_path / "rep" / "tables" / f"{prefix}__references.csv")
    assert list(refs["protocol"]) == ["best", "final"]
    assert list(refs["estimator"]) == ["max_of_mean", "final"]
    assert list(refs["our_column"]) == ["return_mean"] * 2  # no evaluations: training returns
    frame = load_runs(root).frame
    mine = frame[(frame["study"] == "tiny") & (frame["algo"] == "npg_cg")]
    best = mine.pivot_table(index="step", columns="run_id", values="return_mean").mean(axis=1).max()
    assert refs.loc[0, "ours"] == pytest.approx(best)  # the max of the seed-mean curve
    assert refs.loc[0, "ratio"] == pytest.approx(best / 1000.0)
    conv = pd.read_csv(tmp_path / "rep" / "tables" / f"{prefix}__convergence.csv")
    assert (conv["threshold"] == 500.0).all()
    assert "Somebody et al." in md and "max over time of the seed-mean training-episode" in md


def test_sensitivity_and_partial_variants(tmp_path):
    """Grid values from meta.json become a sensitivity table; a variant missing an env is
    left out of the across-env aggregates, and the table says so."""
    for delta, top in [(0.01, 100.0), (0.05, 300.0)]:
        for seed in (0, 1):
            for env in ("EnvA-v5", "EnvB-v5"):
                write_run(
                    tmp_path,
                    "npg_cg",
                    env,
                    seed,
                    [0.0, top / 2, top + seed],
                    suite="s",
                    label=f"npg_cg[kl={delta}]",
                    grid={"update.kl_delta": delta},
                )
    write_run(tmp_path, "ppo", "EnvA-v5", 0, [0.0, 50.0, 60.0], suite="s")
    rs = load_runs(tmp_path)
    opts = Options(reps=100)
    summary, ranges, _ = summarise_runs(rs.frame, SuiteInfo(), opts)
    sens = tables.sensitivity(summary, rs.runs).data
    assert list(sens["value"]) == ["0.01", "0.05"] * 2 and (sens["seeds"] == 2).all()
    assert sens["final_mean"].tolist() == [100.5, 300.5, 100.5, 300.5]
    agg = tables.aggregates(summary, ranges, opts)
    assert sorted(agg.data["group"]) == ["npg_cg[kl=0.01]", "npg_cg[kl=0.05]"]
    assert "left out: ppo" in agg.note


def test_degenerate_input_still_builds(tmp_path, capsys):
    """One seed per variant, and an env where no episode ever ended (all-NaN returns)."""
    root = tmp_path / "results"
    write_run(root, "ppo", "EnvA-v5", 0, [1.0, np.nan, 3.0])
    write_run(root, "trpo", "EnvA-v5", 0, [2.0, 2.0, 2.0])
    write_run(root, "ppo", "EnvB-v5", 0, [np.nan, np.nan])
    code, io = build(root, tmp_path / "rep", capsys)
    assert code == 0, io.err
    conv = pd.read_csv(tmp_path / "rep" / "tables" / "convergence.csv")
    assert len(conv) == 3 and conv["final_mean"].isna().sum() == 1
