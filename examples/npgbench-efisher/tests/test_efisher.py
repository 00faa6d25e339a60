"""npg_efisher against explicit matrices, the true Fisher, the registry and a real run.

Float64 on tiny policies (efisher_fixtures): tolerances are numerical except where a test
says it is statistical (those use fixed seeds, so they are repeatable too).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import torch
from efisher_fixtures import F64, make_batch, small_policy
from npgbench.algorithms.common import surrogate
from npgbench.algorithms.fisher.exact import ExactFisher
from npgbench.algorithms.fisher.rows import rows_at
from npgbench.algorithms.natural import make_natural
from npgbench.algorithms.registry import ENTRY_POINT_GROUP, is_natural, registry
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.policy import flat_grad, flat_params
from npgbench.harness.runner import resolve_config, train

import npgbench_efisher
from npgbench_efisher import VARIANT, EFisherConfig, EmpiricalFisher
from npgbench_efisher import efisher as efisher_module

DAMPING = 1e-2


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def explicit_scores(policy, batch) -> torch.Tensor:
    """[N, P]: grad log pi(a_i|s_i) of the batch actions, one sample and one backward at a time."""
    params = policy.all_params()
    return torch.stack(
        [
            flat_grad(policy.log_prob(batch.obs[i : i + 1], batch.actions[i : i + 1]).sum(), params)
            for i in range(len(batch))
        ]
    )


def fitted(policy, batch, form: str = "auto", damping: float = DAMPING) -> EmpiricalFisher:
    precond = EmpiricalFisher(damping, form=form)
    precond.fit(policy, batch)
    return precond


# P = 3*5+5 + 5*4+4 + 4*2+2 + 2 = 56 parameters: 20 rows take the Gram form, 200 the dense one.
@pytest.mark.parametrize("rows, form", [(20, "gram"), (200, "dense")])
def test_solve_equals_a_dense_solve_of_the_explicit_damped_matrix(rows, form):
    policy = small_policy((5, 4), std_param="softplus")
    batch = make_batch(policy, rows)
    # S by autograd, one sample at a time: a path independent of the layer-factored rows
    s = explicit_scores(policy, batch) / math.sqrt(rows)
    p = s.shape[1]
    assert p == 56 and (rows < p) == (form == "gram")
    damped = s.T @ s + DAMPING * torch.eye(p, dtype=F64)
    g = torch.randn(p, dtype=F64, generator=torch.Generator().manual_seed(1))
    expected = torch.linalg.solve(damped, g)
    precond = fitted(policy, batch)
    assert precond.form == form
    torch.testing.assert_close(precond.solve(g), expected, rtol=1e-9, atol=1e-12)
    # the other form is exact in this regime too (Woodbury holds for any N)
    other = fitted(policy, batch, form="dense" if form == "gram" else "gram")
    torch.testing.assert_close(other.solve(g), expected, rtol=1e-9, atol=1e-12)
    residual = damped @ precond.solve(g) - g
    assert float(residual.norm() / g.norm()) < 1e-10


@pytest.mark.parametrize("std_param", ["log", "softplus", "identity"])
def test_implicit_fisher_equals_the_mean_of_per_sample_score_outer_products(std_param):
    """F_emp = (1/N) sum_i s_i s_i^T with s_i by autograd one sample at a time, against the
    plugin's F_emp v (Gram form: S^T (S v)) and its damped solve. Also g = S^T A / sqrt(N):
    the surrogate gradient is built from the same buffer actions (the ridge-regression form)."""
    policy = small_policy((4,), std_param=std_param)
    batch = make_batch(policy, 24)
    scores = explicit_scores(policy, batch)  # [N, P]
    n, p = scores.shape
    f_emp = scores.T @ scores / n
    precond = fitted(policy, batch)
    assert precond.form == "gram" and n < p  # P = 3*4+4 + 4*2+2 + 2 = 28
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):
        v = torch.randn(p, dtype=F64, generator=gen)
        torch.testing.assert_close(precond.fisher_matvec(v), f_emp @ v, rtol=1e-10, atol=1e-12)
    rows = rows_at(policy, batch.obs, batch.actions)
    torch.testing.assert_close(rows.gram(), scores @ scores.T / n, rtol=1e-10, atol=1e-12)
    g = flat_grad(surrogate(policy, batch), policy.all_params())
    torch.testing.assert_close(g, scores.T @ batch.advantages / n, rtol=1e-10, atol=1e-12)
    x = precond.solve(g)
    torch.testing.assert_close(
        (f_emp + DAMPING * torch.eye(p, dtype=F64)) @ x, g, rtol=1e-8, atol=1e-10
    )


def test_direction_is_not_the_exact_natural_gradient_on_a_fixed_policy():
    """Seed 0, 128 rows, 73 parameters: the empirical-Fisher direction against npg_exact's
    analytic one at the same damping (measured cosine 0.83; seeds 0-7 give 0.83-0.96)."""
    policy = small_policy((6, 5))
    batch = make_batch(policy, 128)
    g = flat_grad(surrogate(policy, batch), policy.all_params())
    exact = ExactFisher(DAMPING, "analytic")
    exact.fit(policy, batch)
    c = cosine(fitted(policy, batch).solve(g), exact.solve(g))
    assert 0 < c < 0.9, c


@pytest.mark.parametrize("seed", [0, 1])
def test_empirical_fisher_is_the_fisher_only_for_actions_from_the_policy(seed):
    """Statistical (Kunstner et al. 2019): linear-Gaussian policy, 32 states x 1000 actions.
    Actions from pi_theta itself: F_emp -> F (relative Frobenius error ~ 0.6 / sqrt(1000);
    measured 0.022-0.035 over 6 seeds, bound 0.06) and the solved direction of a fixed g
    matches (measured cosine 0.9998). Actions one sigma off the policy's mean (replayed data):
    the error stays O(1) however many rows (measured 2.1-2.3) and the direction turns
    (measured cosine 0.73-0.89)."""
    policy = small_policy(())
    exact = ExactFisher(DAMPING, "analytic", form="dense")
    g = torch.randn(policy.num_params(), dtype=F64, generator=torch.Generator().manual_seed(seed))
    measured = {}
    for shift in (0.0, 1.0):
        batch = make_batch(policy, 32, seed=seed, repeat=1000, shift=shift)
        exact.fit(policy, batch)  # F depends on the states only: the same for both shifts
        precond = fitted(policy, batch)
        assert precond.form == "dense"
        error = float((precond.matrix - exact.matrix).norm() / exact.matrix.norm())
        measured[shift] = error, cosine(precond.solve(g), exact.solve(g))
    assert measured[0.0][0] < 0.06 and measured[0.0][1] > 0.995, measured
    assert measured[1.0][0] > 1.0 and measured[1.0][1] < 0.95, measured


def test_the_plugin_is_found_through_its_entry_point_and_listed():
    points = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert "npg_efisher" in points, "not installed: pip install -e examples/npgbench-efisher"
    ep = points["npg_efisher"]
    assert ep.value == "npgbench_efisher:VARIANT" and ep.dist.name == "npgbench-efisher"
    variants = registry()
    assert variants["npg_efisher"] is VARIANT is npgbench_efisher.VARIANT
    assert is_natural(VARIANT) and VARIANT.config is EFisherConfig
    # a fresh interpreter through the installed console script, as a user or a worker sees it
    script = Path(sys.executable).with_name("npgbench")
    command = [str(script)] if script.exists() else [shutil.which("npgbench") or "npgbench"]
    out = subprocess.run([*command, "list"], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.split()[:1] == ["npg_efisher"])
    assert line.endswith("[plugin]") and "empirical Fisher" in line, line
    assert not any(ln.split()[:1] == ["npg_exact"] and "[plugin]" in ln for ln in out.splitlines())


def test_a_tiny_hopper_run_writes_metrics_with_no_skipped_update(tmp_path):
    """16x16 policy: P = 518 > 256 rows per update, so training goes through the Gram form."""
    overrides = {
        "sampler.num_envs": 2,
        "sampler.steps_per_update": 256,
        "eval.every": 0,
        "value.epochs": 2,
        "policy.hidden_sizes": "16,16",
        "diagnostics.fidelity_every": 2,
    }
    cfg = resolve_config("npg_efisher", "Hopper-v5", 0, 512, overrides)
    assert isinstance(cfg.update, EFisherConfig) and cfg.update.damping == DAMPING
    frame = pd.read_parquet(train(cfg, tmp_path, progress=False).run_dir / "metrics.parquet")
    assert len(frame) == 2 and not frame["skipped"].any(), frame["skip_reason"].tolist()
    assert (frame["efisher_rows"] == 256).all()
    assert frame["fisher_cond"].gt(1).all() and frame["fisher_cond"].map(math.isfinite).all()
    assert frame["kl"].gt(0).all() and frame["cg_residual"].isna().all()
    assert frame["predicted_kl"].tolist() == pytest.approx([cfg.update.kl_delta] * 2)
    assert frame["fidelity_cosine"].notna().tolist() == [True, False]
    assert 0 < frame["fidelity_cosine"].iloc[0] < 1


@pytest.mark.parametrize("damping", [0.0, -0.1])
def test_non_positive_damping_is_refused_in_one_line(damping):
    with pytest.raises(ConfigError, match="damping must be > 0 for npg_efisher") as caught:
        resolve_config("npg_efisher", "Hopper-v5", 0, 1000, {"update.damping": damping})
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError):
        EFisherConfig(damping=damping).validate()
    with pytest.raises(ValueError):
        EmpiricalFisher(damping)


def _nan_rows(policy, obs, actions):
    rows = rows_at(policy, obs, actions)
    rows.std[0, 0] = math.nan
    return rows


def _failed_cholesky(matrix):
    """cholesky_ex as it answers a matrix that is not positive definite (info = the minor)."""
    return torch.zeros_like(matrix), torch.tensor(3, dtype=torch.int32)


@pytest.mark.parametrize(
    "target, replacement, reason",
    [
        ((efisher_module, "rows_at"), _nan_rows, "non-finite scores"),
        ((torch.linalg, "cholesky_ex"), _failed_cholesky, "Cholesky of the damped"),
    ],
)
def test_a_failed_fit_is_recorded_as_a_skipped_update(monkeypatch, target, replacement, reason):
    policy = small_policy((4,))
    batch = make_batch(policy, 32)
    theta_old = flat_params(policy.all_params())
    monkeypatch.setattr(*target, replacement)
    stats = make_natural(policy, EFisherConfig(), seed=0).update(batch)
    assert stats["skipped"] and "preconditioner failed" in stats["skip_reason"], stats
    assert reason in stats["skip_reason"], stats
    assert torch.equal(theta_old, flat_params(policy.all_params()))


def test_shapes_are_checked_at_the_entry():
    policy = small_policy((4,))
    batch = make_batch(policy, 8)
    with pytest.raises(ValueError, match="actions"):
        rows_at(policy, batch.obs, batch.actions[:, :1])
    precond = EmpiricalFisher(DAMPING)
    with pytest.raises(RuntimeError, match="fit"):
        precond.solve(torch.zeros(policy.num_params(), dtype=F64))
    precond.fit(policy, batch)
    with pytest.raises(ValueError, match="vector"):
        precond.solve(torch.zeros(policy.num_params() + 1, dtype=F64))
