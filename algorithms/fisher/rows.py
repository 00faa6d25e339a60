"""Score rows in layer-factored form: one object feeds the exact, diagonal and K-FAC Fishers.

A Fisher estimate is F = S^T S for R rows S_r [P]. For the mean MLP every row is
layer-factored: the gradient of a row's objective w.r.t. Linear layer l (bias folded in) is
the outer product delta_r abar_r^T, with abar_r [d_in + 1] the layer input with a trailing 1
and delta_r [d_out] the gradient at the layer's pre-activation. Storing (abar, delta) per
layer instead of S costs R * sum(widths) numbers instead of R * P, and gives

    S v      = sum_l rowsum((Delta_l Vbar_l) * Abar_l) + Std v_std          (matvec)
    S^T y    = per layer Delta_l^T diag(y) Abar_l,  Std^T y                  (rmatvec)
    S S^T    = sum_l (Delta_l Delta_l^T) o (Abar_l Abar_l^T) + Std Std^T     (gram, o: Hadamard)
    diag F   = per layer (Delta_l^2)^T (Abar_l^2),  sum_r Std^2              (square_sum)

Two estimators (`score_rows`):
    sampled   rows grad log pi(a_i|s_i) / sqrt(N), a_i ~ pi_theta_old(.|s_i) drawn fresh
              (the true Fisher, as ACKTR does; buffer actions would give the empirical Fisher)
              = fresh actions + `rows_at`, the rows at given actions
    analytic  rows I^1/2 J: for each state and action dim a, the gradient of mu_a / sigma_a,
              over sqrt(B); plus A rows sqrt(std_fisher_a) e_a for the std block. S^T S = F exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from npgbench.algorithms.fisher import sample_actions
from npgbench.harness.core.policy import GaussianPolicy, gaussian_log_prob
from torch import nn


@dataclass
class ScoreRows:
    """R rows of a Fisher factor F = S^T S, stored per Linear layer."""

    inputs: list[torch.Tensor]
    """Per layer Abar [R, d_in + 1]: layer inputs with a ones column (the bias)."""
    grads: list[torch.Tensor]
    """Per layer Delta [R, d_out]: row gradients at the pre-activation, row scaling included."""
    std: torch.Tensor
    """[R, A]: the row's gradient w.r.t. std_w, row scaling included."""
    state_rows: int
    """Leading rows that carry the mean (K-FAC's A averages their inputs)."""

    @property
    def num_rows(self) -> int:
        return self.std.shape[0]

    @property
    def num_params(self) -> int:
        return (
            sum(a.shape[1] * d.shape[1] for a, d in zip(self.inputs, self.grads, strict=True))
            + self.std.shape[1]
        )

    @property
    def width(self) -> int:
        """Numbers stored per row: sum over layers of d_in + 1 + d_out, plus A."""
        return (
            sum(a.shape[1] + d.shape[1] for a, d in zip(self.inputs, self.grads, strict=True))
            + self.std.shape[1]
        )

    def to(self, dtype: torch.dtype) -> ScoreRows:
        return ScoreRows(
            [a.to(dtype) for a in self.inputs],
            [d.to(dtype) for d in self.grads],
            self.std.to(dtype),
            self.state_rows,
        )

    def split(self, v: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Flat [P] -> (per layer Vbar [d_out, d_in + 1] = [W | b], std part [A])."""
        blocks, offset = [], 0
        for a, d in zip(self.inputs, self.grads, strict=True):
            d_out, d_in = d.shape[1], a.shape[1] - 1
            w = v[offset : offset + d_out * d_in].view(d_out, d_in)
            b = v[offset + d_out * d_in : offset + d_out * (d_in + 1)]
            blocks.append(torch.cat([w, b[:, None]], dim=1))
            offset += d_out * (d_in + 1)
        return blocks, v[offset:]

    @staticmethod
    def join(blocks: list[torch.Tensor], std: torch.Tensor) -> torch.Tensor:
        """Inverse of `split`: (per layer [W | b], std [A]) -> flat [P] in parameter order."""
        parts = [t for blk in blocks for t in (blk[:, :-1].reshape(-1), blk[:, -1])]
        return torch.cat([*parts, std])

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """S v: [P] -> [R]."""
        blocks, v_std = self.split(v)
        out = self.std @ v_std
        for a, d, blk in zip(self.inputs, self.grads, blocks, strict=True):
            out = out + ((d @ blk) * a).sum(1)
        return out

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        """S^T y: [R] -> [P]."""
        blocks = [d.T @ (y[:, None] * a) for a, d in zip(self.inputs, self.grads, strict=True)]
        return self.join(blocks, self.std.T @ y)

    def gram(self) -> torch.Tensor:
        """S S^T [R, R] without forming S (cost R^2 * width instead of R^2 * P)."""
        k = self.std @ self.std.T
        for a, d in zip(self.inputs, self.grads, strict=True):
            k += (d @ d.T) * (a @ a.T)
        return k

    def square_sum(self) -> torch.Tensor:
        """diag(S^T S) [P]: sum over rows of squared scores."""
        blocks = [(d**2).T @ a**2 for a, d in zip(self.inputs, self.grads, strict=True)]
        return self.join(blocks, (self.std**2).sum(0))

    def dense_rows(self, start: int, stop: int) -> torch.Tensor:
        """S[start:stop] [r, P], materialised (the dense form, in chunks)."""
        parts = []
        for a, d in zip(self.inputs, self.grads, strict=True):
            outer = d[start:stop, :, None] * a[start:stop, None, :]  # [r, d_out, d_in + 1]
            parts += [outer[:, :, :-1].flatten(1), outer[:, :, -1]]
        return torch.cat([*parts, self.std[start:stop]], dim=1)

    def fisher(self, chunk: int = 1024) -> torch.Tensor:
        """Dense S^T S [P, P], accumulated over row chunks."""
        p = self.num_params
        f = torch.zeros(p, p, dtype=self.std.dtype)
        for start in range(0, self.num_rows, chunk):
            s = self.dense_rows(start, min(start + chunk, self.num_rows))
            f.addmm_(s.T, s)
        return f


def linear_layers(policy: GaussianPolicy) -> list[nn.Linear]:
    """The mean MLP's Linear layers in parameter order; refuses nets this form cannot cover."""
    layers = [m for m in policy.mean_net.modules() if isinstance(m, nn.Linear)]
    expected = [p for m in layers for p in (m.weight, m.bias)]
    actual = list(policy.mean_net.parameters())
    if (
        any(m.bias is None for m in layers)
        or len(expected) != len(actual)
        or any(e is not a for e, a in zip(expected, actual, strict=True))
    ):
        raise NotImplementedError(
            "layer-factored Fisher needs a mean net of biased nn.Linear layers (use npg_cg)"
        )
    return layers


def _forward(policy: GaussianPolicy, obs: torch.Tensor):
    """mean [N, A], per layer inputs [N, d_in] (detached) and pre-activations [N, d_out]."""
    inputs, outputs = [], []

    def hook(module, args, out):
        inputs.append(args[0].detach())
        outputs.append(out)

    handles = [m.register_forward_hook(hook) for m in linear_layers(policy)]
    try:
        mean = policy.mean_net(obs)
    finally:
        for h in handles:
            h.remove()
    return mean, inputs, outputs


def _with_bias(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)


def _dsigma_dw(policy: GaussianPolicy) -> torch.Tensor:
    """d sigma_a / d w_a [A] (sigma is elementwise in w, so the gradient of the sum is it)."""
    w = policy.std_w
    (d,) = torch.autograd.grad(policy.std().sum(), w)
    return d


def rows_at(policy: GaussianPolicy, obs: torch.Tensor, actions: torch.Tensor) -> ScoreRows:
    """Rows grad log pi(a_i|s_i) / sqrt(N) at the given actions: obs [N, O], actions [N, A].

    S^T S is the Fisher only for actions drawn from pi_theta itself (`sampled_rows`); for the
    buffer's actions it is the empirical Fisher (Kunstner et al. 2019), e.g. the
    npgbench-efisher example. One backward pass of the summed log-likelihood gives every row:
    the samples are independent terms, so row i of each pre-activation gradient is sample i's.
    """
    act_dim = policy.std_w.numel()
    if obs.ndim != 2 or actions.shape != (obs.shape[0], act_dim):
        raise ValueError(
            f"rows_at needs obs [N, O] and actions [N, {act_dim}], got "
            f"{tuple(obs.shape)} and {tuple(actions.shape)}"
        )
    n = obs.shape[0]
    mean, inputs, outputs = _forward(policy, obs)
    sigma = policy.std().detach()
    log_prob = gaussian_log_prob(mean, sigma, actions).sum()  # rows are independent terms
    deltas = torch.autograd.grad(log_prob, outputs)
    # d log N / d sigma = (z^2 - 1) / sigma, per sample; chain rule to w elementwise
    z = (actions - mean.detach()) / sigma
    std_rows = (z**2 - 1) / sigma * _dsigma_dw(policy)
    scale = n**-0.5
    return ScoreRows(
        [_with_bias(x) for x in inputs], [d * scale for d in deltas], std_rows * scale, n
    )


def sampled_rows(
    policy: GaussianPolicy, obs: torch.Tensor, gen: torch.Generator, samples_per_state: int = 1
) -> ScoreRows:
    """Rows grad log pi(a|s) / sqrt(N) with a ~ pi_theta(.|s) fresh, N = B * samples_per_state."""
    obs_k, actions = sample_actions(policy, obs, gen, samples_per_state)
    return rows_at(policy, obs_k, actions)


def analytic_rows(policy: GaussianPolicy, obs: torch.Tensor) -> ScoreRows:
    """Rows of I^1/2 J / sqrt(B): B * A mean rows (state-major per action dim), A std rows."""
    b = obs.shape[0]
    mean, inputs, outputs = _forward(policy, obs)
    sigma = policy.std().detach()
    a_dim = mean.shape[1]
    per_dim = [
        torch.autograd.grad(mean[:, a].sum() / sigma[a], outputs, retain_graph=a < a_dim - 1)
        for a in range(a_dim)
    ]
    scale = b**-0.5
    abar, deltas = [], []
    for layer, x in enumerate(inputs):
        width = outputs[layer].shape[1]
        abar.append(
            torch.cat(
                [_with_bias(x).repeat(a_dim, 1), torch.zeros(a_dim, x.shape[1] + 1, dtype=x.dtype)]
            )
        )
        grads = torch.cat([per_dim[a][layer] for a in range(a_dim)]) * scale
        deltas.append(torch.cat([grads, torch.zeros(a_dim, width, dtype=grads.dtype)]))
    # std block: sqrt(2) (dsigma/dw) / sigma = sqrt(std_fisher), the same at every state
    std_diag = torch.diag(2**0.5 * _dsigma_dw(policy) / sigma)
    std_rows = torch.cat([torch.zeros(b * a_dim, a_dim, dtype=sigma.dtype), std_diag])
    return ScoreRows(abar, deltas, std_rows, b * a_dim)


def score_rows(
    policy: GaussianPolicy,
    obs: torch.Tensor,
    estimator: str,
    gen: torch.Generator,
    samples_per_state: int = 1,
) -> ScoreRows:
    """The rows of the chosen estimator ('sampled' or 'analytic') at the current theta."""
    if estimator == "analytic":
        return analytic_rows(policy, obs)
    return sampled_rows(policy, obs, gen, samples_per_state)
