"""The metrics.parquet schema (harness/core/metrics.py) against what runs really write: one tiny
run of every registered variant (installed plugins too) writes exactly the columns its
writers and its Variant.metrics declare, with the declared dtypes; the committed dataset holds only declared columns; W&B keys, analysis, the
README table and `npgbench list --metrics` all come from it."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fisher_fixtures import make_batch, small_policy
from npgbench.algorithms import ALGORITHMS
from npgbench.algorithms.fisher.cg import ConjugateGradient
from npgbench.algorithms.fisher.exact import ExactFisher
from npgbench.algorithms.natural import NaturalUpdater
from npgbench.algorithms.ppo import PPOUpdater
from npgbench.algorithms.registry import lookup, registry
from npgbench.algorithms.vanilla import VanillaUpdater
from npgbench.harness.core.metric_rows import (
    COLUMN_ORDER,
    OWN_SLOT,
    RUN_CONDITIONS,
    MetricRow,
    assemble,
    empty_row,
)
from npgbench.harness.core.metrics import (
    CONDITIONS,
    METRICS,
    SCHEMA,
    STEP_KEY,
    UNITS,
    WRITERS,
    Metric,
    declared,
    expected_columns,
    markdown_table,
    wandb_keys,
    with_extra,
)
from npgbench.harness.core.policy import GaussianPolicy, ValueNet
from npgbench.harness.core.value import ValueFitter
from npgbench.harness.runner import resolve_config, train
from npgbench.harness.tracking.wandb_keys import METRIC_KEYS, wandb_row

ROOT = Path(__file__).resolve().parents[1]
ARROW = {"int64": "int64", "double": "float64", "bool": "bool"}
ARROW |= {"string": "str", "large_string": "str"}
"""Arrow type of a metrics.parquet column -> the schema's dtype."""


def parquet_dtypes(path: Path) -> dict[str, str]:
    """column -> schema dtype of a metrics.parquet (pandas' index columns left out)."""
    fields = pq.read_schema(path)
    return {f.name: ARROW.get(str(f.type), str(f.type)) for f in fields if f.name[:2] != "__"}


def test_every_declaration_uses_the_documented_vocabulary():
    assert len(SCHEMA) == len(METRICS)  # no name twice
    keys = [m.wandb for m in METRICS if m.wandb is not None]
    assert len(set(keys)) == len(keys)
    for m in METRICS:
        assert m.unit in UNITS and set(m.writers) <= set(WRITERS) and m.when in CONDITIONS, m
        assert (m.wandb is None) == (m.dtype == "str"), m  # text only is not mirrored
    assert SCHEMA["step"].wandb == STEP_KEY and SCHEMA["kl"].section == "losses"
    assert METRIC_KEYS == wandb_keys()


def test_a_metric_refuses_a_bad_declaration_and_extras_may_not_redefine():
    for bad in [
        dict(name="Bad-Name"),
        dict(dtype="float32"),
        dict(wandb="other/x"),
        dict(wandb="nosection"),
        dict(meaning=" "),
    ]:
        with pytest.raises(ValueError):
            Metric(**{**dict(name="x", meaning="m", unit="1", writers="p", wandb="p/x"), **bad})
    assert Metric("x", "m", "1", "plug", "p/x").writers == ("plug",)
    with pytest.raises(ValueError, match="'kl' is already declared"):
        with_extra((Metric("kl", "m", "nats", "plug", "plug/kl"),))
    with pytest.raises(ValueError, match="'losses/kl' is taken by 'kl'"):
        with_extra((Metric("my_kl", "m", "nats", "plug", "losses/kl"),))
    with pytest.raises(ValueError, match="tuple of Metric"):
        with_extra(Metric("x", "m", "1", "plug", "p/x"))
    with pytest.raises(KeyError, match="kl_budget"):
        declared(["kl", "kl_budget"])
    for variant in ALGORITHMS.values():  # the built-ins' own columns (none yet) fit too
        with_extra(variant.metrics)


def test_the_committed_dataset_has_only_declared_columns_of_the_declared_dtypes():
    paths = sorted((ROOT / "docs" / "data").glob("*/*/metrics.parquet"))
    assert len(paths) >= 60
    seen = set()
    for path in paths:
        for column, dtype in parquet_dtypes(path).items():
            assert column in SCHEMA, f"{path}: undeclared column {column}"
            assert dtype == SCHEMA[column].dtype, f"{path}: {column} is {dtype}"
            seen.add(column)
    assert len(seen) >= 30


def writers_and_conditions(algo: str, cfg) -> tuple[set[str], set[str], bool]:
    """The schema's writers of a run of cfg and the conditions that hold, from the updater
    its variant builds; False when that updater is none of the built-in ones (a plugin's)."""
    policy = GaussianPolicy(4, 1, cfg.policy)  # InvertedPendulum-v5: obs 4, action 1
    updater = lookup(algo).make(policy, cfg.update, 0, cfg.diagnostics)
    writers, conditions = {"runner", "value fit", "update"}, {"eval.sampled"}
    if isinstance(updater, NaturalUpdater):
        writers.add("natural")
        writers |= {"cg"} if isinstance(updater.precond, ConjugateGradient) else set()
        writers |= {"exact"} if isinstance(updater.precond, ExactFisher) else set()
        if updater.cfg.max_backtracks > 0:
            conditions.add("line search")
        if updater.fidelity is not None:
            conditions.add("fidelity")
    elif isinstance(updater, VanillaUpdater):
        writers.add("vanilla")
    elif isinstance(updater, PPOUpdater):
        writers.add("ppo")
    else:
        return writers, conditions, False
    return writers, conditions, True


EVERYTHING_ON = {
    "sampler.num_envs": 2,
    "sampler.steps_per_update": 256,
    "value.epochs": 1,
    "eval.every": 1,
    "eval.episodes": 1,
    "eval.sampled": True,
    "diagnostics.fidelity_every": 1,
    "max_episode_steps": 50,
}
CASES = [(algo, {}) for algo in registry()] + [("vanilla", {"update.step_rule": "kl"})]
"""Every registered variant, installed plugins included, and vanilla's natural step rule."""


@pytest.mark.parametrize("algo,extra", CASES, ids=["-".join([a, *e.values()]) for a, e in CASES])
def test_a_real_run_writes_exactly_the_columns_its_writers_declare(tmp_path, algo, extra):
    cfg = resolve_config(algo, "InvertedPendulum-v5", 0, 256, {**EVERYTHING_ON, **extra})
    run_dir = train(cfg, tmp_path, progress=False).run_dir
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["family"] == lookup(algo).family  # recorded for analysis
    written = parquet_dtypes(run_dir / "metrics.parquet")
    schema = with_extra(lookup(algo).metrics)
    undeclared = sorted(set(written) - set(schema))
    assert not undeclared, f"{algo}: columns the schema does not declare: {undeclared}"
    writers, conditions, known = writers_and_conditions(algo, cfg)
    expected = expected_columns(writers, conditions) + [m.name for m in lookup(algo).metrics]
    if known:
        assert sorted(written) == sorted(expected), f"{algo}: written vs declared for its writers"
    else:  # a plugin's own updater: at least what every run writes, and its own columns
        assert set(expected) <= set(written), f"{algo}: missing {set(expected) - set(written)}"
    wrong = {c: d for c, d in written.items() if d != schema[c].dtype}
    assert not wrong, f"{algo}: dtypes other than declared: {wrong}"


def test_declared_extra_columns_get_their_key_and_undeclared_ones_other():
    extra = (Metric("plug_rows", "rows", "count", "plug", "fisher/plug_rows"),)
    row = {"step": 256, "wall_time": 1.0, "plug_rows": 8.0, "plug_new": 1.0}
    assert wandb_row(row, wandb_keys(extra)) == {
        STEP_KEY: 256,
        "time/time_elapsed": 1.0,
        "fisher/plug_rows": 8.0,
        "other/plug_new": 1.0,
        "charts/SPS": 256.0,
    }
    assert "other/plug_rows" in wandb_row(row)  # without the variant's declarations


def test_the_readme_table_is_the_schema():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- metrics table:")
    body = readme[readme.index("\n", start) + 1 : readme.index("<!-- end of metrics table -->")]
    assert body == markdown_table(), "README.md: regenerate with markdown_table()"


def test_list_metrics_prints_every_column():
    npgbench = shutil.which("npgbench")
    assert npgbench, "console script npgbench is not installed"
    done = subprocess.run([npgbench, "list", "--metrics"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[1:]
    shown = [line.split()[0] for line in lines if line.startswith("  ")]
    assert shown[: len(METRICS)] == [m.name for m in METRICS]
    accepted = next(line for line in lines if line.split()[0] == "accepted")
    assert "update/accepted" in accepted and CONDITIONS["line search"] in accepted


def test_the_column_order_holds_every_declared_column_once():
    assert sorted(COLUMN_ORDER) == sorted(SCHEMA) and len(set(COLUMN_ORDER)) == len(COLUMN_ORDER)
    assert OWN_SLOT in COLUMN_ORDER and set(RUN_CONDITIONS) <= set(CONDITIONS)


ROW_CASES = [(algo, {}) for algo in ALGORITHMS] + [
    ("vanilla", {"update.step_rule": "kl"}),
    ("npg_cg", {"diagnostics.heldout_every": 1}),
]


@pytest.mark.parametrize("algo,extra", ROW_CASES, ids=[f"{a}{list(e)}" for a, e in ROW_CASES])
def test_each_writer_returns_exactly_its_declared_columns(algo, extra):
    """An update's row, and the value fit's, hold the columns their writers declare under the
    conditions they meet: no more (refused on the way in) and no fewer (the row starts full)."""
    cfg = resolve_config(algo, "InvertedPendulum-v5", 0, 256, {**EVERYTHING_ON, **extra})
    policy = small_policy(obs_dim=4, act_dim=1)
    updater = lookup(algo).make(policy, cfg.update, 0, cfg.diagnostics)
    writers, conditions, _ = writers_and_conditions(algo, cfg)
    if getattr(updater, "heldout", None) is not None:
        conditions.add("held-out")
    row = updater.update(make_batch(policy, 64))
    assert isinstance(row, MetricRow) and not row["skipped"], row["skip_reason"]
    want = expected_columns(writers - {"runner", "value fit"}, conditions - {"eval.sampled"})
    assert sorted(row) == sorted(want)
    assert list(empty_row(updater.writers, getattr(updater, "conditions", ()))) == [
        c for c in COLUMN_ORDER if c in set(want) - {"cg_iterations"}
    ]
    fitter = ValueFitter(ValueNet(4, cfg.value).double(), cfg.value)
    value = fitter.fit(make_batch(policy, 64), np.random.default_rng(0))
    assert list(value) == expected_columns({"value fit"}, {"value fit undone"})


def test_a_row_refuses_a_column_its_writers_do_not_declare():
    row = empty_row("vanilla")
    assert list(row) == ["grad_norm"] and math.isnan(row["grad_norm"])
    for write in (
        lambda: row.__setitem__("beta", 1.0),
        lambda: row.update(beta=1.0),
        lambda: row.update({"kl_budget": 0.1}),
    ):
        with pytest.raises(KeyError, match="not declared for writer"):
            write()
    with pytest.raises(TypeError):
        row.setdefault("beta", 1.0)
    with pytest.raises(KeyError):
        empty_row("cg")["fisher_cond"] = 1.0  # exact's column, not the CG preconditioner's
    assert empty_row(("update", "natural"))["skip_reason"] == "" and math.isnan(
        empty_row("natural")["beta"]
    )
    row.extend({"plug_rows": 8.0})  # the way in for a variant's own columns
    assert row["plug_rows"] == 8.0


def test_assemble_orders_declared_columns_and_puts_a_variants_own_at_its_slot():
    natural = empty_row(("update", "natural"))
    natural.extend({**empty_row("cg"), "plug_rows": 1.0})
    row = assemble(empty_row(("runner", "update")), natural, empty_row("value fit"))
    names = list(row)
    assert names.index("plug_rows") == names.index(OWN_SLOT) + 1
    assert names.index("skip_reason") < names.index("plug_rows") < names.index("kl")
    assert names[:2] == ["iteration", "return_mean"] and names[-2:] == ["step", "wall_time"]
    # a plugin's own updater (a plain dict): its columns at the slot, skip columns late
    plain = assemble(
        empty_row(("runner", "update")), {"kl": 0.1, "mine": 2}, empty_row("value fit")
    )
    names = list(plain)
    assert names.index("mine") < names.index("kl") < names.index("value_loss")
    assert names.index("value_loss") < names.index("skipped") < names.index("step")
    assert plain["kl"] == 0.1 and plain["skipped"] is False and plain["skip_reason"] == ""
