"""Offline measurements beside the runs (one-step invariance verdicts, Fisher fidelity) and
the claims rows for sensitivity and invariance: found by name, read, tabulated, and copied
into the claims table with their own family's Holm p and verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from npgbench.analysis.claims import offline, reparam, sensitivity
from npgbench.analysis.claims.experiment_claims import experiment_claim_rows
from npgbench.analysis.claims.rows import finish
from npgbench.analysis.data.offline import VERDICT_COLUMNS, find_offline


def _verdicts(rows: list[tuple]) -> pd.DataFrame:
    """rows: (direction, family, predicted, measured, match, damping)."""
    frame = pd.DataFrame(rows, columns=VERDICT_COLUMNS[:6])
    return frame.assign(ratio=1e-5, ratio_max_damping=1e-2, slope_delta=2.0, slope_damping=1.0)


def _write_one_step(folder, name: str, dampings: list[float], rows: list[tuple]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _verdicts(rows).to_csv(folder / f"{name}_verdicts.csv", index=False)
    grid = [dict(family="f", direction="d", kl_delta=k, damping=d) for k in (1e-4, 0.1) for d in dampings]  # fmt: skip
    pd.DataFrame(grid).to_csv(folder / f"{name}.csv", index=False)


def _fidelity_rows(policy: str, env: str, direction: str, cosines: list[float]) -> list[dict]:
    base = dict(source=f"{policy}.pt", policy=policy, env=env, n_params=10, direction=direction)
    base.update(file="fid", algo="npg_cg")
    base.update({"cosine_ref0.1": 0.5, "cosine_own": 0.7, "kl_ratio_ref0.01": 2.0})
    base.update(kl_delta=0.01, gain_fit=0.1, gain_heldout=0.001, gain_fresh=0.002)
    base.update(kl_heldout=0.02, kl_fresh=0.01)
    return [{**base, "batch_seed": b, "cosine_ref0.01": c} for b, c in enumerate(cosines)]


def test_offline_csvs_are_found_by_name_main_file_first_with_their_damping_grid(tmp_path):
    _write_one_step(tmp_path / "inv", "small_damping", [1e-12, 1e-4], [("npg_diag", "unit-scale", "yes", "invariant", "yes", 1e-12)])  # fmt: skip
    _write_one_step(tmp_path / "inv", "invariance", [1e-4, 1e-2, 0.1], [("vanilla", "unit-scale", "no", "not invariant", "yes", 1e-4)])  # fmt: skip
    (tmp_path / "fid").mkdir()
    pd.DataFrame(_fidelity_rows("a", "EnvA-v5", "npg_cg", [0.4])).to_csv(tmp_path / "fid" / "fidelity.csv", index=False)  # fmt: skip
    data = find_offline(tmp_path)
    assert data.warnings == []
    assert list(data.one_step["file"]) == ["inv/invariance", "inv/small_damping"]
    assert list(data.one_step["damping_lo"]) == [1e-4, 1e-12]
    assert list(data.one_step["damping_hi"]) == [0.1, 1e-4]
    assert list(data.fidelity["file"]) == ["fid"]


def test_an_offline_csv_without_its_columns_or_rows_is_skipped_with_a_warning_naming_it(tmp_path):
    pd.DataFrame({"direction": ["x"]}).to_csv(tmp_path / "broken_verdicts.csv", index=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "fidelity.csv").write_text("")
    header = pd.DataFrame(_fidelity_rows("p", "EnvA-v5", "npg_cg", [0.5])).iloc[:0]
    (tmp_path / "b").mkdir()
    header.to_csv(tmp_path / "b" / "fidelity.csv", index=False)  # a header, no rows
    for aside in (".corrupt", "superseded"):  # folders set aside are not read at all
        (tmp_path / aside).mkdir()
        (tmp_path / aside / "fidelity.csv").write_text("garbage")
    data = find_offline(tmp_path)
    assert data.one_step is None and data.fidelity is None
    assert len(data.warnings) == 3
    assert any("broken_verdicts.csv" in w and "no column" in w for w in data.warnings)
    assert any("b/fidelity.csv: no rows" in w for w in data.warnings)


def test_an_undecided_verdict_is_not_counted_as_predicted_and_mismatches_say_which_way():
    rows = [
        ("npg_cg_converged", "unit-scale", "yes", "not invariant", "-", float("nan")),
        ("npg_cg_converged", "std-dense", "no", "invariant", "NO", 1e-2),
        ("npg_cg_converged", "std-identity", "yes", "invariant", "yes", 1e-2),
    ]
    frame = _verdicts(rows).assign(file="inv/invariance", damping_lo=1e-4, damping_hi=0.1)
    table = offline.one_step_table(frame)
    assert list(table.view["as predicted"]) == ["undecided", "no", "yes"]
    assert list(table.view["λ*"]) == ["-", "1e-02", "1e-02"]
    (claim,) = offline.one_step_claim_rows(frame)
    assert claim["verdict"] == (
        "measured (deterministic): as predicted in 1 of 3; predicted not invariant, measured "
        "invariant: std-dense; undecided (no converged solve): unit-scale"
    )


def test_one_step_table_marks_every_mismatch_and_the_claim_rows_count_families():
    rows = [
        ("npg_kfac", "unit-scale", "yes", "not invariant", "NO", 1e-4),
        ("npg_kfac", "std-identity", "yes", "invariant", "yes", 1e-4),
        ("vanilla", "unit-scale", "no", "not invariant", "yes", 1e-4),
    ]
    frame = _verdicts(rows).assign(file="inv/invariance", damping_lo=1e-4, damping_hi=0.1)
    table = offline.one_step_table(frame)
    assert list(table.highlight["as predicted"]) == [True, False, False]
    assert list(table.view["as predicted"]) == ["no", "yes", "yes"]
    claims = offline.one_step_claim_rows(frame)
    assert [c["comparison"] for c in claims] == [
        "npg_kfac, dampings 1e-04 to 1e-01",
        "vanilla, dampings 1e-04 to 1e-01",
    ]
    assert [c["value"] for c in claims] == [1.0, 0.0]
    assert claims[0]["verdict"].endswith("as predicted in 1 of 2; predicted invariant, measured not: unit-scale")  # fmt: skip
    assert claims[1]["verdict"] == "measured (deterministic): as predicted in 1 of 1"


def test_fidelity_means_are_per_task_then_the_mean_of_task_means():
    rows = _fidelity_rows("p1", "EnvA-v5", "npg_cg", [0.2, 0.4])
    rows += _fidelity_rows("p2", "EnvA-v5", "npg_cg", [0.6, 0.6])
    rows += _fidelity_rows("q1", "EnvB-v5", "npg_cg", [0.9])
    rows += _fidelity_rows("q1@it00100", "EnvB-v5", "npg_cg", [0.1])
    frame = offline.fidelity_frame(pd.DataFrame(rows))
    final = frame[frame["stage"] == "final of npg_cg runs"].set_index("env")
    assert final.loc["EnvA-v5", "cos"] == pytest.approx(0.45)  # 4 batches of 2 policies
    assert (final.loc["EnvA-v5", "cos_lo"], final.loc["EnvA-v5", "cos_hi"]) == pytest.approx(
        (0.3, 0.6)
    )
    assert final.loc["all tasks", "cos"] == pytest.approx((0.45 + 0.9) / 2)  # not the pooled 0.54
    assert (final.loc["all tasks", "cos_lo"], final.loc["all tasks", "cos_hi"]) == pytest.approx(
        (0.3, 0.9)
    )
    assert final.loc["all tasks", "policies"] == 3 and final.loc["all tasks", "n"] == 5
    assert final.loc["EnvA-v5", "kl_B"] == 2.0
    snaps = frame[frame["stage"] == "snapshots of npg_cg runs"]
    assert list(snaps["env"]) == ["EnvB-v5"] and list(snaps["cos"]) == [0.1]


def _decided(family: str, **fields) -> dict:
    row = dict(value=0.9, ci_lo=0.7, ci_hi=1.0, per_task="A 0.9", n="5 vs 5 seeds on 1 tasks")
    row.update(p=0.004, p_holm=0.02, min_runs=5, verdict="supported", family=family)
    return {**row, **fields}


def test_sensitivity_and_invariance_rows_keep_their_own_familys_holm_p_and_verdict():
    f4 = pd.DataFrame(
        [
            _decided(
                sensitivity.FAMILY,
                method="npg_cg",
                knob="update.kl_delta 0.003/0.01/0.03",
                statistic="spread",
            ),  # fmt: skip
            _decided(None, method="vanilla_kl", knob="k", statistic="spread", verdict="reference"),
        ]
    )
    f5 = pd.DataFrame([_decided(reparam.CHANGE, reparameterisation="param_scale", arm="npg_kfac", p_holm=0.3, verdict="not separable (p = 0.3)")])  # fmt: skip
    rows = experiment_claim_rows(f4=f4, f5=f5)
    assert rows[1]["claim"] == "parameterisation invariance (learning, param_scale)"
    assert [r["comparison"] for r in rows] == [
        "npg_cg vs vanilla_kl (update.kl_delta 0.003/0.01/0.03)",
        "npg_kfac vs vanilla_kl",
    ]
    # A claims table built from them (with a tested row of another family) adjusts neither.
    other = dict(rows[0], claim="x", family="equal KL", p=0.01, p_holm=math.nan, verdict=None)
    table = finish(pd.DataFrame([other, *rows]), interim=False).data
    assert list(table["p_holm"][1:]) == [0.02, 0.3]
    assert list(table["verdict"][1:]) == ["supported", "not separable (p = 0.3)"]
    assert table["p_holm"][0] == 0.01  # a family of one: Holm leaves p as it is


def test_a_claim_without_data_says_not_tested_and_the_one_step_rows_follow():
    frame = _verdicts([("npg_diag", "unit-scale", "yes", "invariant", "yes", 1e-4)])
    frame = frame.assign(file="invariance", damping_lo=1e-4, damping_hi=0.1)
    rows = experiment_claim_rows(one_step=frame)
    assert [r["claim"] for r in rows] == [
        "lower hyperparameter sensitivity",
        "parameterisation invariance (learning)",
        "parameterisation invariance (one step)",
    ]
    assert rows[0]["verdict"].startswith("not tested") and rows[1]["verdict"].startswith("not tested")  # fmt: skip
    assert np.isnan(rows[2]["p"]) and rows[2]["family"] is None


def test_the_report_shows_the_offline_csvs_of_its_folder_and_a_bad_one_only_warns(tmp_path, capsys):
    from analysis_fixtures import synthetic_results
    from npgbench.analysis.report.command import main

    root = synthetic_results(tmp_path / "runs", envs=("EnvA-v5",), seeds=(0,))
    _write_one_step(root / "inv", "invariance", [1e-4, 0.1], [("npg_kfac", "unit-scale", "yes", "not invariant", "NO", 1e-4)])  # fmt: skip
    pd.DataFrame(_fidelity_rows("a", "EnvA-v5", "npg_cg", [0.4])).to_csv(root / "inv" / "fidelity.csv", index=False)  # fmt: skip
    (root / "old").mkdir()
    (root / "old" / "stale_verdicts.csv").write_text("direction\nx\n")
    assert main([str(root), "--out", str(tmp_path / "rep"), "--reps", "50"]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Offline measurements" in text
    assert "| npg_kfac | unit-scale | 1e-04 to 1e-01 | yes | not invariant | **no** |" in text
    for name in ("one_step_invariance", "fisher_fidelity_64"):
        assert (tmp_path / "rep" / "tables" / f"{name}.csv").is_file()
    assert (tmp_path / "rep" / "figures" / "fidelity_64.png").is_file()
    assert "figures/fidelity_64.png" in text
    assert "stale_verdicts.csv: no column" in capsys.readouterr().err


def test_the_fidelity_figure_marks_every_task_and_direction():
    import matplotlib

    matplotlib.use("Agg")
    from npgbench.analysis.figures.offline import fidelity64_figure

    rows = _fidelity_rows("p1", "EnvA-v5", "npg_cg", [0.2, 0.4])
    rows += _fidelity_rows("q1", "EnvB-v5", "npg_cg", [0.9])
    rows += _fidelity_rows("q1", "EnvB-v5", "vanilla", [0.1])
    frame = offline.fidelity_frame(pd.DataFrame(rows))
    fig = fidelity64_figure(frame)
    cos_ax = fig.axes[0]
    points = sorted(
        (line.get_label(), round(float(x), 6), round(float(y), 6))
        for line in cos_ax.lines
        for x, y in zip(line.get_xdata(), line.get_ydata())
        if np.isfinite(y)
    )
    # EnvA has no vanilla row: only its npg_cg marker, left of centre; EnvB both, right.
    assert points == [("EnvA", -0.11, 0.3), ("EnvB", 0.11, 0.9), ("EnvB", 1.11, 0.1)]
