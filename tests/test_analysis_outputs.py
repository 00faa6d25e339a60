"""Paper-ready outputs: hyperparameter table, LaTeX tables, figure selection and placement,
one uncertainty method for curves and tables, keyword-only `ax`, no import side effects."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import synthetic_results, write_run
from cli_inprocess import npgbench
from npgbench.analysis.data.load import interpolate_curves, load_runs
from npgbench.analysis.figures import cost as cost_plots
from npgbench.analysis.figures import experiments as experiment_plots
from npgbench.analysis.figures import plots
from npgbench.analysis.figures import published as published_plots
from npgbench.analysis.report.command import main
from npgbench.analysis.report.study import FIGURE_NAMES
from npgbench.analysis.stats import run_metrics as metrics


@pytest.fixture(scope="module")
def variants_report(tmp_path_factory):
    """Two variants whose configs differ in update.lr (and, for ppo, per env in num_envs)."""
    root = tmp_path_factory.mktemp("hp") / "runs"
    for env, num_envs in (("EnvA-v5", 4), ("EnvB-v5", 8)):
        for seed in (0, 1):
            cfg = {"update": {"lr": 0.1, "kl_delta": 0.01}, "sampler": {"num_envs": 4}}
            write_run(root, "npg_cg", env, seed, np.linspace(0, 100, 6), suite="s", config=cfg)
            cfg = {"update": {"lr": 3e-4}, "sampler": {"num_envs": num_envs}}
            write_run(root, "ppo", env, seed, np.linspace(0, 50, 6), suite="s", config=cfg)
    out = root.parent / "rep"
    assert main([str(root), "--out", str(out), "--reps", "50"]) == 0
    return out


def test_hyperparameter_table_highlights_what_differs(variants_report):
    data = pd.read_csv(variants_report / "tables" / "hyperparameters.csv").set_index("setting")
    assert data.loc["update.lr", "npg_cg"] == "0.1" and data.loc["update.lr", "ppo"] == "0.0003"
    assert data.loc["sampler.num_envs", "ppo"] == "4 / 8"  # runs of one variant disagree
    assert data.loc["update.kl_delta", "ppo"] == "–"
    assert data.loc["update.lr", "differs"] and not data.loc["total_steps", "differs"]
    assert list(data.index[: int(data["differs"].sum())]) == sorted(data.index[data["differs"]])
    md = (variants_report / "report.md").read_text()
    assert "| update.lr | **0.1** | **0.0003** |" in md and "| total_steps | 6000 | 6000 |" in md
    tex = (variants_report / "tables" / "hyperparameters.tex").read_text()
    assert r"update.lr & \textbf{0.1} & \textbf{0.0003} \\" in tex
    html = (variants_report / "report.html").read_text()
    assert "<td><strong>0.1</strong></td>" in html


def test_latex_tables_are_booktabs_and_escaped(variants_report):
    tex = (variants_report / "tables" / "convergence.tex").read_text()
    lines = tex.splitlines()
    assert lines[0].startswith("% ") and "\\usepackage{booktabs}" in lines[0]
    assert lines[1] == r"\begin{table}[htbp]" and lines[-1] == r"\end{table}"
    assert [x for x in lines if x in (r"\toprule", r"\midrule", r"\bottomrule")] == [
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
    ]
    assert r"$\pm$" in tex and r"npg\_cg" in tex and "±" not in tex
    header = lines[lines.index(r"\toprule") + 1]
    assert (
        header.count("&")
        == len(pd.read_csv(variants_report / "tables" / "convergence.csv").columns) - 5
    )  # view: 9 columns, CSV: 13 (each mean and its CI split in two)


def test_figures_sit_after_their_table_numbered(variants_report):
    md = (variants_report / "report.md").read_text()
    conv, stab = md.index("## Convergence"), md.index("## Stability")
    assert conv < md.index("(figures/learning_curves.png)") < stab
    wall, nxt = (
        md.index("## Wall-clock"),
        md.index("## Excluded") if "## Excluded" in md else len(md),
    )
    assert wall < md.index("(figures/return_vs_wallclock.png)") < nxt
    numbers = [int(x) for x in __import__("re").findall(r"\*Figure (\d+):", md)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 5
    html = (variants_report / "report.html").read_text()
    assert html.index("Table 3. Convergence") < html.index("Figure 1: Learning curves")


def test_figures_option_draws_only_those_and_refuses_unknown_names(tmp_path, capsys):
    root = synthetic_results(tmp_path / "runs", envs=("EnvA-v5",), seeds=(0, 1))
    ok = npgbench(
        capsys,
        "report",
        str(root),
        "--out",
        str(tmp_path / "rep"),
        "--reps",
        "50",
        "--figures",
        "learning_curves,time_split",
    )
    assert ok.returncode == 0, ok.stderr
    drawn = sorted(p.name for p in (tmp_path / "rep" / "figures").iterdir())
    assert drawn == [
        f"{n}.{e}" for n in ("learning_curves", "time_split") for e in ("pdf", "png", "svg")
    ]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "aggregate_iqm" not in md and "time_split.png" in md
    bad = npgbench(
        capsys, "report", str(root), "--out", str(tmp_path / "bad"), "--figures", "curves"
    )
    assert bad.returncode == 2 and not (tmp_path / "bad").exists()
    (line,) = bad.stderr.strip().splitlines()
    assert "'curves'" in line and "valid: " + ", ".join(FIGURE_NAMES) in line


def test_curve_band_is_the_tables_student_t_interval():
    values_RX = np.array([[1.0, 2.0, 4.0], [2.0, 5.0, 4.5], [6.0, 2.5, np.nan]])
    mean_X, lo_X, hi_X, n_X = plots.mean_band(values_RX)
    for x in range(3):
        mean, half = metrics.mean_ci(values_RX[:, x])
        assert mean_X[x] == pytest.approx(mean) and hi_X[x] - mean_X[x] == pytest.approx(half)
    assert list(n_X) == [3, 3, 2]


def test_a_curve_stops_where_its_shortest_run_stops(tmp_path):
    write_run(tmp_path, "ppo", "EnvA-v5", 0, np.arange(10.0))
    write_run(tmp_path, "ppo", "EnvA-v5", 1, np.arange(5.0))  # stops halfway
    frame = load_runs(tmp_path).frame
    curves = interpolate_curves(frame, "return_mean", "step", 21)
    ax = plots.learning_curve(curves, "EnvA-v5", value="return_mean")
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert np.isfinite(y[x <= 5000]).all() and np.isnan(y[x > 5000]).all()
    assert ax.lines[0].get_label() == "ppo (n=2)" and ax.get_ylabel() == "training-episode return"


def test_a_figure_legend_lists_a_group_once_with_its_range_of_seed_counts(tmp_path):
    for seed in (0, 1, 2):
        write_run(tmp_path, "ppo", "EnvA-v5", seed, np.arange(5.0))
    write_run(tmp_path, "ppo", "EnvB-v5", 0, np.arange(5.0))  # one seed on this panel
    for seed in (0, 1):
        write_run(tmp_path, "npg_cg", "EnvB-v5", seed, np.arange(5.0))
    curves = interpolate_curves(load_runs(tmp_path).frame, "return_mean", "step", 11)
    draw = lambda env, ax: plots.learning_curve(curves, env, ax=ax)  # noqa: E731
    fig = plots.facet_figure(["EnvA-v5", "EnvB-v5"], draw)
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert sorted(labels) == ["npg_cg (n=2)", "ppo (n=1-3)"]


def test_facet_panels_keep_no_room_for_the_legends_they_hand_to_the_figure(tmp_path):
    # Each panel draws its legend outside its axes; the figure gathers them into one. The
    # panels' own legends go before the layout is fitted, else each keeps an empty column.
    for seed in (0, 1):
        write_run(tmp_path, "ppo", "EnvA-v5", seed, np.arange(5.0), label="a long label " * 4)
    curves = interpolate_curves(load_runs(tmp_path).frame, "return_mean", "step", 11)
    draw = lambda env, ax: plots.learning_curve(curves, "EnvA-v5", ax=ax)  # noqa: E731
    fig = plots.facet_figure(["p1", "p2", "p3"], draw)
    boxes = [ax.get_position() for ax in fig.axes[:3]]
    gaps = [right.x0 - left.x1 for left, right in zip(boxes, boxes[1:], strict=False)]
    assert max(gaps) < 0.6 * boxes[0].width, gaps


def test_a_curve_of_two_seeds_keeps_the_runs_range_as_its_scale(tmp_path):
    # Two seeds: the Student-t 95% band (t = 12.7) reaches far past both runs; the axes show
    # the runs, the band is clipped.
    write_run(tmp_path, "ppo", "EnvA-v5", 0, np.linspace(0, 100, 6))
    write_run(tmp_path, "ppo", "EnvA-v5", 1, np.linspace(0, 300, 6))
    curves = interpolate_curves(load_runs(tmp_path).frame, "return_mean", "step", 11)
    ax = plots.learning_curve(curves, "EnvA-v5")
    assert ax.get_ylim() == pytest.approx((-15.0, 315.0))


def test_iqm_is_called_the_mean_when_it_trims_nothing():
    from npgbench.analysis.report.tables import aggregate_title

    assert aggregate_title("IQM", {"a": np.ones((3, 1))}) == "IQM (= mean: n < 4)"
    assert aggregate_title("IQM", {"a": np.ones((2, 2))}) == "IQM"
    assert plots.iqm_name([3, 8]) == "mean" and plots.iqm_name([4, 8]) == "IQM"


PLOT_MODULES = [plots, cost_plots, published_plots, experiment_plots]


def test_every_plot_function_takes_a_keyword_only_ax():
    found = 0
    for module in PLOT_MODULES:
        for name, func in inspect.getmembers(module, inspect.isfunction):
            params = inspect.signature(func).parameters
            if func.__module__ != module.__name__ or "ax" not in params or name.startswith("_"):
                continue
            found += 1
            assert params["ax"].kind is inspect.Parameter.KEYWORD_ONLY, name
            assert params["ax"].default is None, name
    assert found >= 12


def test_plot_functions_draw_into_the_given_ax_and_return_it():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    scores = {"a": np.array([[0.1, 0.5], [0.4, 0.9]]), "b": np.array([[0.2, 0.3], [0.6, 0.7]])}
    assert plots.performance_profiles(scores, ax=axes[0], reps=20) is axes[0]
    est = {g: {"IQM": (0.5, 0.4, 0.6)} for g in scores}
    assert plots.interval_plot(est, "IQM", ax=axes[1]) is axes[1]
    plt.close(fig)


def test_importing_the_plots_changes_no_matplotlib_state():
    code = (
        "import matplotlib; before = dict(matplotlib.rcParams); "
        "import npgbench.analysis.figures.plots, npgbench.analysis.figures.experiments, npgbench.analysis.figures.cost, "
        "npgbench.analysis.figures.published, npgbench.analysis.report.study; "
        "changed = [k for k, v in matplotlib.rcParams.items() if before[k] != v]; "
        "assert not changed, changed"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
