"""Natural policy gradient in one file, built from npg-bench's core pieces (mjrl's npg_cg loop).

    python examples/npg_single_file.py --env Hopper-v5 --steps 20000 --seed 0

Each iteration samples a batch (Sampler: GAE with bootstrapping on truncation only), then
    g     = grad L(theta_old)          L(theta) = mean(pi_theta(a|s) / pi_old(a|s) * A)   [P]
    x     ~ (F + lambda I)^-1 g        cg_iters conjugate-gradient steps on F v            [P]
    beta  = sqrt(2 delta / x^T F x)    the step whose predicted KL 1/2 beta^2 x^T F x is delta
    theta = theta_old + beta x
and fits the value net on the GAE returns. F v is the Gauss-Newton Fisher-vector product
(FisherOperator), never a matrix. With the same config this is npgbench's npg_cg number for
number (tests/test_single_file_example.py); the harness adds what a reading copy leaves out: skips of
non-finite steps, the other preconditioners and step rules, diagnostics, evaluation, logging
and checkpoints (algorithms/natural.py, harness/runner.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np
import torch
from npgbench.algorithms.fisher.cg import CGConfig, conjugate_gradient
from npgbench.algorithms.fisher.products import FisherOperator
from npgbench.harness.core.config import RunConfig
from npgbench.harness.core.policy import (
    GaussianPolicy,
    ValueNet,
    flat_grad,
    flat_params,
    gaussian_entropy,
    gaussian_kl,
    set_flat_params,
)
from npgbench.harness.core.rollout import Batch, Sampler
from npgbench.harness.core.value import ValueFitter
from npgbench.harness.runner import seed_streams


def npg_update(policy: GaussianPolicy, batch: Batch, cfg: CGConfig) -> dict[str, float]:
    """One natural-gradient step of `policy` in place; the step's statistics."""
    params = policy.all_params()
    theta_old = flat_params(params)  # [P]

    # g: gradient of the importance-sampled surrogate at theta_old (the policy gradient)
    ratio = torch.exp(policy.log_prob(batch.obs, batch.actions) - batch.log_probs)
    g = flat_grad((ratio * batch.advantages).mean(), params)

    # x ~ (F + lambda I)^-1 g by conjugate gradient on Fisher-vector products at theta_old
    fvp = FisherOperator(policy, batch.obs)
    x, residual, iterations = conjugate_gradient(
        lambda v: fvp(v) + cfg.damping * v, g, cfg.cg_iters, cfg.cg_tol
    )
    x = x.detach()

    # the KL step: beta such that the second-order KL of beta x is kl_delta
    quad = float(x @ fvp(x).detach())
    beta = math.sqrt(2 * cfg.kl_delta / quad)
    set_flat_params(params, theta_old + beta * x)

    with torch.no_grad():  # KL(pi_old || pi_new) on the batch states, after the step
        mean, std = policy(batch.obs)
        kl = float(gaussian_kl(batch.old_mean, batch.old_std, mean, std).mean())
        entropy = float(gaussian_entropy(policy.std()))
    return {
        "grad_norm": float(g.norm()),
        "cg_residual": residual,
        "cg_iterations": iterations,
        "g_dot_x": float(g @ x),
        "x_fisher_x": quad,
        "beta": beta,
        "predicted_kl": 0.5 * beta**2 * quad,
        "kl": kl,
        "entropy": entropy,
    }


def train(cfg: RunConfig) -> list[dict[str, float]]:
    """Run cfg (cfg.update a CGConfig) for cfg.total_steps; one row per iteration."""
    torch.set_num_threads(1)
    seeds = seed_streams(cfg.seed)  # the harness's independent streams, so runs match npgbench
    torch.manual_seed(seeds["init"])
    gen = torch.Generator().manual_seed(seeds["torch"])
    rng = np.random.default_rng(seeds["minibatch"])
    sampler = Sampler(cfg.env, cfg.sampler, cfg.max_episode_steps, seeds["env"] % 2**31)
    policy = GaussianPolicy(sampler.obs_dim, sampler.act_dim, cfg.policy)
    value_fitter = ValueFitter(ValueNet(sampler.obs_dim, cfg.value), cfg.value)

    rows = []
    per_update = cfg.sampler.steps_per_update
    for it in range(math.ceil(cfg.total_steps / per_update)):
        batch = sampler.collect(policy, value_fitter.value_fn, gen)
        row: dict[str, float] = {"iteration": it, "step": (it + 1) * per_update}
        row |= npg_update(policy, batch, cfg.update)
        row |= value_fitter.fit(batch, rng)
        returns = batch.episode_returns
        row |= {
            "episodes": len(returns),
            "return_mean": float(np.mean(returns)) if returns else math.nan,
            "return_std": float(np.std(returns)) if returns else math.nan,
        }
        rows.append(row)
    sampler.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cfg = RunConfig(algo="npg_cg", env=args.env, seed=args.seed, total_steps=args.steps)
    for row in train(dataclasses.replace(cfg, update=CGConfig())):
        print(f"step {row['step']:>8}  return {row['return_mean']:9.1f}  kl {row['kl']:.4f}")


if __name__ == "__main__":
    main()
