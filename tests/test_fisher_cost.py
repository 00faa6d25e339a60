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
    assert sorted(set(frame["method"])) == sorted(fisher_cost.METHODS)
    assert len(frame) == 2 * len(fisher_cost.METHODS) and (frame["seconds_total"] > 0).all()
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
