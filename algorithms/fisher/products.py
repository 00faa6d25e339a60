"""Fisher products shared by every preconditioner and the step rule.

F = mean_s J(s)^T I(s) J(s) with J(s) = d(mu(s), sigma)/d theta and the closed-form Gaussian
Fisher I(s) = diag(1/sigma^2) on mu, diag(2/sigma^2) on sigma (no mu-sigma cross terms).

    FisherOperator        v -> F v = J^T (I (J v)), Gauss-Newton form by reverse-mode
                          autograd only: PSD by construction, three cheap backward passes
    kl_hessian_vector     v -> H v, H the Hessian of mean KL(pi_old || pi_theta), double
                          backprop; equal to F v at theta_old (a test checks it)
    per_sample_scores     S [N, P], rows grad log pi(a_i|s_i) (torch.func.vmap of grad)
    analytic_factor       U [B*A + A, P] with U^T U = F exactly (rows I^1/2 J / sqrt(B))

Flat vectors [P] follow `policy.natural_params()` order: mean_net parameters, then std_w.
"""

from __future__ import annotations

import torch
from npgbench.harness.core.policy import GaussianPolicy, flat_grad, gaussian_kl, gaussian_log_prob
from torch.func import functional_call, grad, jacrev, vmap

Params = dict  # {parameter name: tensor}, as torch.func.functional_call takes them


def param_names(policy: GaussianPolicy) -> list[str]:
    """Names of `policy.natural_params()`, in the same order."""
    return [f"mean_net.{n}" for n, _ in policy.mean_net.named_parameters()] + ["std_w"]


def detached_params(policy: GaussianPolicy) -> Params:
    """{name: parameter} at the current theta, detached (the point products are taken at)."""
    named = dict(policy.named_parameters())
    return {n: named[n].detach() for n in param_names(policy)}


def unflatten(v: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """Flat [P] -> one view of v per tensor of `like`, shaped like it."""
    out, offset = [], 0
    for p in like:
        out.append(v[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    return out


def flatten(tensors: Params | tuple, trailing: int = 0) -> torch.Tensor:
    """Concatenate per-parameter tensors along the parameter axis: [..., P].

    `trailing` leading batch axes are kept, e.g. per-sample gradients [N, *shape] -> [N, P].
    """
    items = tensors.values() if isinstance(tensors, dict) else tensors
    return torch.cat([t.reshape(*t.shape[:trailing], -1) for t in items], dim=-1)


class FisherOperator:
    """v [P] -> F v [P] at the parameters the operator was built at (theta_old).

    Gauss-Newton form with reverse mode only: the graph of (mu, sigma) and of the vjp
    u -> J^T u (linear in a dummy cotangent u) are built once; then
        J v = d/du <J^T u, v>,   cotangent c = (dmu / sigma^2 / B, 2 dsigma / sigma^2),
        F v = J^T c.
    PSD by construction (pitfalls.md: the KL Hessian can lose that away from theta_old).
    """

    def __init__(self, policy: GaussianPolicy, obs: torch.Tensor):
        self.params = policy.natural_params()
        self.outputs = policy(obs)  # (mean [B, A], sigma [A])
        self.dummy = tuple(torch.zeros_like(o, requires_grad=True) for o in self.outputs)
        self.jt_dummy = torch.autograd.grad(
            self.outputs, self.params, self.dummy, create_graph=True
        )
        sigma = self.outputs[1].detach()
        self.scale = (1.0 / (sigma**2 * obs.shape[0]), 2.0 / sigma**2)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        jv = torch.autograd.grad(
            self.jt_dummy, self.dummy, unflatten(v, self.params), retain_graph=True
        )
        cotangent = tuple(j * s for j, s in zip(jv, self.scale, strict=True))
        fv = torch.autograd.grad(self.outputs, self.params, cotangent, retain_graph=True)
        return flatten(fv)


def kl_hessian_vector(
    policy: GaussianPolicy,
    obs: torch.Tensor,
    old_mean: torch.Tensor,
    old_std: torch.Tensor,
    v: torch.Tensor,
) -> torch.Tensor:
    """H v by double backprop of mean KL(pi_old || pi_theta), (old_mean, old_std) detached."""
    params = policy.natural_params()
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
    """Dense F [P, P] in float64 (tests and small policies only: P^2 memory)."""
    u = analytic_factor(policy, obs)
    return u.T @ u
