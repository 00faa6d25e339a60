"""What a sweep's workers run: the worker task, its job dicts and the dask client
(harness/sweep/pool.py submits the tasks and survives dead workers).

`run_task` is what a worker runs: one `harness.runner.train` call with its W&B mirror, under
a per-run flock so that two processes (an orphaned worker of a killed sweep, a dask retry of
a task whose worker died, a second sweep on the same --out) never train the same run at once.
It returns a small summary dict and never raises for a failed run: meta.json already records
the traceback, and one bad run must not cancel the others.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.identity import run_id
from npgbench.harness.core.returns import run_final_return

DASK_TIMEOUT_S = 10
"""Seconds to wait for a --scheduler to answer before a one-line error (exit 2)."""


def run_task(job: dict) -> dict:
    """One run, executed in a worker. Never raises for a failed run: that is a result."""
    _thread_lock_for_tqdm()
    # Imported before the run's lock is taken: loading torch takes seconds, during which a
    # locked run directory would sit without its meta.json.
    from npgbench.harness.runner import train
    from npgbench.harness.tracking.integrity import verified_status
    from npgbench.harness.tracking.live import TensorBoardMirror, compose
    from npgbench.harness.tracking.run_dir import RunBusy, holding_run
    from npgbench.harness.tracking.wandb_mirror import WandbMirror

    out, rid = Path(job["out"]), job["run_id"]
    run_dir = out / rid
    result = _failed_result(job, run_dir)
    here = run_id(job["cfg"])
    if here != rid:  # e.g. a cluster worker with another version of the code
        result["error"] = (
            f"this worker computes run id {here}, the sweep {rid}: install the same npg-bench "
            "version on every worker"
        )
        return result
    start = time.time()
    held = contextlib.ExitStack()
    try:
        held.enter_context(holding_run(run_dir))
    except RunBusy:  # a live process (orphaned worker, second sweep, `npgbench run`)
        result["status"] = "busy"
        return result
    except OSError as exc:  # a read-only or full --out: this run fails, the sweep goes on
        result["error"] = f"cannot lock {run_dir}: {exc.strerror or exc}"
        return result
    mirror = board = None
    with held:  # releases the flock
        try:
            if verified_status(run_dir) == "complete":  # finished elsewhere (dask retry)
                result["status"] = "complete"
                return result
            mirror = WandbMirror(rid, run_dir, job["wandb_config"], **job["wandb"])
            board = TensorBoardMirror(run_dir, job["cfg"].algo) if job.get("tensorboard") else None
            on_row = compose(mirror.on_row, board and board.on_row)
            try:
                train(job["cfg"], out, progress=False, on_row=on_row, extra_meta=job["meta"])
                result["status"] = "complete"
            except Exception as exc:  # recorded in meta.json by train; the sweep goes on
                result["error"] = (f"{type(exc).__name__}: {exc}".splitlines() or [""])[0][:300]
            result["final_return"] = run_final_return(run_dir)
        finally:
            if board is not None:
                board.close()
            if mirror is not None:
                _finish_mirror(mirror, result, start)
    result["wall_s"] = time.time() - start
    return result


def _failed_result(job: dict, run_dir: Path) -> dict:
    """The summary a worker returns, as it stands until the run completes."""
    return {
        "run_id": job["run_id"],
        "label": job["label"],
        "env": job["cfg"].env,
        "seed": job["cfg"].seed,
        "run_dir": str(run_dir),
        "status": "failed",
        "error": "",
        "final_return": math.nan,
        "wall_s": 0.0,
    }


def _finish_mirror(mirror, result: dict, start: float) -> None:
    """Close the run's W&B mirror with its outcome (exit code 1 unless complete)."""
    mirror.finish(
        {
            "status": result["status"],
            "final_return": result["final_return"],
            "wall_time_s": time.time() - start,
        },
        exit_code=0 if result["status"] == "complete" else 1,
    )


def _thread_lock_for_tqdm() -> None:
    """Give tqdm a thread lock in this worker (its bars are off here anyway). tqdm's default
    write lock holds a multiprocessing semaphore, which a worker killed by a signal leaves
    behind for the resource tracker to report as leaked (tqdm.set_lock, tqdm/std.py)."""
    import threading

    from tqdm import tqdm

    if not isinstance(getattr(tqdm, "_lock", None), type(threading.RLock())):
        tqdm.set_lock(threading.RLock())


def dask_client(scheduler: str | None, jobs: int):
    """A client of the given scheduler (one-line error within the timeout) or a LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=f"{DASK_TIMEOUT_S}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"--scheduler {scheduler}: no dask scheduler answered within "
                f"{DASK_TIMEOUT_S} s ({type(exc).__name__})"
            ) from None
    cluster = LocalCluster(
        n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


def make_jobs(suite, tasks, out: Path, wandb: dict) -> list[dict]:
    """Picklable job dicts: config, identity, meta.json extras and W&B settings per task."""
    import dataclasses

    from npgbench.harness.core.identity import config_record

    jobs = []
    for task in tasks:
        meta = {"suite": suite.name, "label": task.label, "grid": task.grid}
        if task.aliases:
            meta["aliases"] = task.aliases
        shown = dataclasses.replace(
            task.cfg.wandb, mode=wandb["mode"], project=wandb["project"], group=wandb["group"]
        )
        config = {**config_record(dataclasses.replace(task.cfg, wandb=shown)), **meta}
        jobs.append(
            {
                "cfg": task.cfg,
                "out": str(out),
                "run_id": task.run_id,
                "label": task.label,
                "meta": meta,
                "wandb": wandb,  # name, group, job_type, tags: from the config's label
                "wandb_config": config,
            }
        )
    return jobs


def record_worker_death(job: dict, reason: str) -> dict:
    """Mark the job's run failed with `reason` in its meta.json; the sweep's result dict.

    Done under the run's flock (free once its worker is dead); a run whose lock is held by a
    live process is left alone and reported busy.
    """
    from npgbench.harness.tracking.run_dir import atomic_write_json, lock_run, read_json

    cfg, run_dir = job["cfg"], Path(job["out"]) / job["run_id"]
    result = {
        "run_id": job["run_id"],
        "label": job["label"],
        "env": cfg.env,
        "seed": cfg.seed,
        "run_dir": str(run_dir),
        "status": "failed",
        "error": reason,
        "final_return": float("nan"),
        "wall_s": 0.0,
    }
    try:
        lock = lock_run(run_dir)
    except OSError as exc:
        result["error"] = f"{reason}; cannot lock {run_dir}: {exc.strerror or exc}"
        return result
    if lock is None:
        result["status"] = "busy"
        return result
    try:
        identity = {"run_id": job["run_id"], "algo": cfg.algo, "env": cfg.env, "seed": cfg.seed}
        meta = read_json(run_dir / "meta.json") or {**identity, **job["meta"]}
        meta.update(status="failed", error=reason, finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        meta.setdefault("traceback", "")
        atomic_write_json(run_dir / "meta.json", meta)
    finally:
        lock.close()
    return result
