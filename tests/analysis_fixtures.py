"""Synthetic run directories for the analysis tests: the files harness/tracking/run_dir.py writes,
made with json + pandas only (no torch, no training), with returns chosen by the test."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

VERSIONS = {
    "python": "3.11",
    "torch": "2.13.0",
    "gymnasium": "1.4.0",
    "mujoco": "4.0.0",
    "numpy": "2.4",
}


def metrics_frame(
    returns, steps_per_update: int = 1000, seconds: float = 0.5, **columns
) -> pd.DataFrame:
    """One row per iteration with every always-present column; `columns` add or replace."""
    returns = np.asarray(returns, dtype=float)
    n = len(returns)
    frame = pd.DataFrame(
        {
            "iteration": np.arange(n),
            "step": (np.arange(n) + 1) * steps_per_update,
            "wall_time": (np.arange(n) + 1) * seconds,
            "return_mean": returns,
            "return_std": np.ones(n),
            "episodes": np.full(n, 4),
            "eval_return_mean": np.nan,
            "eval_return_std": np.nan,
            "kl": np.full(n, 0.01),
            "entropy": np.ones(n),
            "value_loss": np.ones(n),
            "explained_variance": np.zeros(n),
            "skipped": np.zeros(n, bool),
            "skip_reason": [""] * n,
            "time_sample": np.full(n, 0.3 * seconds),
            "time_update": np.full(n, 0.5 * seconds),
            "time_value": np.full(n, 0.2 * seconds),
        }
    )
    for key, value in columns.items():
        frame[key] = value
    return frame


def write_run(
    root: Path,
    algo: str,
    env: str,
    seed: int,
    returns=None,
    *,
    status="complete",
    config_hash: str = "",
    suite: str | None = None,
    label: str | None = None,
    grid: dict | None = None,
    frame: pd.DataFrame | None = None,
    num_params: int = 4546,
    total_steps: int | None = None,
    config: dict | None = None,
    meta_extra: dict | None = None,
    **columns,
) -> Path:
    """Write config.json, meta.json and (unless returns and frame are None) metrics.parquet.

    config: nested settings merged into config.json ({"policy": {"std_param": "log"}}); they
    enter the default config hash, so runs differing only there get their own directories.
    meta_extra: more meta.json fields (e.g. suite_sha256)."""
    ident = f"{algo}{env}{label}" + (json.dumps(config, sort_keys=True) if config else "")
    config_hash = config_hash or hashlib.md5(ident.encode()).hexdigest()[:8]
    run_id = f"{algo}__{env}__s{seed}__{config_hash}"
    path = Path(root) / run_id
    path.mkdir(parents=True, exist_ok=True)
    if frame is None and returns is not None:
        frame = metrics_frame(returns, **columns)
    steps = total_steps or (int(frame["step"].max()) if frame is not None else 0)
    settings = {
        "algo": algo,
        "env": env,
        "seed": seed,
        "total_steps": steps,
        "run_id": run_id,
        "config_hash": config_hash,
        "sampler": {},
        "update": {},
    }
    for section, values in (config or {}).items():
        merged = {**settings.get(section, {}), **values} if isinstance(values, dict) else values
        settings[section] = merged
    meta = {
        "status": status,
        "run_id": run_id,
        "config_hash": config_hash,
        "algo": algo,
        "env": env,
        "seed": seed,
        "versions": VERSIONS,
        "host": "test",
        "git_sha": "abc",
        "wall_time_s": 1.0,
        "num_params": num_params,
        "total_steps_done": steps,
        "error": "RuntimeError: boom" if status == "failed" else None,
    }
    if suite is not None:
        meta.update(suite=suite, label=label or algo, grid=grid or {})
    meta.update(meta_extra or {})
    (path / "config.json").write_text(json.dumps(settings))
    (path / "meta.json").write_text(json.dumps(meta))
    if frame is not None:
        frame.to_parquet(path / "metrics.parquet", index=False)
    return path


def learning(n: int, start: float, end: float, seed: int, noise: float = 5.0) -> np.ndarray:
    """A noisy rising curve from start to end over n iterations (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    return np.linspace(start, end, n) + noise * rng.standard_normal(n)


def synthetic_results(
    root: Path,
    envs=("EnvA-v5", "EnvB-v5"),
    seeds=(0, 1, 2),
    suite: str | None = None,
    n: int = 20,
    sha: str = "",
) -> Path:
    """Three variants (npg_cg with NPG columns, ppo, vanilla) x envs x seeds; sha: the
    suite_sha256 recorded in meta.json."""
    levels = {"npg_cg": 900.0, "ppo": 700.0, "vanilla": 300.0}
    for e, env in enumerate(envs):
        for algo, top in levels.items():
            for seed in seeds:
                extra = {}
                if algo == "npg_cg":
                    extra = {
                        "kl_delta": np.full(n, 0.01),
                        "accepted": np.ones(n, bool),
                        "time_grad": np.full(n, 0.1),
                        "time_solve": np.full(n, 0.05),
                        "kl": np.where(np.arange(n) % 5 == 0, 0.02, 0.01),
                    }
                end = top * (1 + e) * (0.8 + 0.15 * seed)
                returns = learning(n, 10.0, end, seed + 7 * e, noise=0.05 * top)
                meta = {"suite_sha256": sha} if sha else None
                write_run(root, algo, env, seed, returns, suite=suite, meta_extra=meta, **extra)
    return root


def fisher_cost_csv(path: Path, sizes=(1000, 2000, 4000, 8000)) -> Path:
    """A fisher-cost benchmark CSV with harness/bench/fisher_cost.py's columns: exact_dense
    time ~ n^3, cg ~ n, diagonal ~ n (seconds_total = fit + solve; seconds_fit differs), with
    the claims the preconditioners' configs declare."""
    from npgbench.harness.bench.fisher_cost import cost_arms

    arms, rows = cost_arms(), []
    for method, power in [("exact_dense", 3.0), ("cg", 1.0), ("diagonal", 1.0)]:
        arm = arms[method][1]
        for n in sizes:
            total = 1e-3 * (n / 1000) ** power
            rows.append(
                {
                    "method": method,
                    "n_params": n,
                    "hidden": int(n**0.5),
                    "batch": 2048,
                    "seconds_fit": 0.25 * total,
                    "seconds_solve": 0.75 * total,
                    "seconds_total": total,
                    "claim": arm.claim,
                    "expected_exponent": arm.expected_exponent,
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def experiment_results(root: Path, seeds=(0, 1), n: int = 10) -> Path:
    """One suite ("evidence") with every experiment the report recognises, on EnvA-v5:
    npg_exact under three std_params and three dampings (fisher_cond, some skipped updates),
    npg_cg over a kl_delta grid, npg_kfac with fidelity columns, and a fisher-cost CSV."""
    env, steps = "EnvA-v5", np.arange(n)
    level = {"log": 500.0, "softplus": 450.0, "identity": 300.0}
    for std_param, damping in [
        ("log", 0.01),
        ("softplus", 0.01),
        ("identity", 0.01),
        ("log", 0.001),
        ("log", 0.1),
    ]:
        for seed in seeds:
            top = level[std_param] * (1.0 if damping == 0.01 else 0.8) + 10 * seed
            skipped = (steps == n - 1) & (damping == 0.001)
            write_run(
                root,
                "npg_exact",
                env,
                seed,
                np.linspace(0, top, n),
                suite="evidence",
                label=f"npg_exact_{std_param}_{damping}",
                config={
                    "policy": {"std_param": std_param},
                    "update": {"damping": damping, "kl_delta": 0.01},
                },
                fisher_cond=np.full(n, 1.0 / damping),
                skipped=skipped,
                skip_reason=np.where(skipped, "non-finite x", ""),
            )
    for delta, top in [(0.001, 200.0), (0.01, 800.0), (0.03, 780.0), (0.1, 100.0)]:
        for seed in seeds:
            write_run(
                root,
                "npg_cg",
                env,
                seed,
                np.linspace(0, top + seed, n),
                suite="evidence",
                label=f"npg_cg[update.kl_delta={delta}]",
                grid={"update.kl_delta": delta},
                config={
                    "policy": {"std_param": "log"},
                    "update": {"damping": 0.1, "kl_delta": delta},
                },
            )
    cosine = np.where(steps % 2 == 0, 0.9 - 0.01 * steps, np.nan)
    for seed in seeds:
        write_run(
            root,
            "npg_kfac",
            env,
            seed,
            np.linspace(0, 600, n),
            suite="evidence",
            config={
                "policy": {"std_param": "log"},
                "update": {"damping": 0.01},
                "diagnostics": {"fidelity_every": 2},
            },
            fidelity_cosine=cosine,
            fidelity_kl_ratio=np.where(np.isnan(cosine), np.nan, 2.0),
        )
    fisher_cost_csv(root / "bench" / "fisher_cost.csv")
    return root


# ----------------------------------------------------------------------------- planned suites

KL_STEP = {"step_rule": "kl", "kl_delta": 0.01}
CG_DEFAULTS = {"cg_iters": 10, "cg_tol": 1e-10, "max_backtracks": 0, "backtrack_coeff": 0.8}
EXACT_DEFAULTS = {"estimator": "sampled", "fisher_samples_per_state": 1, "max_backtracks": 0}
PLANNED_ARMS = {
    # name: (algo, update settings, suite): the configs of controlled-1m and ablation-1m
    "npg_exact": ("npg_exact", {**EXACT_DEFAULTS, **KL_STEP, "damping": 0.01}, "controlled-1m"),
    "npg_cg": ("npg_cg", {**CG_DEFAULTS, **KL_STEP, "damping": 0.1}, "controlled-1m"),
    "npg_kfac": (
        "npg_kfac",
        {**KL_STEP, "damping": 0.01, "kfac_stat_decay": 0.95, "max_backtracks": 0},
        "controlled-1m",
    ),
    "npg_diag": ("npg_diag", {**KL_STEP, "damping": 0.01, "max_backtracks": 0}, "controlled-1m"),
    "trpo": (
        "trpo",
        {**CG_DEFAULTS, **KL_STEP, "damping": 0.1, "max_backtracks": 10},
        "controlled-1m",
    ),
    "vanilla": ("vanilla", dict(KL_STEP), "controlled-1m"),
    "ppo": ("ppo", {"lr": 3e-4}, "controlled-1m"),
    "exact_d0.1": ("npg_exact", {**EXACT_DEFAULTS, **KL_STEP, "damping": 0.1}, "ablation-1m"),
    "cgexact_d0.01": (
        "npg_cg",
        {**CG_DEFAULTS, **KL_STEP, "damping": 0.01, "cg_iters": 600, "cg_rtol": 0.005},
        "ablation-1m",
    ),
    "cgexact_d0.1": (
        "npg_cg",
        {**CG_DEFAULTS, **KL_STEP, "damping": 0.1, "cg_iters": 300, "cg_rtol": 0.005},
        "ablation-1m",
    ),
    "cg10_d0.01": ("npg_cg", {**CG_DEFAULTS, **KL_STEP, "damping": 0.01}, "ablation-1m"),
    "kfac_nodecay": (
        "npg_kfac",
        {**KL_STEP, "damping": 0.01, "kfac_stat_decay": 0.0, "max_backtracks": 0},
        "ablation-1m",
    ),
    "cg_kl0.0065": (
        "npg_cg",
        {**CG_DEFAULTS, "step_rule": "kl", "kl_delta": 0.0065, "damping": 0.1},
        "ablation-1m",
    ),
}
EVAL_POINTS = 24


def planned_run(
    root: Path,
    arm: str,
    env: str,
    seed: int,
    final: float,
    *,
    update: dict | None = None,
    policy: dict | None = None,
    suite: str | None = None,
    label: str | None = None,
    measured: bool = False,
    **columns,
) -> Path:
    """One run of a PLANNED_ARMS arm under controlled-1m's protocol (1M steps, 64x64, log std)
    whose evaluation curve rises linearly to `final` and holds it for its last 3 points, so
    the plan's fallback final return is exactly `final`. update / policy: settings on top of
    the arm's (e.g. {"kl_delta": 0.03}, {"param_scale": 10.0}); measured: add the held-out
    diagnostics and the diagnostics settings that enable them (not part of the experiment)."""
    algo, settings, home = PLANNED_ARMS[arm]
    curve = np.concatenate([np.linspace(0.0, final, EVAL_POINTS - 2), [final, final]])
    config = {
        "total_steps": 1_000_000,
        "policy": {"hidden_sizes": [64, 64], "init_std": 1.0, "std_param": "log", **(policy or {})},
        "sampler": {"num_envs": 16, "steps_per_update": 2048},
        "update": {**settings, **(update or {})},
    }
    if measured:
        config["diagnostics"] = {"heldout_every": 10, "snapshot_every": 100}
        columns.setdefault("step_gain_insample", np.full(EVAL_POINTS, 0.02))
        columns.setdefault("step_gain_heldout", np.full(EVAL_POINTS, 0.005))
        columns.setdefault("step_kl_insample", np.full(EVAL_POINTS, 0.01))
        columns.setdefault("step_kl_heldout", np.full(EVAL_POINTS, 0.02))
        columns.setdefault("prev_step_kl_fresh", np.full(EVAL_POINTS, 0.015))
    # a complete run's rows: 489 updates of 2,048 steps (harness/tracking/integrity.py checks the
    # count), evaluated every 20 updates; EVAL_POINTS-long columns sit at the evaluations
    rows = -(-1_000_000 // 2048)
    at = np.arange(19, rows, 20)[:EVAL_POINTS]

    def per_row(values):
        full = np.full(rows, np.nan)
        full[at] = values
        return full

    columns = {k: per_row(v) if len(v) == EVAL_POINTS else v for k, v in columns.items()}
    if "kl_delta" in config["update"]:
        columns.setdefault("kl_delta", np.full(rows, config["update"]["kl_delta"]))
    frame = metrics_frame(
        np.linspace(0.0, final, rows),
        steps_per_update=2048,
        eval_return_mean=per_row(curve),
        **columns,
    )
    return write_run(
        root,
        algo,
        env,
        seed,
        frame=frame,
        suite=suite or home,
        label=label or arm,
        config=config,
    )
