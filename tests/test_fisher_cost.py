"""The fisher-cost benchmark runs end to end on a tiny grid and writes its CSV."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from npgbench.harness.bench import fisher_cost
from npgbench.harness.core.config import ConfigError


def test_fisher_cost_writes_every_method_and_size(tmp_path, capsys):
    out = tmp_path / "bench" / "fisher_cost.csv"
    argv = ["--hidden", "4,8", "--batch", "64", "--repeats", "1", "--out", str(out)]
    assert fisher_cost.main(argv) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(fisher_cost.COLUMNS)
    arms = fisher_cost.cost_arms()
    assert sorted(set(frame["method"])) == sorted(arms)
    assert len(frame) == 2 * len(arms) and (frame["seconds_total"] > 0).all()
    total = frame["seconds_fit"] + frame["seconds_solve"]
    assert ((frame["seconds_total"] - total).abs() < 1e-9).all()
    assert "exponent" in capsys.readouterr().out


def test_loglog_slope_recovers_a_power_law():
    n = [100.0, 1000.0, 10000.0]
    assert fisher_cost.loglog_slope(n, [1e-9 * x**3 for x in n]) == pytest.approx(3.0)
    assert math.isnan(fisher_cost.loglog_slope([1.0], [1.0]))


def test_unknown_method_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="valid"):
        fisher_cost.main(["--methods", "exact,cg", "--out", str(tmp_path / "x.csv")])


def test_every_natural_variant_is_an_arm_with_its_own_defaults():
    from npgbench.algorithms.registry import is_natural, registry

    arms = fisher_cost.cost_arms()
    configs = {type(cfg) for cfg, _ in arms.values()}
    natural = {v.config for v in registry().values() if is_natural(v)}
    assert configs == natural  # trpo shares npg_cg's config: one arm set for both
    exact_forms = {arms[m][0].exact_form for m in ("exact_dense", "exact_gram")}
    assert exact_forms == {"dense", "gram"} and arms["cg"][0].cg_tol == 0.0
    assert arms["cg"][0].damping == 0.1 and arms["kfac"][0].damping == 1e-2
    assert all(arm.claim and arm.expected_exponent for _, arm in arms.values())


def test_a_size_a_variant_refuses_is_refused_before_timing(tmp_path, capsys):
    out = tmp_path / "cost.csv"
    argv = ["--methods", "exact_gram", "--batch", "20000", "--hidden", "4", "--out", str(out)]
    with pytest.raises(ConfigError, match="exact_gram at --hidden 4.*exact_max_memory_mb"):
        fisher_cost.main(argv)
    assert not out.exists() and "fit" not in capsys.readouterr().out
