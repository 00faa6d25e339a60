"""A dask cluster for `npgbench sweep --scheduler`: Slurm workers via dask-jobqueue.

Run it on the login node; it writes the scheduler's address to --address-file and keeps the
scheduler alive until SIGINT or SIGTERM (no input(): it runs in the background, under nohup
or as its own batch job), then closes the cluster, which cancels the worker jobs:

    nohup python examples/slurm/dask_cluster.py --queue cpu --account myproj \\
        --interface ib0 --log-dir /shared/npg/logs --max-jobs 64 \\
        --address-file /shared/npg/scheduler.txt > /shared/npg/logs/cluster.log 2>&1 &
    npgbench sweep --suite mujoco-full --scheduler "$(cat /shared/npg/scheduler.txt)" \\
        --out /shared/npg/mujoco-full --wandb offline
    kill %1                                  # or: kill "$(cat /shared/npg/scheduler.pid)"

Each worker is one Slurm job with one process and one thread (the runs are CPU-bound and
use one torch thread). A worker retires itself before its job's walltime (--worker-lifetime,
dask's `--lifetime`, staggered so the workers do not all leave at once) and adapt() submits
a replacement; dask moves the retiring worker's tasks elsewhere, and a run cut short restarts
(the run directories are idempotent, so nothing is written twice).

`--local` starts a dask LocalCluster with the same keep-alive instead (no Slurm, no
dask-jobqueue): what the tests run. `--print-job-script` prints the sbatch script that
dask-jobqueue would submit and exits. Install the extra with `pip install -e .[slurm]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--local", action="store_true", help="a LocalCluster instead of Slurm")
    p.add_argument("--queue", help="Slurm partition (sbatch -p)")
    p.add_argument("--account", help="Slurm account to charge (sbatch -A)")
    p.add_argument("--interface", help="network interface of the workers, e.g. ib0 or eth0")
    p.add_argument("--log-dir", default="dask-logs", help="folder of the worker jobs' logs")
    p.add_argument("--walltime", default="08:00:00", help="walltime of each worker job")
    p.add_argument(
        "--worker-lifetime",
        default="7h30m",
        help="a worker retires after this (below --walltime, so no run is killed by Slurm)",
    )
    p.add_argument("--lifetime-stagger", default="10m", help="spread of the retirements")
    p.add_argument("--memory", default="4GB", help="memory of each worker job")
    p.add_argument("--min-jobs", type=int, default=0, help="adapt(): fewest worker jobs")
    p.add_argument("--max-jobs", type=int, default=16, help="adapt(): most worker jobs")
    p.add_argument("--port", type=int, default=8786, help="scheduler port (0: any free one)")
    p.add_argument(
        "--prologue",
        action="append",
        default=[],
        help="shell line run before each worker, e.g. 'source /shared/npg-bench/.venv/bin/activate'",
    )
    p.add_argument("--address-file", type=Path, help="write the scheduler address here")
    p.add_argument("--print-job-script", action="store_true", help="print the sbatch script")
    return p


def slurm_cluster(args):
    """dask_jobqueue.SLURMCluster: 1 core, 1 process per job; retire before the walltime."""
    from dask_jobqueue import SLURMCluster

    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    return SLURMCluster(
        cores=1,
        processes=1,
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        interface=args.interface,
        log_directory=args.log_dir,
        job_script_prologue=[
            *args.prologue,
            "export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1",
        ],
        worker_extra_args=[
            f"--lifetime={args.worker_lifetime}",
            f"--lifetime-stagger={args.lifetime_stagger}",
        ],
        scheduler_options={"port": args.port, "dashboard_address": None},
    )


def local_cluster(args):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=max(1, args.max_jobs),
        threads_per_worker=1,
        processes=True,
        scheduler_port=args.port,
        dashboard_address=None,
    )


def serve(cluster, args) -> None:
    """Publish the address, then block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    address = cluster.scheduler_address
    if args.address_file:
        tmp = args.address_file.with_name(args.address_file.name + ".tmp")
        tmp.write_text(address + "\n")
        os.replace(tmp, args.address_file)  # a reader never sees half an address
        args.address_file.with_suffix(".pid").write_text(f"{os.getpid()}\n")
    print(f"scheduler {address}; stop with kill {os.getpid()}", flush=True)
    while not stop.wait(timeout=1.0):
        pass
    print("stopping the cluster", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.local:
        cluster = local_cluster(args)
    else:
        cluster = slurm_cluster(args)
        if args.print_job_script:
            print(cluster.job_script())
            cluster.close()
            return 0
        cluster.adapt(minimum_jobs=args.min_jobs, maximum_jobs=args.max_jobs)
    try:
        serve(cluster, args)
    finally:
        cluster.close()
        if args.address_file:
            args.address_file.unlink(missing_ok=True)
            args.address_file.with_suffix(".pid").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
