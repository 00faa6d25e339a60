"""W&B mirror of one run: a replayable copy of the local run directory, never its source.

Every call into wandb is wrapped: the first exception is logged once and the mirror disables
itself, so W&B can never fail, block or slow the local results (pitfalls.md section 4).
`wandb.init` gets a timeout, and `finish` runs in a thread joined with a timeout.

Process model: the sweep's parent calls `prepare_parent` (wandb.setup starts one wandb-core
service and exports WANDB_SERVICE, which loky workers inherit), each worker opens one mirror
per run (offline: id = the run id; online: one id per attempt, since each attempt restarts from scratch), and finishes it in a `finally`, so workers exit cleanly.
Offline records live in <run_dir>/wandb/; upload later: `wandb sync <run_dir>/wandb/offline-run-*`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import netrc
import os
import re
import shutil
import struct
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("npgbench.wandb")
MODES = ("auto", "online", "offline", "disabled")


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
    """auto -> online with credentials, else offline (syncable later)."""
    if mode not in MODES:
        from harness.config import ConfigError

        raise ConfigError(f"wandb mode {mode!r}: valid: {', '.join(MODES)}")
    if mode == "auto":
        return "online" if has_credentials() else "offline"
    return mode


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


def wandb_id(run_id: str) -> str:
    """A valid, deterministic W&B run id: [A-Za-z0-9_-], at most 64 characters."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", run_id)
    if len(clean) > 64:
        clean = clean[:55] + "-" + hashlib.sha1(run_id.encode()).hexdigest()[:8]
    return clean


class WandbMirror:
    """One W&B run per (algo, env, seed): config, per-iteration metrics against `step`, summary."""

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
        self.mode = mode
        if mode == "disabled":
            return
        try:
            import wandb

            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            if mode == "offline":  # the run restarts from scratch: an older record is obsolete
                shutil.rmtree(run_dir / "wandb", ignore_errors=True)
            settings = wandb.Settings(
                x_disable_stats=True,
                init_timeout=init_timeout,
                console="off",
                save_code=False,
                silent=True,
            )
            self.run = wandb.init(
                project=project,
                group=group or None,
                job_type=job_type or None,
                name=run_id,
                # Every attempt trains from scratch, so online each attempt is its own W&B run
                # (same name and group); resuming the id would append the new rows after a
                # failed attempt's. Offline the old record was deleted above.
                id=wandb_id(run_id if mode != "online" else f"{run_id}-{time.time_ns():x}"),
                dir=str(run_dir),
                config=config,
                mode=mode,
                reinit="finish_previous",
                settings=settings,
            )
            self.run.define_metric("step")
            self.run.define_metric("*", step_metric="step")
        except Exception as exc:
            self._fail("init", exc)

    def _fail(self, where: str, exc: BaseException) -> None:
        log.warning(
            "W&B %s failed; local results are unaffected, mirror off: %s: %s",
            where,
            type(exc).__name__,
            exc,
        )
        self.run = None

    def on_row(self, row: dict) -> None:
        """Log one metrics row (numbers only; strings such as skip_reason stay local)."""
        if self.run is None:
            return
        try:
            data = {k: v for k, v in row.items() if isinstance(v, (int, float, bool))}
            self.run.log(data)
        except Exception as exc:
            self._fail("log", exc)

    def finish(
        self, summary: dict | None = None, exit_code: int = 0, timeout: float = 60.0
    ) -> None:
        """Write the summary and close the run; gives up after `timeout` seconds."""
        run, self.run = self.run, None
        if run is None:
            return

        def close() -> None:
            try:
                if summary:
                    run.summary.update(summary)
                run.finish(exit_code=exit_code)
            except Exception as exc:
                self._fail("finish", exc)

        worker = threading.Thread(target=close, name="wandb-finish", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            log.warning("W&B finish still busy after %.0f s; continuing without it", timeout)


def open_mirror(
    cfg, run_dir: Path, mode: str | None = None, group: str | None = None
) -> WandbMirror:
    """Mirror for a RunConfig (`npgbench run`); project: wandb.project, else WANDB_PROJECT."""
    from harness.config import WandbConfig, to_dict

    mode = resolve_mode(mode or cfg.wandb.mode)
    os.environ.setdefault("WANDB_SILENT", "true")
    default = WandbConfig().project
    project = cfg.wandb.project
    if project == default:
        project = os.environ.get("WANDB_PROJECT", default)
    run_id = Path(run_dir).name
    return WandbMirror(
        run_id,
        Path(run_dir),
        to_dict(cfg),
        mode,
        project,
        group if group is not None else cfg.wandb.group,
        cfg.algo,
    )


# ----------------------------------------------------------------------------- read back


def _records(path: Path):
    """Payloads of a .wandb file: LevelDB log format, 32 KiB blocks, ':W&B' header."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B datastore")
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a record header never straddles a block
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0 and length == 0:
            pos += block - pos % block
            continue
        if kind == 1:
            yield payload
        elif kind == 2:
            pending = payload
        elif kind == 3:
            pending += payload
        elif kind == 4:
            yield pending + payload


def _items(items) -> dict:
    return {(i.key or ".".join(i.nested_key)): json.loads(i.value_json) for i in items}


def read_offline_run(run_dir: Path) -> dict:
    """The newest offline W&B record under run_dir: run info, config, history rows, summary."""
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(glob.glob(str(Path(run_dir) / "wandb" / "offline-run-*" / "run-*.wandb")))
    if not files:
        raise FileNotFoundError(f"no offline W&B record under {run_dir}/wandb")
    out: dict = {"run": {}, "config": {}, "history": [], "summary": {}, "exit_code": None}
    for payload in _records(Path(files[-1])):
        rec = pb.Record()
        rec.ParseFromString(payload)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            out["run"] = {
                "id": r.run_id,
                "name": r.display_name,
                "group": r.run_group,
                "job_type": r.job_type,
                "project": r.project,
            }
            out["config"].update(_items(r.config.update))
        elif kind == "config":
            out["config"].update(_items(rec.config.update))
        elif kind == "history":
            out["history"].append(_items(rec.history.item))
        elif kind == "summary":
            out["summary"].update(_items(rec.summary.update))
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    out["config"].pop("_wandb", None)
    return out


__all__ = ["WandbMirror", "open_mirror", "prepare_parent", "resolve_mode", "read_offline_run"]
