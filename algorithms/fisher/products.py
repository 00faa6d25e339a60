"""Fisher products shared by every preconditioner and the step rule.

F = mean_s J(s)^T I(s) J(s) with J(s) = d(mu(s), sigma)/d theta and the closed-form Gaussian
Fisher I(s) = diag(1/sigma^2) on mu, diag(2/sigma^2) on sigma (no mu-sigma cross terms).

    FisherOperator        v -> F v = J^T (I (J v)), Gauss-Newton form by reverse-mode
                          autograd only: PSD by construction, three cheap backward passes

The tests check it against independent oracles (tests/oracles.py: the double-backprop KL
Hessian, torch.func per-sample scores and Jacobians, a dense analytic F).

Flat vectors [P] follow `policy.all_params()` order: mean_net parameters, then std_w.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from npgbench.harness.core.policy import GaussianPolicy

Params = dict  # {parameter name: tensor}, as torch.func.functional_call takes them


def unflatten(v: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
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
    PSD by construction (rll/rllab#24: a KL Hessian taken where pi_old != pi_theta gave a
    negative s^T H s and a NaN step).
    """

    def __init__(self, policy: GaussianPolicy, obs: torch.Tensor):
        self.params = policy.all_params()
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
