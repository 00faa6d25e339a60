"""Each publisher's own estimator, applied to our runs, so ours and theirs are one quantity.

A published number is a statistic of that source's runs; comparing it with a different
statistic of ours (the mean over seeds of per-run maxima against the maximum of the seed-mean
curve, say) builds a bias into the ratio. Every source below is read the way it computed its
table, and our number is the same computation on our curves:

- Tianshou (thu-ml/tianshou examples/mujoco/tools.py): `merge_csv` averages the seeds'
  `test/rew` curves at each env_step (the "rew" column) with `np.std` across seeds beside it
  ("rew:shaded", ddof 0); `numerical_anysis` cuts the merged curve at xlim = 1M steps
  (interpolating the point at xlim) and reports `max_reward`, the maximum over time of that
  seed-mean curve, and `max_std`, the std at the same step. Its README table is that pair.
- CleanRL (vwxyzjn/cleanrl docs/benchmark tables are written by openrlbenchmark's
  openrlbenchmark/rlops.py `compare`): per run, the mean of the last
  `metric_last_n_average_window` = 100 logged `charts/episodic_return` values (training
  episodes), then mean and `np.std` (ddof 0) over runs.
- openai/baselines benchmarks_mujoco1M.htm: the page does not state its estimator (its
  curves are "Reward (avg. 6 seeds)" of training episodes against timesteps). Read here, as an
  assumption that could not be confirmed, as the mean over seeds of the last 100 training
  episodes (ppo2 logs `eprewmean` over its last 100 episodes).
- PPO paper (Schulman et al. 2017, Figure 3 read off by Tianshou): the mean of the last 100
  training episodes, mean over its 3 seeds, as the suite's source string records.
- Any other source: "best" references take Tianshou's estimator (the max of the seed-mean
  curve, which is also how TD3's "max average return" is formed), "final" ones our final
  return (the mean of the last `final_frac` of iterations), mean over seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from npgbench.analysis.stats import run_metrics as metrics

EVAL_COLUMNS = ("eval_sampled_return_mean", "eval_return_mean", "return_mean")
"""The curve a max-of-mean estimator reads, in order of preference: sampled-action
evaluations (Tianshou's test episodes sample: its PG policies default to deterministic_eval
False, tianshou/policy/modelfree/pg.py), mean-action evaluations, training episodes."""
CURVE_TEXT = {
    "eval_sampled_return_mean": "evaluation curve, {k} episodes, sampled actions",
    "eval_return_mean": "evaluation curve, {k} episodes, mean action",
    "return_mean": "training-episode curve (no evaluations recorded)",
}


@dataclass(frozen=True)
class Publisher:
    """A source of published numbers and how it computed them."""

    prefix: str
    """A reference whose `source` starts with this belongs to the publisher."""
    short: str
    estimator: str
    """"max_of_mean" or "last_episodes"."""
    seeds: int | None
    """Their seed count (their uncertainty is propagated only when known)."""
    replicated_by: str | None
    """The shipped suite that runs at this source's settings (None: none does)."""
    confirmed: bool = True
    """False: the source does not state its estimator; ours is an assumption."""


PUBLISHERS = (
    Publisher("thu-ml/tianshou", "Tianshou", "max_of_mean", 10, "tianshou-mujoco"),
    Publisher("openai/baselines", "baselines", "last_episodes", 6, "baselines-1m", False),
    Publisher("vwxyzjn/cleanrl", "CleanRL", "last_episodes", 3, None),
    Publisher("Schulman et al. 2017", "PPO paper", "last_episodes", 3, "ppo-paper"),
)
LAST_EPISODES = 100


def publisher(ref: dict) -> Publisher | None:
    """The known publisher of a reference (None: a source this module does not know)."""
    return next((p for p in PUBLISHERS if str(ref["source"]).startswith(p.prefix)), None)


def estimator_of(ref: dict) -> str:
    """ "max_of_mean", "last_episodes" or "final" (see the module docstring)."""
    known = publisher(ref)
    if known is not None:
        return known.estimator
    return "max_of_mean" if ref["protocol"] == "best" else "final"


@dataclass(frozen=True)
class Estimate:
    """Our number under one estimator, from n runs."""

    value: float
    std: float
    """Spread over seeds as the publisher reports it (np.std, ddof 0)."""
    se: float
    """Standard error of `value` (sample std, ddof 1, over sqrt(n)); NaN when n < 2."""
    n: int
    curve: str
    """The per-run column the estimate read."""


NO_ESTIMATE = Estimate(math.nan, math.nan, math.nan, 0, "")


def curve_column(runs: pd.DataFrame) -> str:
    """The first EVAL_COLUMNS entry that every run of `runs` recorded."""
    for column in EVAL_COLUMNS:
        if column in runs and runs.groupby("run_id")[column].apply(lambda s: s.notna().any()).all():
            return column
    return "return_mean"


def clip_at(steps_T: np.ndarray, values_T: np.ndarray, xlim: float):
    """The curve up to xlim, its last point interpolated at xlim when it runs past it (as
    tools.py's numerical_anysis does); unchanged when it ends before xlim."""
    i = int(np.searchsorted(steps_T, xlim))
    if not np.isfinite(xlim) or i >= len(steps_T) or i == 0:
        return steps_T, values_T
    at = float(np.interp(xlim, steps_T[: i + 1], values_T[: i + 1]))
    return np.append(steps_T[:i], xlim), np.append(values_T[:i], at)


def max_of_mean(runs: pd.DataFrame, xlim: float = math.inf) -> Estimate:
    """Tianshou's max_reward / max_std: the seed-mean curve's maximum over the steps every
    run logged (forward-filled: NaN means nothing was logged there), and the std across seeds
    at that step. runs: the per-iteration frame of one (variant, env)."""
    column = curve_column(runs)
    wide = (
        runs.sort_values(["run_id", "iteration"])
        .assign(filled=lambda d: d.groupby("run_id")[column].ffill())
        .pivot_table(index="step", columns="run_id", values="filled", aggfunc="last")
    )
    if column != "return_mean":  # evaluation steps only: iterations without one are gaps
        wide = wide.loc[runs.loc[runs[column].notna(), "step"].unique()].sort_index()
    wide = wide.dropna()
    if wide.empty:
        return NO_ESTIMATE
    steps_T = wide.index.to_numpy(float)
    mean_T = wide.mean(axis=1).to_numpy(float)
    std_T = wide.std(axis=1, ddof=0).to_numpy(float)
    _, mean_T = clip_at(steps_T, mean_T, xlim)
    steps_T, std_T = clip_at(steps_T, std_T, xlim)
    best, n = int(np.argmax(mean_T)), wide.shape[1]
    std = float(std_T[best])
    return Estimate(float(mean_T[best]), std, _se(std, n), n, column)


def last_episodes_mean(run: pd.DataFrame, count: int = LAST_EPISODES) -> float:
    """Mean training return over one run's last `count` episodes: iterations taken from the
    end, each weighted by its episode count (the boundary iteration by the part needed); an
    iteration's mean stands for each of its episodes."""
    df = run.sort_values("iteration")
    eps_T = df["episodes"].fillna(0).to_numpy(float)
    ret_T = df["return_mean"].to_numpy(float)
    ok = (eps_T > 0) & np.isfinite(ret_T)
    eps_T, ret_T = eps_T[ok][::-1], ret_T[ok][::-1]
    if not len(eps_T):
        return math.nan
    before = np.concatenate([[0.0], np.cumsum(eps_T)[:-1]])
    weight_T = np.clip(count - before, 0.0, eps_T)
    return float(np.sum(weight_T * ret_T) / np.sum(weight_T))


def per_run(values_S: np.ndarray, curve: str) -> Estimate:
    """Mean over seeds of per-run values, with np.std (ddof 0) as CleanRL's table shows."""
    values_S = np.asarray(values_S, dtype=float)
    values_S = values_S[np.isfinite(values_S)]
    n = len(values_S)
    if not n:
        return NO_ESTIMATE
    std = float(values_S.std(ddof=0))
    return Estimate(float(values_S.mean()), std, _se(std, n), n, curve)


def _se(std_ddof0: float, n: int) -> float:
    """Standard error of a mean of n values whose ddof-0 std is std_ddof0."""
    return std_ddof0 / math.sqrt(n - 1) if n > 1 else math.nan


def estimate(ref: dict, runs: pd.DataFrame, final_frac: float = 0.1) -> Estimate:
    """Our number for one reference from the per-iteration frame of its (variant, env)."""
    if runs.empty:
        return NO_ESTIMATE
    kind = estimator_of(ref)
    if kind == "max_of_mean":
        return max_of_mean(runs, float(ref["steps"]) if ref.get("steps") else math.inf)
    groups = [df for _, df in runs.groupby("run_id", sort=True)]
    if kind == "last_episodes":
        values = [last_episodes_mean(df) for df in groups]
        return per_run(np.array(values), "return_mean")
    finals = [
        metrics.final_return(df.sort_values("iteration")["return_mean"], final_frac)
        for df in groups
    ]
    return per_run(np.array(finals), "return_mean")


def their_se(ref: dict) -> tuple[float, int | None]:
    """(standard error of their mean, their seed count): their std is np.std (ddof 0) over
    their seeds for the publishers above; NaN / None where the std or the count is unknown."""
    known = publisher(ref)
    std = ref.get("std")
    if known is None or known.seeds is None or std is None or not np.isfinite(std):
        return math.nan, known.seeds if known else None
    return _se(float(std), known.seeds), known.seeds


def estimator_text(ref: dict, est: Estimate, episodes: str) -> str:
    """The estimator named in a table row (for our number; theirs is the same by design)."""
    kind = estimator_of(ref)
    if kind == "max_of_mean":
        curve = CURVE_TEXT.get(est.curve, CURVE_TEXT["return_mean"]).format(k=episodes)
        return f"max over time of the seed-mean {curve}; ± std across seeds at that step"
    if kind == "last_episodes":
        text = f"mean of the last {LAST_EPISODES} training episodes per run, mean ± std over runs"
        known = publisher(ref)
        return text + ("" if known is None or known.confirmed else " (their estimator: assumed)")
    return "final return (last iterations' training return) per run, mean ± std over runs"
