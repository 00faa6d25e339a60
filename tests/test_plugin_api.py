"""Plugins as first-class citizens: "all" in a suite includes installed plugins while the
shipped suites whose runs must stay fixed list their variants; the example plugin uses only
the documented `npgbench.plugin` API; `npgbench check-plugin` refuses an unknown name."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from npgbench.algorithms import ALGORITHMS
from npgbench.algorithms.registry import preconditioner_variants
from npgbench.harness.cli import main
from npgbench.harness.sweep.suite_checks import check_suite
from npgbench.suites import RECORDED_KEYWORDS, SUITE_DIR, load_suite, same_settings
from test_plugins import GOOD, install, on_path  # noqa: F401  (on_path is a fixture)

ROOT = Path(__file__).resolve().parents[1]
FIXED = ("controlled-1m", "mujoco-core", "mujoco-full", "fisher-fidelity")


def test_all_in_a_suite_includes_an_installed_plugin(tmp_path, on_path):  # noqa: F811
    on_path(install(tmp_path / "site", "tplug", "npg_tplug", "tplug", GOOD))
    suite = tmp_path / "s.toml"
    suite.write_text('envs = ["Hopper-v5"]\nalgos = "all"\nsteps = 512\n')
    algos = check_suite(load_suite(suite)).algos
    assert algos[: len(ALGORITHMS)] == tuple(ALGORITHMS) and "npg_tplug" in algos
    assert "npg_tplug" in check_suite(load_suite("quickstart")).algos


@pytest.mark.parametrize("name", FIXED)
def test_fixed_shipped_suites_list_their_variants_and_match_their_recorded_runs(name):
    with open(SUITE_DIR / f"{name}.toml", "rb") as f:
        algos = tomllib.load(f)["algos"]
    assert isinstance(algos, list), f"{name} must list its variants, not {algos!r}"
    assert set(algos) <= set(ALGORITHMS)
    for copy in (ROOT / "docs" / "data" / name).glob("suite*.toml"):  # the dataset's runs
        assert same_settings(copy, SUITE_DIR / f"{name}.toml")


def test_the_recorded_keywords_are_what_the_builtins_expand_to():
    assert RECORDED_KEYWORDS["all"] == list(ALGORITHMS)
    assert RECORDED_KEYWORDS["natural"] == preconditioner_variants(ALGORITHMS)


def test_the_example_plugin_imports_only_the_plugin_api():
    package = ROOT / "examples" / "npgbench-efisher" / "npgbench_efisher"
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {m for m in imported if m.split(".")[0] == "npgbench"}
    assert ours == {"npgbench.plugin"}, ours


def test_the_plugin_api_names_resolve_and_document_the_contract():
    import npgbench.plugin as api

    assert all(hasattr(api, name) for name in api.__all__)
    for words in ("Call order", "Dtype contract", "split(v)", "SampledEstimator", "check_memory"):
        assert words in api.__doc__


def test_check_plugin_refuses_an_unknown_name(capsys):
    assert main(["check-plugin", "npg_nonesuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: check-plugin: 'npg_nonesuch' is not")
