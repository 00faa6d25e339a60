"""Gaussian MLP policy with a state-independent std in three parameterisations, value MLP.

The std vector is one parameter `w` [A]; sigma = f(w) with f chosen by `std_param`:
    log:      sigma = exp(w)        d sigma/dw = sigma
    softplus: sigma = softplus(w)   d sigma/dw = sigmoid(w)
    identity: sigma = w             d sigma/dw = 1
The Fisher of N(mu, diag sigma^2) is Sigma^-1 for mu and 2/sigma^2 for sigma, so in w it is
2 (d sigma/dw)^2 / sigma^2 (`std_fisher`). Every parameter, w included, is in
`all_params()`, the explicit list every update acts on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from npgbench.harness.core.config import PolicyConfig, ValueConfig
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class InputScale(nn.Module):
    """x -> s x before a Linear layer: with the layer's weight stored as W / s, the pair computes
    the same W x + b in other coordinates (`PolicyConfig.param_scale`). No parameters, so the
    layer-factored Fisher (K-FAC, score rows) sees s x as the layer's input, as it should."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


def mlp(
    sizes: list[int],
    activation: str,
    orthogonal: bool,
    last_gain: float,
    param_scale: float = 1.0,
) -> nn.Sequential:
    """Linear layers of `sizes` with `activation` between them (none after the last); with
    param_scale s != 1 each is fed s x and stores W / s (`InputScale`)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        is_last = i == len(sizes) - 2
        if orthogonal:
            nn.init.orthogonal_(linear.weight, gain=last_gain if is_last else math.sqrt(2))
            nn.init.zeros_(linear.bias)
        if param_scale != 1.0:  # s = 1 keeps the module list (and state_dict keys) as before
            with torch.no_grad():
                linear.weight.div_(param_scale)
            layers.append(InputScale(param_scale))
        layers.append(linear)
        if not is_last:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def std_inverse(sigma: float, std_param: str) -> float:
    """The w that gives `sigma` under `std_param` (same initial distribution everywhere)."""
    if std_param == "log":
        return math.log(sigma)
    if std_param == "softplus":
        return sigma + math.log(-math.expm1(-sigma))  # softplus^-1, stable
    return sigma


class GaussianPolicy(nn.Module):
    """pi(a|s) = N(mu(s), diag sigma^2): MLP mean, state-independent sigma = f(w)."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: PolicyConfig):
        super().__init__()
        self.std_param = cfg.std_param
        self.mean_net = mlp(
            [obs_dim, *cfg.hidden_sizes, act_dim],
            cfg.activation,
            cfg.orthogonal_init,
            0.01,
            cfg.param_scale,
        )
        w0 = std_inverse(cfg.init_std, cfg.std_param)
        self.std_w = nn.Parameter(torch.full((act_dim,), w0))

    def std(self) -> torch.Tensor:
        """sigma [A]."""
        if self.std_param == "log":
            return self.std_w.exp()
        if self.std_param == "softplus":
            return nn.functional.softplus(self.std_w)
        return self.std_w

    def std_fisher(self) -> torch.Tensor:
        """Closed-form Fisher of the std block in w coordinates [A] (diagonal, no cross-terms)."""
        sigma = self.std()
        if self.std_param == "log":
            return torch.full_like(sigma, 2.0)
        dsigma = (
            torch.sigmoid(self.std_w) if self.std_param == "softplus" else torch.ones_like(sigma)
        )
        return 2.0 * dsigma**2 / sigma**2

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, O] -> (mean [B, A], std [A])."""
        return self.mean_net(obs), self.std()

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) summed over action dims: [B]."""
        mean, std = self(obs)
        return gaussian_log_prob(mean, std, act)

    def invalid_reason(self) -> str:
        """'' when every parameter is finite and sigma > 0, else why not (identity std can step
        below zero; a diverged step can leave NaN)."""
        if not all(bool(torch.isfinite(p).all()) for p in self.all_params()):
            return "non-finite parameters after the step"
        if not bool((self.std() > 0).all()):
            return "sigma <= 0 after the step"
        return ""

    def all_params(self) -> list[nn.Parameter]:
        """Every parameter the policy step moves, the std vector included (openai/baselines#262:
        TRPO's var_list left out logstd)."""
        return [*self.mean_net.parameters(), self.std_w]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.all_params())


def gaussian_log_prob(mean: torch.Tensor, std: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Sum over A of log N(act; mean, std^2). mean, act [B, A]; std [A] -> [B]."""
    z = (act - mean) / std
    return (-0.5 * z**2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_kl(mean0, std0, mean1, std1) -> torch.Tensor:
    """KL(N0 || N1) summed over action dims: [B]. Arguments broadcast to [B, A]."""
    var0, var1 = std0**2, std1**2
    return (torch.log(std1 / std0) + (var0 + (mean0 - mean1) ** 2) / (2 * var1) - 0.5).sum(-1)


def gaussian_entropy(std: torch.Tensor) -> torch.Tensor:
    """Entropy of N(., diag std^2): scalar."""
    return (std.log() + 0.5 * math.log(2 * math.pi * math.e)).sum()


class ValueNet(nn.Module):
    """V(s): obs [B, O] -> [B]."""

    def __init__(self, obs_dim: int, cfg: ValueConfig):
        super().__init__()
        self.net = mlp([obs_dim, *cfg.hidden_sizes, 1], "tanh", True, 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)


def flat_params(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate parameters into one vector [P]."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def set_flat_params(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    """Write the vector `flat` [P] back into `params` in place."""
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(flat[offset : offset + n].view_as(p))
            offset += n


def flat_grad(output: torch.Tensor, params: Sequence[torch.Tensor], **kwargs) -> torch.Tensor:
    """d output / d params as one vector [P] (zeros for parameters output does not touch)."""
    grads = torch.autograd.grad(output, params, allow_unused=True, **kwargs)
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
    )
