"""Normaliser, seeding, parameter coverage and std parameterisations of the shared machinery."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from npgbench.algorithms import ALGORITHMS
from npgbench.harness.core.config import PolicyConfig
from npgbench.harness.core.envs import RunningNorm
from npgbench.harness.core.policy import GaussianPolicy, flat_params, std_inverse
from npgbench.harness.runner import Trainer, resolve_config, train


def test_running_norm_matches_numpy():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 7, 50, 3)]
    norm = RunningNorm((4,))
    for chunk in chunks:
        norm.update(chunk)
    data = np.concatenate(chunks)
    np.testing.assert_allclose(norm.mean, data.mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.var, data.var(0), rtol=1e-6)
    z = norm(data)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-4)


def test_batch_holds_the_observations_actions_were_sampled_from(tiny_overrides):
    """actions = mean(obs_stored) + std * noise with the run's own noise: the stored, normalised
    observations are exactly those the policy saw, so pi_old is reproducible at update time."""
    trainer = Trainer(resolve_config("ppo", "Hopper-v5", 0, 1024, tiny_overrides))
    noise_gen = torch.Generator()
    noise_gen.set_state(trainer.gen.get_state())
    batch = trainer.sampler.collect(trainer.policy, trainer.value_fn, trainer.gen)
    steps, envs = 256 // 2, 2
    noise = torch.randn((steps, envs, 3), generator=noise_gen).reshape(-1, 3)
    with torch.no_grad():
        mean = trainer.policy.mean_net(batch.obs)
    torch.testing.assert_close(batch.actions, mean + trainer.policy.std().detach() * noise)
    # unclipped: Hopper's action bound is 1, and std 1 noise exceeds it
    assert batch.actions.abs().max() > 1.0


def test_evaluation_leaves_normaliser_statistics_frozen(tiny_overrides):
    trainer = Trainer(resolve_config("ppo", "Hopper-v5", 0, 256, tiny_overrides))
    trainer.sampler.collect(trainer.policy, trainer.value_fn, trainer.gen)
    mean, var = trainer.sampler.obs_norm.mean.copy(), trainer.sampler.obs_norm.var.copy()
    trainer.evaluate(1)
    np.testing.assert_array_equal(trainer.sampler.obs_norm.mean, mean)
    np.testing.assert_array_equal(trainer.sampler.obs_norm.var, var)


def test_sampled_evaluation_is_seeded_and_differs_from_the_mean_action(tiny_overrides):
    trainer = Trainer(resolve_config("ppo", "Hopper-v5", 0, 256, tiny_overrides))
    mean_action = trainer.evaluate(2)
    sampled = trainer.evaluate(2, torch.Generator().manual_seed(7))
    assert trainer.evaluate(2) == mean_action
    assert trainer.evaluate(2, torch.Generator().manual_seed(7)) == sampled
    assert sampled != mean_action  # std 1 noise on Hopper changes every return


def test_sampled_evaluation_logs_its_own_columns(tmp_path, tiny_overrides):
    over = {**tiny_overrides, "eval.every": 1, "eval.episodes": 1}
    plain = pd.read_parquet(
        train(
            resolve_config("ppo", "Hopper-v5", 0, 512, over), tmp_path / "a", progress=False
        ).run_dir
        / "metrics.parquet"
    )
    over["eval.sampled"] = True
    both = pd.read_parquet(
        train(
            resolve_config("ppo", "Hopper-v5", 0, 512, over), tmp_path / "b", progress=False
        ).run_dir
        / "metrics.parquet"
    )
    assert "eval_sampled_return_mean" not in plain
    assert both["eval_sampled_return_mean"].notna().all()
    # the sampled episodes draw from their own stream: training and mean-action evals unchanged
    pd.testing.assert_series_equal(plain["eval_return_mean"], both["eval_return_mean"])
    pd.testing.assert_series_equal(plain["kl"], both["kl"])


def _metrics(run_dir) -> pd.DataFrame:
    frame = pd.read_parquet(run_dir / "metrics.parquet")
    return frame.drop(columns=[c for c in frame if c.startswith("time_") or c == "wall_time"])


@pytest.mark.parametrize("algo", ["ppo", "vanilla"])
def test_same_seed_gives_identical_metrics(tmp_path, tiny_overrides, algo):
    cfg = resolve_config(
        algo, "Hopper-v5", 3, 768, {**tiny_overrides, "eval.every": 2, "eval.episodes": 1}
    )
    first = _metrics(train(cfg, tmp_path / "a", progress=False).run_dir)
    second = _metrics(train(cfg, tmp_path / "b", progress=False).run_dir)
    pd.testing.assert_frame_equal(first, second)
    other = _metrics(
        train(
            resolve_config(
                algo, "Hopper-v5", 4, 768, {**tiny_overrides, "eval.every": 2, "eval.episodes": 1}
            ),
            tmp_path / "c",
            progress=False,
        ).run_dir
    )
    assert not first["return_mean"].equals(other["return_mean"]) or not first["kl"].equals(
        other["kl"]
    )


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_policy_parameter_moves_in_one_update(tiny_overrides, algo):
    trainer = Trainer(resolve_config(algo, "Hopper-v5", 0, 256, tiny_overrides))
    before = [p.detach().clone() for p in trainer.policy.all_params()]
    batch = trainer.sampler.collect(trainer.policy, trainer.value_fn, trainer.gen)
    stats = trainer.updater.update(batch)
    assert not stats.get("skipped", False), stats
    names = [f"mean_net.{n}" for n, _ in trainer.policy.mean_net.named_parameters()] + ["std_w"]
    assert sorted(names) == sorted(n for n, _ in trainer.policy.named_parameters())
    for name, old, new in zip(names, before, trainer.policy.all_params()):
        assert not torch.equal(old, new.detach()), f"{algo}: {name} did not move"


@pytest.mark.parametrize("std_param", ["log", "softplus", "identity"])
def test_std_parameterisations_give_the_same_distribution(std_param):
    torch.manual_seed(0)
    reference = GaussianPolicy(5, 3, PolicyConfig(std_param="log", init_std=0.7))
    policy = GaussianPolicy(5, 3, PolicyConfig(std_param=std_param, init_std=0.7))
    policy.mean_net.load_state_dict(reference.mean_net.state_dict())
    sigma = torch.tensor([0.3, 1.0, 2.5])
    with torch.no_grad():
        reference.std_w.copy_(sigma.log())
        policy.std_w.copy_(torch.tensor([std_inverse(float(s), std_param) for s in sigma]))
    obs, act = torch.randn(8, 5), torch.randn(8, 3)
    torch.testing.assert_close(policy.std(), sigma, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        policy.log_prob(obs, act), reference.log_prob(obs, act), rtol=1e-5, atol=1e-5
    )


def test_init_std_is_the_same_under_every_parameterisation():
    stds = [
        GaussianPolicy(3, 2, PolicyConfig(std_param=p, init_std=0.6)).std()
        for p in ("log", "softplus", "identity")
    ]
    for s in stds:
        torch.testing.assert_close(s, torch.full((2,), 0.6))


def test_std_fisher_matches_autograd_hessian_of_kl():
    """The closed-form std block 2 (dsigma/dw)^2 / sigma^2 is the Hessian of KL in w."""
    for std_param in ("log", "softplus", "identity"):
        policy = GaussianPolicy(2, 3, PolicyConfig(std_param=std_param, init_std=0.8)).double()
        w0 = policy.std_w.detach().clone()

        def kl(w, policy=policy, std_param=std_param):
            sigma0 = policy.std().detach()
            sigma = {"log": w.exp(), "softplus": torch.nn.functional.softplus(w), "identity": w}[
                std_param
            ]
            return (torch.log(sigma / sigma0) + sigma0**2 / (2 * sigma**2) - 0.5).sum()

        hessian = torch.autograd.functional.hessian(kl, w0)
        torch.testing.assert_close(
            torch.diag(hessian), policy.std_fisher().detach(), rtol=1e-8, atol=1e-10
        )


def test_flat_params_round_trip():
    policy = GaussianPolicy(4, 2, PolicyConfig())
    flat = flat_params(policy.all_params())
    assert flat.numel() == policy.num_params() and math.isfinite(float(flat.sum()))


def test_ppo_loss_gradient_at_theta_old_is_the_policy_gradient(tiny_overrides):
    """At theta_old the ratio is 1 and the clip inactive: grad of the clipped loss = -g."""
    import dataclasses
    import math

    from npgbench.algorithms.common import surrogate
    from npgbench.harness.core.policy import flat_grad

    trainer = Trainer(resolve_config("ppo", "Hopper-v5", 0, 256, tiny_overrides))
    batch = trainer.sampler.collect(trainer.policy, trainer.value_fn, trainer.gen)
    batch = dataclasses.replace(batch, advantages_normalized=False)
    params = trainer.policy.all_params()
    g = flat_grad(surrogate(trainer.policy, batch), params)
    shifted = batch.log_probs + 0.5 * math.log(2 * math.pi) * batch.actions.shape[1]
    loss, approx_kl = trainer.updater._minibatch_loss(
        batch.obs, batch.actions, shifted, batch.advantages
    )
    torch.testing.assert_close(flat_grad(loss, params), -g, rtol=1e-4, atol=1e-6)
    assert float(approx_kl) == pytest.approx(0.0, abs=1e-6)
