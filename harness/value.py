"""The one value-fitting routine every variant uses, after its policy step, on the same batch."""

from __future__ import annotations

import numpy as np
import torch

from harness.config import ValueConfig
from harness.policy import ValueNet
from harness.rollout import Batch


class ValueFitter:
    """Adam regression of V(s) on the GAE returns, `epochs` passes of shuffled minibatches."""

    def __init__(self, value_fn: ValueNet, cfg: ValueConfig):
        self.value_fn = value_fn
        self.cfg = cfg
        self.optimizer = torch.optim.Adam(value_fn.parameters(), lr=cfg.lr, eps=1e-5, fused=True)

    def state_dict(self) -> dict:
        """Adam's moments and step count (the net's weights are the runner's to save)."""
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    def fit(self, batch: Batch, rng: np.random.Generator) -> dict[str, float]:
        """Fit on batch.obs [B, O] -> batch.returns [B]; report loss and explained variance."""
        n, size = len(batch), min(self.cfg.minibatch_size, len(batch))
        for _ in range(self.cfg.epochs):
            order = torch.from_numpy(rng.permutation(n))
            for start in range(0, n - size + 1, size):
                idx = order[start : start + size]
                loss = (self.value_fn(batch.obs[idx]) - batch.returns[idx]).pow(2).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.value_fn.parameters(), self.cfg.max_grad_norm)
                self.optimizer.step()
        with torch.no_grad():
            pred = self.value_fn(batch.obs)
            value_loss = float((pred - batch.returns).pow(2).mean())
        return {
            "value_loss": value_loss,
            "explained_variance": explained_variance(batch.values, batch.returns),
        }


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - pred] / Var[target] of the pre-fit values (NaN when Var[target] = 0)."""
    var = float(target.var())
    return float("nan") if var == 0 else 1.0 - float((target - pred).var()) / var
