"""Read an offline W&B record back (tests and `wandb sync` checks): run info, config, rows.

wandb 0.31 has no public reader for its .wandb files; the format is LevelDB's log format
(32 KiB blocks of CRC/length/type-framed records, see leveldb doc/log_format.md) whose
payloads are `wandb.proto.wandb_internal_pb2.Record` messages.
"""

from __future__ import annotations

import glob
import json
import struct
import time
from pathlib import Path


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
        if pos + 7 + length > len(data):  # still being written by wandb-core
            return
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


def offline_records(run_dir: Path) -> list[Path]:
    """Every offline W&B record file under <run_dir>/wandb, oldest first."""
    return sorted(
        Path(p) for p in glob.glob(str(Path(run_dir) / "wandb" / "offline-run-*" / "run-*.wandb"))
    )


def read_offline_run(run_dir: Path, wait_s: float = 0.0) -> dict:
    """The newest offline W&B record under run_dir: run info, config, history rows, summary.

    wandb-core writes the file from its own process, so `run.finish()` can return before the
    last records are on disk: with wait_s > 0, re-read until the exit record is there.
    """
    deadline = time.monotonic() + wait_s
    while True:
        files = offline_records(run_dir)
        if not files:
            raise FileNotFoundError(f"no offline W&B record under {run_dir}/wandb")
        out = _parse(files[-1])
        if out["exit_code"] is not None or time.monotonic() >= deadline:
            return out
        time.sleep(0.1)


def _parse(path: Path) -> dict:
    from wandb.proto import wandb_internal_pb2 as pb

    out: dict = {"run": {}, "config": {}, "history": [], "summary": {}, "exit_code": None}
    for payload in _records(path):
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
                "tags": list(r.tags),
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


__all__ = ["read_offline_run", "offline_records"]
