"""W&B mirror of one run: a replayable copy of the local run directory, never its source.

Every call into wandb is wrapped: the first exception is logged once and the mirror disables
itself, so W&B can never fail, block or slow the local results.
`wandb.init` gets a timeout, and `finish` runs in a thread joined with a timeout.

What a W&B workspace sees (CleanRL's and RL-Zoo's habits, so their dashboards carry over):
  keys      metrics.parquet columns under the W&B keys the schema declares (core columns in
            harness/core/metrics.py, the variant's own in Variant.metrics; undeclared ones
            under other/), plus charts/SPS, against global_step; the parquet keeps its own
            column names
  group     suite__label__env: W&B's grouping then averages the seeds of one variant on one
            env (wandb.group overrides it)
  job_type  the variant label (trpo_lowdamp, npg_cg[update.kl_delta=0.02]); name
            label__env__sSEED; tags suite:, env:, algo:, label:, npg-bench:
  config    the resolved config plus run_id, config_hash, git_sha, versions, npg_bench_version
  id        run id + a random token for an attempt that trains from scratch, so a rerun
            never appends rows (or `_step`) to a synced run; an attempt that continues from
            checkpoint.pt continues the W&B run of the attempt before it (same id,
            resume="allow") and logs the rows W&B lacks: online, those after the server's
            last step; offline (where wandb starts a new record), every row, the restored
            ones first. Either way the newest record holds every row exactly once.

Process model: the sweep's parent calls `prepare_parent` (wandb.setup starts one wandb-core
service and exports WANDB_SERVICE, which loky workers inherit), each worker opens one mirror
per run and finishes it in a `finally`, so workers exit cleanly. Offline records live in
<run_dir>/wandb/; a new attempt moves the earlier attempts' records into
<run_dir>/wandb/superseded/ (never deletes them), so that the record to upload is the one
`wandb sync <run_dir>/wandb/offline-run-*` finds.
"""

from __future__ import annotations

import hashlib
import logging
import math
import netrc
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from npgbench.harness.core.config import WANDB_MODES as MODES
from npgbench.harness.core.metric_rows import unheld_columns
from npgbench.harness.core.returns import final_return
from npgbench.harness.tracking.wandb_keys import (
    SPS_KEY,
    STEP_KEY,
    metric_keys,
    naming,
    npg_bench_version,
    wandb_row,
)

log = logging.getLogger("npgbench.wandb")


def has_credentials() -> bool:
    """An API key in WANDB_API_KEY or ~/.netrc (no network call, no prompt)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = re.sub(r"^https?://", "", os.environ.get("WANDB_BASE_URL", "api.wandb.ai")).split("/")[0]
    try:
        auth = netrc.netrc(os.environ.get("NETRC")).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        auth = None
    return bool(auth and auth[2])


def resolve_mode(mode: str) -> str:
    """auto -> WANDB_MODE when it names a mode, else online with credentials, else offline."""
    if mode not in MODES:
        from npgbench.harness.core.config import ConfigError

        raise ConfigError(f"wandb mode {mode!r}: valid: {', '.join(MODES)}")
    if mode != "auto":
        return mode
    # wandb's own aliases: dryrun = offline, run = online (wandb/sdk/wandb_settings.py)
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    env = {"dryrun": "offline", "run": "online"}.get(env, env)
    if env in MODES and env != "auto":
        return env
    return "online" if has_credentials() else "offline"


def prepare_parent(mode: str) -> None:
    """Start the W&B service in the parent before workers spawn (they inherit its address)."""
    os.environ.setdefault("WANDB_SILENT", "true")
    if mode == "disabled":
        return
    try:
        import wandb

        wandb.setup()
    except Exception as exc:  # W&B trouble must never stop the sweep
        log.warning("W&B setup failed, runs will try on their own: %s", exc)


def attempt_id(run_id: str) -> str:
    """A fresh W&B run id for one attempt of run_id: [A-Za-z0-9_-], at most 64 characters."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", run_id)
    if len(clean) > 55:
        clean = clean[:46] + "-" + hashlib.sha1(run_id.encode()).hexdigest()[:8]
    return f"{clean}-{uuid.uuid4().hex[:8]}"


SUPERSEDED = "superseded"
"""<run_dir>/wandb/<SUPERSEDED>/: the records of earlier attempts, kept."""


RECORD = re.compile(r"^(?:offline-)?run-(\d{8}_\d{6})-(.+)$")
"""wandb's name of one attempt's record folder: [offline-]run-<YYYYmmdd_HHMMSS>-<run id>."""


def records(run_dir: Path) -> list[Path]:
    """The W&B record folders of this run's attempts under <run_dir>/wandb, oldest first."""
    found = [p for p in (Path(run_dir) / "wandb").glob("*run-*") if RECORD.match(p.name)]
    return sorted((p for p in found if p.is_dir()), key=lambda p: RECORD.match(p.name).groups())


def supersede(run_dir: Path) -> str | None:
    """Move the earlier attempts' records into wandb/superseded/ (nothing is deleted);
    the W&B id of the newest of them, or None."""
    earlier = records(run_dir)
    if not earlier:
        return None
    kept = Path(run_dir) / "wandb" / SUPERSEDED
    kept.mkdir(parents=True, exist_ok=True)
    for folder in earlier:
        target, n = kept / folder.name, 0
        while target.exists():  # two attempts in one second under one id
            n += 1
            target = kept / f"{folder.name}.{n}"
        folder.rename(target)
    return RECORD.match(earlier[-1].name).group(2)


def identity() -> dict:
    """What the W&B config adds to the resolved config: where and with what it ran."""
    from npgbench.harness.tracking.run_dir import git_sha, versions

    return {"git_sha": git_sha(), "versions": versions(), "npg_bench_version": npg_bench_version()}


class WandbMirror:
    """One W&B run per attempt of one (variant, env, seed): config, metrics rows, summary."""

    def __init__(
        self,
        run_id: str,
        run_dir: Path,
        config: dict,
        mode: str,
        project: str,
        group: str = "",
        job_type: str = "",
        init_timeout: float = 30.0,
    ):
        self.run: Any = None
        self.mode, self.run_dir = mode, Path(run_dir)
        self.last: dict = {}
        self.returns: list[float] = []
        """Every row's return_mean so far, restored rows first: the run's training returns,
        for the final return of the summary (the rows are metrics.parquet's)."""
        self.first = 0
        """Rows with a smaller iteration are in W&B already (a resumed online run)."""
        self.keys = metric_keys(str(config.get("algo", "")))  # core + the variant's columns
        if mode == "disabled":
            return
        try:
            self._start(run_id, config, project, group, job_type, init_timeout)
        except Exception as exc:
            self._fail("init", exc)

    def _start(self, run_id, config, project, group, job_type, init_timeout) -> None:
        """wandb.init of this attempt: a fresh id, or the id of the attempt it continues."""
        import wandb
        from npgbench.harness.tracking.checkpoint import FILENAME

        self.run_dir.mkdir(parents=True, exist_ok=True)
        previous = supersede(self.run_dir)
        resumes = previous is not None and (self.run_dir / FILENAME).is_file()
        names = naming(config, group)
        settings = wandb.Settings(
            x_disable_stats=True,
            init_timeout=init_timeout,
            console="off",
            save_code=False,
            silent=True,
        )
        kwargs = dict(
            project=project,
            group=names["group"],
            job_type=job_type or names["job_type"],
            name=names["name"],
            tags=names["tags"],
            dir=str(self.run_dir),
            config={"run_id": run_id, **config, **identity()},
            mode=self.mode,
            reinit="finish_previous",
            settings=settings,
        )
        try:
            if not resumes:
                raise LookupError("no attempt to continue")
            self.run = wandb.init(id=previous, resume="allow", **kwargs)
            self.first = int(self.run.step)  # online: the server's next step; offline: 0
        except Exception as exc:
            if resumes:  # e.g. a live wandb service still holds the killed attempt's id
                log.warning(
                    "W&B run %s not continued (%s): a new one gets every row", previous, exc
                )
            self.run = wandb.init(id=attempt_id(run_id), **kwargs)
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY)

    def _fail(self, where: str, exc: BaseException) -> None:
        log.warning(
            "W&B %s failed; local results are unaffected, mirror off: %s: %s",
            where,
            type(exc).__name__,
            exc,
        )
        self.run = None

    def on_row(self, row: dict) -> None:
        """Log one metrics row under its W&B keys (see wandb_row), unless W&B has it."""
        self.returns.append(float(row.get("return_mean", math.nan)))
        if self.run is None or int(row.get("iteration", self.first)) < self.first:
            return
        # A run-level flag column (value_skipped) is in metrics.parquet only in runs where its
        # event happened; W&B gets it only on the rows where it did.
        unheld = set(unheld_columns([row]))
        row = {k: v for k, v in row.items() if k not in unheld}
        try:
            data = wandb_row(row, self.keys)
            self.last = data
            self.run.log(data)
        except Exception as exc:
            self._fail("log", exc)

    def finish(
        self, summary: dict | None = None, exit_code: int = 0, timeout: float = 60.0
    ) -> None:
        """Write the summary (final return, SPS, then `summary`) and close the run; gives up
        after `timeout` seconds. The final return is that of the rows on_row was given, unless
        `summary` has one."""
        run, self.run = self.run, None
        if run is None:
            return
        summary = {
            "final_return": final_return(np.asarray(self.returns, dtype=float)),
            **({SPS_KEY: self.last[SPS_KEY]} if SPS_KEY in self.last else {}),
            **(summary or {}),
        }

        def close() -> None:
            try:
                run.summary.update(summary)
                run.finish(exit_code=exit_code)
            except Exception as exc:
                self._fail("finish", exc)

        worker = threading.Thread(target=close, name="wandb-finish", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            log.warning("W&B finish still busy after %.0f s; continuing without it", timeout)


def project_name(configured: str, explicit: bool) -> str:
    """wandb.project when set explicitly, else WANDB_PROJECT, else the default."""
    return configured if explicit else os.environ.get("WANDB_PROJECT", configured)


def open_mirror(cfg, run_dir: Path, mode: str | None = None) -> WandbMirror:
    """Mirror for a RunConfig (`npgbench run`); project: wandb.project, else WANDB_PROJECT."""
    from npgbench.harness.core.config import WandbConfig
    from npgbench.harness.core.identity import config_record

    mode = resolve_mode(mode or cfg.wandb.mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    project = project_name(cfg.wandb.project, cfg.wandb.project != WandbConfig().project)
    record = config_record(cfg)
    return WandbMirror(record["run_id"], Path(run_dir), record, mode, project, cfg.wandb.group)


__all__ = [
    "MODES",
    "WandbMirror",
    "open_mirror",
    "prepare_parent",
    "resolve_mode",
    "wandb_row",
]
