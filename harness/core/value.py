"""The one value-fitting routine every variant uses, after its policy step, on the same batch."""

from __future__ import annotations

import copy

import numpy as np
import torch
from npgbench.harness.core.config import ValueConfig
from npgbench.harness.core.metric_rows import MetricRow, empty_row
from npgbench.harness.core.policy import ValueNet
from npgbench.harness.core.rollout import Batch


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

    def fit(self, batch: Batch, rng: np.random.Generator) -> MetricRow:
        """Fit on batch.obs [B, O] -> batch.returns [B]; the "value fit" row: loss, explained
        variance, value_skipped / value_skip_reason.

        A fit that leaves non-finite weights (NaN returns, say) is undone like a failed policy
        step: weights and Adam state go back to before the fit, and the row says
        value_skipped=True with value_skip_reason. A clean fit's row says False / '', and
        metrics.parquet leaves both columns out of a run that never skipped
        (metric_rows.unheld_columns), so such runs keep the columns they always had.
        """
        weights = [p.detach().clone() for p in self.value_fn.parameters()]
        adam = copy.deepcopy(self.optimizer.state_dict())
        self._epochs(batch, rng)
        reason = self._invalid_reason(batch)
        if reason:
            with torch.no_grad():
                for p, old in zip(self.value_fn.parameters(), weights, strict=True):
                    p.copy_(old)
            self.optimizer.load_state_dict(adam)
        row = self._stats(batch)
        if reason:
            row.update(value_skipped=True, value_skip_reason=reason)
        return row

    def _invalid_reason(self, batch: Batch) -> str:
        """Why the fitted weights cannot stand ('' when they are all finite)."""
        if all(torch.isfinite(p).all() for p in self.value_fn.parameters()):
            return ""
        cause = "" if torch.isfinite(batch.returns).all() else " (non-finite value targets)"
        return f"non-finite value-net weights after the fit{cause}; restored the previous ones"

    def _epochs(self, batch: Batch, rng: np.random.Generator) -> None:
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

    @torch.no_grad()
    def _stats(self, batch: Batch) -> MetricRow:
        row = empty_row("value fit", ["value fit undone"])  # the file drops them if unheld
        row["value_loss"] = float((self.value_fn(batch.obs) - batch.returns).pow(2).mean())
        row["explained_variance"] = explained_variance(batch.values, batch.returns)
        return row


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - pred] / Var[target] of the pre-fit values (NaN when Var[target] = 0)."""
    var = float(target.var())
    return float("nan") if var == 0 else 1.0 - float((target - pred).var()) / var
