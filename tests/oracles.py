"""Independent reference computations of the Fisher, for the tests only (never production).

    kl_hessian_vector     v -> H v, H the Hessian of mean KL(pi_old || pi_theta), double
                          backprop; equal to F v at theta_old (test_fisher checks it)
    per_sample_scores     S [N, P], rows grad log pi(a_i|s_i) (torch.func.vmap of grad)
    mean_jacobian         J_mu [B, A, P] by torch.func.vmap of jacrev
    analytic_factor       U [B*A + A, P] with U^T U = F exactly (rows I^1/2 J / sqrt(B))
    analytic_fisher       dense F [P, P] = U^T U in float64
    kfac_dense            a fitted KFAC's undamped block-diagonal approximation [P, P]

Each takes another path than the production code it checks (torch.func instead of layer
hooks, double backprop instead of the Gauss-Newton form). Flat vectors [P] follow
`policy.all_params()` order: mean_net parameters, then std_w.
"""

from __future__ import annotations

import torch
from npgbench.algorithms.fisher.kfac import KFAC
from npgbench.algorithms.fisher.products import Params, flatten
from npgbench.harness.core.policy import GaussianPolicy, flat_grad, gaussian_kl, gaussian_log_prob
from torch.func import functional_call, grad, jacrev, vmap


def param_names(policy: GaussianPolicy) -> list[str]:
    """Names of `policy.all_params()`, in the same order."""
    return [f"mean_net.{n}" for n, _ in policy.mean_net.named_parameters()] + ["std_w"]


def detached_params(policy: GaussianPolicy) -> Params:
    """{name: parameter} at the current theta, detached (the point products are taken at)."""
    named = dict(policy.named_parameters())
    return {n: named[n].detach() for n in param_names(policy)}


def kl_hessian_vector(
    policy: GaussianPolicy,
    obs: torch.Tensor,
    old_mean: torch.Tensor,
    old_std: torch.Tensor,
    v: torch.Tensor,
) -> torch.Tensor:
    """H v by double backprop of mean KL(pi_old || pi_theta), (old_mean, old_std) detached."""
    params = policy.all_params()
    mean, std = policy(obs)
    kl = gaussian_kl(old_mean.detach(), old_std.detach(), mean, std).mean()
    g = flat_grad(kl, params, create_graph=True)
    return flat_grad(g @ v, params)


def per_sample_scores(
    policy: GaussianPolicy, obs: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """S [N, P], S_i = grad_theta log pi_theta(a_i | s_i). obs [N, O], actions [N, A]."""
    params = detached_params(policy)

    def log_prob(p: Params, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        mean, std = functional_call(policy, p, (s[None],))
        return gaussian_log_prob(mean, std, a[None])[0]

    scores = vmap(grad(log_prob), in_dims=(None, 0, 0))(params, obs, actions)
    return flatten(scores, trailing=1)


def mean_jacobian(policy: GaussianPolicy, obs: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """J_mu [B, A, P]: d mu_a(s_b) / d theta, zero in the std columns (mu ignores sigma)."""
    params = detached_params(policy)
    mean_params = {n[len("mean_net.") :]: p for n, p in params.items() if n != "std_w"}

    def mean(p: Params, s: torch.Tensor) -> torch.Tensor:
        return functional_call(policy.mean_net, p, (s[None],))[0]

    blocks = []
    for start in range(0, obs.shape[0], chunk):  # chunks bound vmap's intermediate memory
        jac = vmap(jacrev(mean), in_dims=(None, 0))(mean_params, obs[start : start + chunk])
        blocks.append(flatten(jac, trailing=2))
    j_mu = torch.cat(blocks)
    std_cols = torch.zeros(*j_mu.shape[:2], params["std_w"].numel(), dtype=j_mu.dtype)
    return torch.cat([j_mu, std_cols], dim=-1)


def analytic_factor(
    policy: GaussianPolicy, obs: torch.Tensor, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """U [B*A + A, P] with U^T U = F = mean_s J^T I J exactly.

    Mean rows: J_mu[s, a] / (sigma_a sqrt(B)); std rows: sqrt(std_fisher_a) e_(std_w a), since
    the std block diag(2 (dsigma/dw)^2 / sigma^2) is the same at every state.
    """
    with torch.no_grad():
        sigma = policy.std().to(dtype)
        std_fisher = policy.std_fisher().to(dtype)
    j = mean_jacobian(policy, obs).to(dtype)  # [B, A, P]
    n, a_dim, p_dim = j.shape
    mean_rows = (j / (sigma[None, :, None] * n**0.5)).reshape(n * a_dim, p_dim)
    std_rows = torch.zeros(a_dim, p_dim, dtype=dtype)
    std_rows[:, p_dim - a_dim :] = torch.diag(std_fisher.sqrt())
    return torch.cat([mean_rows, std_rows])


def analytic_fisher(policy: GaussianPolicy, obs: torch.Tensor) -> torch.Tensor:
    """Dense F [P, P] in float64 (small policies only: P^2 memory)."""
    u = analytic_factor(policy, obs)
    return u.T @ u


def to_parameter_order(block: torch.Tensor, d_in1: int) -> torch.Tensor:
    """Reorder a [Wbar row-major] block to the parameter order (W row-major, then b)."""
    n = block.shape[0]
    index = torch.arange(n).view(-1, d_in1)
    order = torch.cat([index[:, :-1].reshape(-1), index[:, -1]])
    return block[order][:, order]


def kfac_dense(kfac: KFAC) -> torch.Tensor:
    """A fitted KFAC's undamped approximation, block-diagonal [P, P]: G (x) A per layer, in
    parameter order, then diag(std_fisher)."""
    mats = [torch.kron(g, a) for a, g in kfac.factors]
    mats = [to_parameter_order(m, a.shape[0]) for m, (a, _) in zip(mats, kfac.factors, strict=True)]
    return torch.block_diag(*mats, torch.diag(kfac.std_fisher))
