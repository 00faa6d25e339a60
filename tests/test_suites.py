"""Suite files: the shipped suites load, and every kind of bad file is one clear ConfigError."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from npgbench.algorithms import ALGORITHMS
from npgbench.harness.core.config import ConfigError
from npgbench.harness.sweep.suite_checks import load_checked_suite
from npgbench.suites import SUITES

GOOD = """
name = "t"
envs = ["InvertedPendulum-v5"]
algos = ["ppo"]
steps = 1024
"""


def write(tmp_path, text: str, name: str = "t.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_suites_load_with_their_contract():
    assert {"quickstart", "mujoco-core", "mujoco-full"} <= set(SUITES)
    for name in SUITES:
        suite = load_checked_suite(name)
        assert suite.name == name and suite.description and suite.steps > 0
        assert suite.seeds and set(suite.algos) <= set(ALGORITHMS)
        for ref in suite.references:
            assert ref["env"] in suite.envs and ref["protocol"] in ("best", "final")
            assert {"value", "std", "source", "env_version", "steps", "algo"} <= set(ref)
        for rng in suite.score_ranges.values():
            assert rng["min"] < rng["max"]
    quick = load_checked_suite("quickstart")
    assert quick.algos == tuple(ALGORITHMS)  # "all": every registered variant
    assert quick.envs == ("InvertedPendulum-v5", "Hopper-v5") and len(quick.seeds) == 3
    core = load_checked_suite("mujoco-core")
    assert core.steps == 1_000_000 and len(core.seeds) == 5 and len(core.envs) == 5
    assert all(env.endswith("-v5") for env in core.envs)
    assert len(load_checked_suite("mujoco-full").envs) == 9


def test_dotted_keys_nested_tables_variants_and_grids_parse(tmp_path):
    path = write(
        tmp_path,
        GOOD
        + """
        [overrides]
        sampler.num_envs = 4
        "eval.every" = 0
        [variants.soft]
        algo = "ppo"
        overrides = { "policy.std_param" = "softplus" }
        [grid]
        update.lr = [1e-3, 3e-4]
        [grid.ppo]
        "update.clip" = [0.1, 0.3]
        [[references]]
        env = "InvertedPendulum-v5"
        algo = "ppo"
        value = 1000
        source = "somewhere"
        protocol = "final"
        env_version = "v4"
        steps = 1000000
        """,
    )
    suite = load_checked_suite(path)
    assert suite.overrides == {"sampler.num_envs": 4, "eval.every": 0}
    assert suite.variants["soft"]["overrides"] == {"policy.std_param": "softplus"}
    assert suite.grid == {"update.lr": [1e-3, 3e-4]}
    assert suite.algo_grid == {"ppo": {"update.clip": [0.1, 0.3]}}
    assert suite.references[0]["std"] is None and suite.references[0]["value"] == 1000.0


@pytest.mark.parametrize(
    "extra,expected",
    [
        ("seedz = [1]", "unknown key 'seedz': did you mean seeds"),
        ("[variants.v]\nalgo = 'ppo'\noverides = {}", "unknown key variants.v.'overides'"),
        ("[score_ranges.'InvertedPendulum-v5']\nmin = 0\nmax = 1\nmid = 2", "unknown key"),
        (
            "[[references]]\nenv = 'InvertedPendulum-v5'\nalgo = 'ppo'\nvalue = 1\nsource = 's'\n"
            "protocol = 'mean'\nenv_version = 'v5'\nsteps = 1",
            "valid: best, final",
        ),
        ("[[references]]\nenv = 'InvertedPendulum-v5'\nalgo = 'ppo'\nvalue = 1", "missing"),
        ("[algo_overrides.ppp]\n'update.lr' = 1.0", "unknown algorithm 'ppp': did you mean ppo"),
        ("[thresholds]\n'Hopper-v5' = 1.0", "not in this suite's envs"),
        ("[grid]\nupdate.lr = 0.1", "expected a non-empty list"),
    ],
)
def test_bad_suite_files_name_the_file_and_the_key(tmp_path, extra, expected):
    path = write(tmp_path, GOOD + extra)
    with pytest.raises(ConfigError) as err:
        load_checked_suite(path)
    message = str(err.value)
    assert str(path) in message and expected in message and "\n" not in message


@pytest.mark.parametrize(
    "text,expected",
    [
        ('envs = ["InvertedPendulum-v5"\nalgos = ["ppo"]', "malformed TOML"),
        ('envs = ["Hoper-v5"]\nalgos = ["ppo"]\nsteps = 10', "did you mean Hopper-v5"),
        ('envs = ["Hopper-v5"]\nalgos = ["pp0"]\nsteps = 10', "unknown algorithm 'pp0'"),
        ('envs = ["Hopper-v5"]\nalgos = ["ppo"]\nsteps = -5', "positive integer step budget"),
        ('envs = ["Hopper-v5"]\nalgos = ["ppo"]\nsteps = 5\nseeds = [1, 1]', "distinct"),
    ],
)
def test_malformed_files_and_unknown_names(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=None) as err:
        load_checked_suite(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_unknown_suite_names_the_shipped_ones():
    with pytest.raises(ConfigError) as err:
        load_checked_suite("quickstrat")
    assert "did you mean quickstart" in str(err.value)


def test_reading_without_checks_does_not_import_torch():
    code = (
        "import sys; from npgbench.suites import load_suite; s = load_suite('mujoco-full');"
        " assert s.references and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_npgbench_list_shows_the_suites():
    exe = shutil.which("npgbench")
    result = subprocess.run([exe, "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("quickstart", "mujoco-core", "mujoco-full"):
        assert name in result.stdout


def test_hash_neutral_fields_keep_run_ids_at_their_default():
    import hashlib
    import json

    from npgbench.harness.core.config import apply_overrides
    from npgbench.harness.core.identity import HASH_NEUTRAL_DEFAULTS, config_hash, to_dict
    from npgbench.harness.runner import resolve_config

    for algo, changed in [("npg_cg", "eval.sampled"), ("npg_exact", "update.exact_form")]:
        cfg = resolve_config(algo, "Hopper-v5", 0, 4096)
        data = to_dict(cfg)
        for key in ("seed", "wandb", "checkpoint"):  # tracking settings, never hashed
            data.pop(key)
        for dotted in HASH_NEUTRAL_DEFAULTS:  # the config as it was before these fields existed
            section, leaf = dotted.split(".")
            data[section].pop(leaf, None)  # update.* fields exist only for their variant
        before = hashlib.sha1(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
        assert config_hash(cfg) == before.hexdigest()[:8]
        other = {"eval.sampled": True, "update.exact_form": "gram"}[changed]
        assert config_hash(apply_overrides(cfg, {changed: other})) != config_hash(cfg)


def test_algos_natural_is_one_variant_per_preconditioner(tmp_path):
    from npgbench.algorithms import ALGORITHMS
    from npgbench.algorithms.registry import is_natural, preconditioner_variants
    from npgbench.harness.sweep.suite_checks import load_checked_suite

    names = preconditioner_variants(ALGORITHMS)
    natural = {v.config for v in ALGORITHMS.values() if is_natural(v)}
    assert len(names) == len({ALGORITHMS[n].config for n in names}) == len(natural)
    assert "npg_cg" in names and "trpo" not in names  # trpo takes npg_cg's direction
    path = tmp_path / "nat.toml"
    path.write_text('name = "nat"\nenvs = ["Hopper-v5"]\nalgos = "natural"\nsteps = 4096\n')
    assert load_checked_suite(path).algos == tuple(names)
    assert load_checked_suite("fisher-fidelity").algos == tuple(names)


def _swept_suites(script: str) -> set[str]:
    """The suite names a shell script sweeps (`--suite NAME` or a path to suites/NAME.toml)."""
    text = (Path(__file__).parents[1] / script).read_text()
    return {Path(s).stem for s in re.findall(r"--suite\s+\"?([^\s\"]+)", text)}


def test_the_campaign_script_sweeps_shipped_suites_that_reproduce_sh_sweeps_too():
    # docs/campaign.sh is the resumable route to docs/reproduce.sh's Phase C runs: the two
    # name the same suites, all shipped, so neither can drift to a suite the other lacks.
    campaign = _swept_suites("docs/campaign.sh")
    reproduce = _swept_suites("docs/reproduce.sh")
    assert campaign and campaign <= set(SUITES), campaign - set(SUITES)
    assert campaign <= reproduce, campaign - reproduce
    assert reproduce - campaign <= {
        "controlled-1m",
        "ablation-1m",
        "invariance-scale-1m",
        "fisher-fidelity",
    }
