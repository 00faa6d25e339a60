"""npgbench.analysis.api, the notebook API: numbers equal the report pipeline's closed forms, plots
draw into the caller's Axes (keyword-only ax) and return it, importing it changes no global
state, and the README's notebook example runs as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analysis_fixtures import learning, write_run
from npgbench.analysis import api
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
ENVS = ("InvertedPendulum-v5", "Hopper-v5")
LEVELS = {"trpo": 900.0, "ppo": 700.0, "vanilla": 300.0}


def quickstart_like(root: Path) -> Path:
    """trpo, ppo, vanilla x the quickstart envs x 3 seeds, recorded as quickstart runs."""
    for e, env in enumerate(ENVS):
        for algo, top in LEVELS.items():
            for seed in range(3):
                returns = learning(20, 10.0, top * (1 + e) * (0.8 + 0.15 * seed), seed + 7 * e)
                write_run(root, algo, env, seed, returns, suite="quickstart")
    return root


def constant_runs(root: Path) -> dict[tuple, float]:
    """Runs whose return is one constant, so every final return (and score) is known."""
    finals = {}
    for env in ("EnvA-v5", "EnvB-v5"):
        for g, algo in enumerate(("npg_cg", "ppo")):
            for seed in range(4):
                finals[(env, algo, seed)] = value = 100.0 * (1 + g) + 10.0 * seed
                write_run(root, algo, env, seed, np.full(10, value), suite="toy")
    return finals


def test_scores_and_aggregates_equal_their_closed_forms(tmp_path):
    finals = constant_runs(tmp_path)
    scores = api.scores(api.load(tmp_path))
    assert len(scores) == 16 and set(scores["range_source"]) == {"observed min/max"}
    lo, hi = min(finals.values()), max(finals.values())  # observed range: same in both envs
    want = {k: (v - lo) / (hi - lo) for k, v in finals.items()}
    got = {(r.env, r.group, r.seed): r.score for r in scores.itertuples()}
    assert got == pytest.approx(want)
    est = api.aggregate(scores, reps=200).set_index(["group", "metric"])
    assert set(est.index.get_level_values("metric")) == set(api.AGGREGATES)
    for group in ("npg_cg", "ppo"):
        mine = [v for (_, g, _), v in want.items() if g == group]
        row = est.loc[(group, "IQM")]
        assert row.point == pytest.approx(stats.trim_mean(mine, 0.25))
        assert row.lo <= row.point <= row.hi and (row.runs, row.envs) == (8, 2)
        assert est.loc[(group, "mean")].point == pytest.approx(np.mean(mine))


def test_the_study_suite_gives_the_score_ranges(tmp_path):
    scores = api.scores(api.load(quickstart_like(tmp_path)))
    assert set(scores["range_source"]) == {"suite"}
    hopper = scores[scores["env"] == "Hopper-v5"].iloc[0]
    assert (hopper.score_lo, hopper.score_hi) == (31.09, 2609.3)  # suites/quickstart.toml


def test_plots_draw_into_the_given_ax_which_is_keyword_only(tmp_path):
    import matplotlib.pyplot as plt

    runs = api.load(quickstart_like(tmp_path))
    curves, scores = api.curves(runs), api.scores(runs)
    fig, axes = plt.subplots(1, 3)
    assert api.plot_curves(curves, "Hopper-v5", ax=axes[0]) is axes[0]
    labels = [line.get_label().split(" (n=")[0] for line in axes[0].lines]
    assert labels == sorted(LEVELS)  # legend labels carry the seed count: "ppo (n=3)"
    assert api.plot_intervals(api.aggregate(scores, reps=100), ax=axes[1]) is axes[1]
    assert len(axes[1].patches) == 3
    assert api.plot_profiles(scores, ax=axes[2], reps=50) is axes[2]
    with pytest.raises(TypeError):
        api.plot_curves(curves, "Hopper-v5", axes[0])  # ax is keyword-only
    plt.close(fig)


def run_python(code: str, cwd: Path, backend: str = "Agg") -> dict:
    """Run code in a fresh interpreter (nothing imported yet); its last stdout line is JSON."""
    env = {"PATH": "/usr/bin:/bin", "MPLBACKEND": backend, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_api_changes_no_backend_and_loads_no_torch(tmp_path):
    quickstart_like(tmp_path)
    probe = """
import json, sys, matplotlib
matplotlib.use("svg")
from npgbench.analysis import api
after_import = (matplotlib.get_backend(), "torch" in sys.modules, "gymnasium" in sys.modules,
                "matplotlib.pyplot" in sys.modules)
runs = api.load(".")
api.plot_curves(api.curves(runs), "Hopper-v5")
print(json.dumps({"import": after_import, "after_plot": matplotlib.get_backend(),
                  "torch": "torch" in sys.modules}))
"""
    out = run_python(probe, tmp_path, backend="")
    assert out["import"] == ["svg", False, False, False]
    assert out["after_plot"] == "svg" and out["torch"] is False


def readme_notebook_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("### In a notebook", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_notebook_example_runs_as_written(tmp_path):
    snippet = readme_notebook_snippet()
    assert len([line for line in snippet.splitlines() if line.strip()]) <= 10  # ten lines
    quickstart_like(tmp_path / "results" / "quickstart")
    probe = """
import json
from matplotlib.colors import to_hex
print(json.dumps({
    "lines": {l.get_label().split(" (n=")[0]: to_hex(l.get_color()) for l in left.lines},
    "bars": [to_hex(p.get_facecolor()[:3]) for p in right.patches],
    "ticks": [t.get_text().split(" (n=")[0] for t in right.get_yticklabels()],
    "face": to_hex(left.get_facecolor()),
    "xlabel": right.get_xlabel(),
}))
"""
    out = run_python(snippet + probe, tmp_path)
    assert sorted(out["lines"]) == sorted(LEVELS) and out["lines"]["trpo"] == "#000000"
    assert out["ticks"] == sorted(LEVELS)  # ppo, trpo, vanilla: the same colours as the lines
    assert out["bars"] == [out["lines"][g] for g in sorted(LEVELS)]
    assert out["lines"]["ppo"] == "#d62728"  # tab:red
    assert out["face"] == "#e5e5e5"  # the user's style (ggplot) is what the figure shows
    assert out["xlabel"] == "IQM of normalised final return"
    pdf = tmp_path / "quickstart.pdf"
    assert pdf.is_file() and pdf.read_bytes()[:4] == b"%PDF"


# The notebook plot helpers, one test per defect a new user met.


@pytest.fixture
def quickstart_runs(tmp_path):
    return api.load(quickstart_like(tmp_path))


def test_plot_curves_draws_a_legend_of_every_group(quickstart_runs):
    ax = api.plot_curves(api.curves(quickstart_runs), "Hopper-v5")
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [f"{g} (n=3)" for g in sorted(LEVELS)]


def test_a_group_missing_from_colors_has_one_colour_for_line_and_band(quickstart_runs):
    from matplotlib.colors import to_hex

    ax = api.plot_curves(api.curves(quickstart_runs), "Hopper-v5", colors={"trpo": "black"})
    lines = [line for line in ax.lines if "(n=" in line.get_label()]
    bands = ax.collections
    assert len(lines) == len(bands) == 3
    for line, band in zip(lines, bands):  # drawn in pairs, group by group
        assert to_hex(band.get_facecolor()[0][:3]) == to_hex(line.get_color())
    assert len({to_hex(line.get_color()) for line in lines}) == 3


def test_the_interval_point_is_visible_on_a_black_bar(quickstart_runs):
    from matplotlib.colors import to_rgba

    estimates = api.aggregate(api.scores(quickstart_runs), reps=100)
    ax = api.plot_intervals(estimates, colors={"trpo": "black"})
    ticks = [t.get_text().split(" (n=")[0] for t in ax.get_yticklabels()] or sorted(LEVELS)
    points = ax.collections  # one vlines collection per group, in tick order
    trpo = sorted(LEVELS).index("trpo")
    assert to_rgba(points[trpo].get_color()[0]) == to_rgba("black")
    bar = ax.patches[trpo]
    assert bar.get_alpha() < 0.5  # a light bar under a full-strength tick: the point shows
    shown = [to_rgba(p.get_color()[0]) for p in points]
    assert len(set(shown)) == len(ticks)  # groups without a colour get distinct ones


def test_the_axis_labels_follow_the_curves_x_and_value(quickstart_runs):
    ax = api.plot_curves(api.curves(quickstart_runs, x="wall_time"), "Hopper-v5")
    assert ax.get_xlabel() == "wall-clock time (s)"
    ax = api.plot_curves(api.curves(quickstart_runs), "Hopper-v5")
    assert ax.get_xlabel() == "environment steps"
    assert ax.get_ylabel() == "training-episode return"


def test_value_means_the_column_in_curves_and_plot_curves_takes_it_from_there(quickstart_runs):
    curves = api.curves(quickstart_runs, value="eval_return_mean")
    ax = api.plot_curves(curves, "Hopper-v5")
    assert ax.get_ylabel() == "evaluation return (mean action)"
    with pytest.raises(TypeError):
        api.plot_curves(curves, "Hopper-v5", value="return")  # one meaning only: the column


def test_the_band_is_the_student_t_interval_its_docstring_names(quickstart_runs):
    curves = api.curves(quickstart_runs, points=11)
    ax = api.plot_curves(curves, "Hopper-v5")
    assert "Student-t" in api.plot_curves.__doc__ and "bootstrap" not in api.plot_curves.__doc__
    ppo = curves[(curves["env"] == "Hopper-v5") & (curves["group"] == "ppo")]
    last = ppo[ppo["x"] == ppo["x"].max()]["value"].to_numpy()
    half = stats.t.ppf(0.975, len(last) - 1) * last.std(ddof=1) / np.sqrt(len(last))
    band = ax.collections[sorted(LEVELS).index("ppo")].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(last.mean() + half)


def test_incomplete_runs_load_only_when_asked(tmp_path):
    quickstart_like(tmp_path)
    write_run(tmp_path, "npg_cg", "Hopper-v5", 0, np.linspace(0, 50, 5), status="running")
    write_run(tmp_path, "npg_cg", "Hopper-v5", 1, None, status="running")  # no rows yet
    assert "npg_cg" not in set(api.load(tmp_path).frame["group"])
    live = api.load(tmp_path, include_incomplete=True)
    assert len(live.frame[live.frame["group"] == "npg_cg"]) == 5
    assert set(live.runs.loc[live.runs["algo"] == "npg_cg", "status"]) == {"incomplete"}
    assert "npg_cg" not in set(api.scores(live)["group"])  # no final return before the end
    ax = api.plot_curves(api.curves(live), "Hopper-v5")
    assert any(line.get_label().startswith("npg_cg") for line in ax.lines)


def test_the_api_documents_no_development_notes():
    import inspect

    source = inspect.getsource(api)
    assert not re.search(r"\bissue \d+|\bNOTE\b|another branch|TODO", source)
