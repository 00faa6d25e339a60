"""Variants from other packages, through the `npgbench.algorithms` entry-point group.

Each test installs a throwaway distribution the way pip leaves one on disk (a module and a
`*.dist-info` folder with METADATA and entry_points.txt) in a temporary folder put on the
path, so importlib.metadata finds it exactly as it finds an installed plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from npgbench.algorithms import registry as reg

GOOD = """
from npgbench.algorithms import Variant
from npgbench.algorithms.fisher.cg import CGConfig
from npgbench.algorithms.natural import make_natural

VARIANT = Variant("test plugin: npg_cg with 3 CG iterations", CGConfig, make_natural,
                  {"update.cg_iters": 3})
"""


def install(root: Path, name: str, entry: str, module: str, source: str) -> Path:
    """A distribution `name` whose entry point `entry` = `module:VARIANT`; returns root."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[npgbench.algorithms]\n{entry} = {module}:VARIANT\n")
    return root


@pytest.fixture
def on_path(monkeypatch):
    """Put a folder on sys.path (this process) and PYTHONPATH (subprocesses, loky workers)."""

    def add(root: Path) -> dict:
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.setenv("PYTHONPATH", str(root))
        reg.plugins.cache_clear()
        return dict(os.environ)

    yield add
    reg.plugins.cache_clear()


def cli(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "npgbench.harness.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_plugin_is_listed_resolved_and_swept_on_loky_workers(tmp_path, on_path):
    env = on_path(install(tmp_path / "site", "tplug", "npg_tplug", "tplug", GOOD))
    assert "npg_tplug" in reg.registry() and reg.is_natural(reg.lookup("npg_tplug"))
    assert reg.natural_config("npg_tplug").cg_iters == 3
    assert "npg_tplug" not in reg.ALGORITHMS  # the built-ins are unchanged
    listed = cli("list", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "npg_tplug" in listed.stdout and "[plugin]" in listed.stdout
    suite = tmp_path / "p.toml"
    suite.write_text(
        'name = "p"\nenvs = ["InvertedPendulum-v5"]\nalgos = ["npg_tplug"]\nsteps = 512\n'
        '[overrides]\n"sampler.num_envs" = 2\n"sampler.steps_per_update" = 256\n'
        '"eval.every" = 0\n'
    )
    out = tmp_path / "out"
    swept = cli("sweep", "--suite", str(suite), "--out", str(out), "--jobs", "1", "--quiet",
                "--wandb", "disabled", env=env, cwd=tmp_path)  # fmt: skip
    assert swept.returncode == 0, swept.stderr[-2000:]
    (run,) = out.glob("npg_tplug__*")
    frame = pd.read_parquet(run / "metrics.parquet")
    assert len(frame) == 2 and not frame["skipped"].any()


WITH_METRICS = """
from npgbench.algorithms import Variant
from npgbench.algorithms.fisher.cg import CGConfig
from npgbench.algorithms.natural import make_natural
from npgbench.harness.core.metrics import Metric

ROWS = Metric("mplug_rows", "rows of a preconditioner", "count", "npg_mplug", "fisher/mplug_rows")
VARIANT = Variant("test plugin: npg_cg declaring a column", CGConfig, make_natural, metrics=(ROWS,))
"""

CLASHING = WITH_METRICS.replace('Metric("mplug_rows"', 'Metric("kl"')


def test_a_plugin_declares_its_own_columns_for_w_and_b_and_list(tmp_path, on_path):
    from npgbench.harness.tracking.wandb_keys import metric_keys, wandb_row
    from npgbench.harness.tracking.wandb_mirror import WandbMirror

    env = on_path(install(tmp_path / "site", "mplug", "npg_mplug", "mplug", WITH_METRICS))
    assert metric_keys("npg_mplug")["mplug_rows"] == "fisher/mplug_rows"
    assert "mplug_rows" not in metric_keys("npg_cg")  # declared for its own variant only
    mirror = WandbMirror("r", tmp_path / "run", {"algo": "npg_mplug"}, "disabled", "p")
    logged = wandb_row({"mplug_rows": 4.0, "kl": 0.01}, mirror.keys)
    assert logged == {"fisher/mplug_rows": 4.0, "losses/kl": 0.01}  # not other/mplug_rows
    listed = cli("list", "--metrics", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (own,) = listed.stdout.split("columns of npg_mplug:\n", 1)[1].splitlines()
    assert own.split()[:5] == ["mplug_rows", "count", "float64", "npg_mplug", "fisher/mplug_rows"]


@pytest.mark.parametrize(
    "entry,source,words",
    [
        ("ppo", GOOD, "clashes with the built-in variant 'ppo'"),
        ("npg_broken", "import no_such_module_here\n", "failed to load: ModuleNotFoundError"),
        ("npg_wrong", "VARIANT = 42\n", "is a int, not an npgbench.algorithms.Variant"),
        ("npg_clash", CLASHING, "Variant.metrics: metric 'kl' is already declared"),
    ],
)
def test_a_bad_plugin_is_one_line_naming_its_entry_point(
    tmp_path, on_path, monkeypatch, entry, source, words
):
    monkeypatch.delitem(sys.modules, "badplug", raising=False)  # each case imports its own
    env = on_path(install(tmp_path / "site", "badplug", entry, "badplug", source))
    with pytest.raises(reg.PluginError, match=words):
        reg.registry()
    done = cli("list", env=env, cwd=tmp_path)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, done.stderr
    assert (
        f"entry point npgbench.algorithms:{entry} = badplug:VARIANT" in err[0] and words in err[0]
    )


def test_the_family_is_the_registrys_and_old_runs_fall_back_to_the_built_ins():
    from npgbench.algorithms import ALGORITHMS, Variant
    from npgbench.algorithms.fisher.cg import CGConfig
    from npgbench.algorithms.natural import make_natural
    from npgbench.harness.core.families import BUILT_IN_FAMILIES, recorded_family

    for name, family in BUILT_IN_FAMILIES.items():  # the fallback says what the registry says
        assert ALGORITHMS[name].family == family, name
    assert Variant("p", CGConfig, make_natural).family == "natural"  # a plugin's default
    assert Variant("p", CGConfig, lambda *args: None).family == "other"
    with pytest.raises(ValueError, match="family 'npg'"):
        Variant("p", CGConfig, make_natural, family="npg")
    assert recorded_family({"family": "natural"}, "npg_mine") == "natural"
    assert recorded_family({"status": "complete"}, "trpo") == "natural"  # an old run
    assert recorded_family(None, "npg_mine") == ""  # an old plugin run: unknown, not guessed
