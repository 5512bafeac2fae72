"""``stablesweep run``: run (or resume) a sweep; ``--dry-run`` prints its cost."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import check_input_file, fail, non_negative_int, positive_int


def add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="run (or resume) a sweep",
        description="Run the sweep of an experiment config into a Zarr store. Rerunning "
        "the same command resumes: only cells that are not done are computed.",
    )
    p.add_argument("config", type=Path, help="experiment config (YAML)")
    p.add_argument("--out", type=Path, default=None,
                   help="result store (default: results/<experiment>/sweep.zarr)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None,
                       help="single-threaded worker processes of the local cluster "
                       "(default: the CPUs this process may use; in a SLURM job, the "
                       "job's CPUs)")
    where.add_argument("--scheduler", default=None,
                       help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--cluster", type=Path, default=None,
                       help="batch-system cluster description (YAML; see "
                       "stablesweep.sweep.run.cluster), e.g. {kind: slurm, jobs: 10, ...}")
    p.add_argument("--dashboard", action="store_true",
                   help="serve the Dask dashboard of the local cluster (port 8787)")
    p.add_argument("--cells-per-task", type=positive_int, default=None, metavar="N",
                   help="cells per Dask task (default: whole blocks of the store, split "
                   "where that leaves a worker fewer than 4 tasks; a split block's tasks "
                   "write in turns under a Dask lock). The numbers do not depend on it")
    p.add_argument("--retries", type=non_negative_int, default=3,
                   help="resubmissions of a task whose worker was lost (default 3)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the config and print the cells, trials, estimated CPU "
                   "time and peak memory per worker, and what the store already holds; "
                   "compute and write nothing")
    p.set_defaults(func=cmd_run)


#: Memory a local worker process holds before its first cell (torch, numpy, dask).
WORKER_BASE_BYTES = 400 * 2**20
#: Local workers per CPU above which ``--workers`` is refused (they would only contend).
WORKERS_PER_CPU = 4


def _check_workers(workers: int | None) -> str | None:
    """Why ``--workers`` cannot run on this machine (None: it can)."""
    if workers is None:
        return None
    import psutil

    cpus = os.cpu_count() or 1
    memory = psutil.virtual_memory().total
    limit = max(1, min(WORKERS_PER_CPU * cpus, memory // WORKER_BASE_BYTES))
    if workers <= limit:
        return None
    return (f"--workers {workers} is more than this machine can run: it has {cpus} CPUs "
            f"and {memory / 2**30:.3g} GiB of memory, and a local worker takes one process "
            f"of about {WORKER_BASE_BYTES / 2**20:.0f} MiB; use at most {limit} (for more, "
            "use --cluster or --scheduler)")


#: Seconds to wait for a ``--scheduler`` to answer before the run is refused.
SCHEDULER_PROBE_S = 5.0


def _check_scheduler(address: str | None) -> str | None:
    """Why ``--scheduler`` cannot be reached (None: something listens there).

    One Dask handshake with the address (TCP only for ``tls://``), within
    :data:`SCHEDULER_PROBE_S` seconds, before the store is touched (Dask itself would wait
    30 s and then raise).
    """
    if address is None:
        return None
    import socket
    from urllib.parse import urlsplit

    hint = ("start one with `dask scheduler` (it prints its address, e.g. "
            "tcp://host:8786), or leave out --scheduler to run a local cluster")
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        return (f"--scheduler {address!r} is not a scheduler address; expected "
                f"tcp://HOST:PORT (or tls://HOST:PORT); {hint}")
    try:
        port = parts.port or 8786
    except ValueError:
        return f"--scheduler {address!r}: the port is not a number; {hint}"
    try:
        if parts.scheme == "tls":  # the handshake needs the user's certificates: TCP only
            with socket.create_connection((parts.hostname, port), timeout=SCHEDULER_PROBE_S):
                return None
        _handshake(f"tcp://{parts.hostname}:{port}")
        return None
    except Exception as err:  # noqa: BLE001 - refused, timed out, or not a Dask scheduler
        reason = ("what answers there is not a Dask scheduler" if isinstance(err, MemoryError)
                  else " ".join(str(err).split())[:120] or type(err).__name__)
        return (f"--scheduler {address}: no Dask scheduler answers at {parts.hostname}:{port} "
                f"within {SCHEDULER_PROBE_S:g} s ({reason}); {hint}")


def _handshake(address: str) -> None:
    """Open and close one Dask comm to ``address`` (raises when no scheduler answers)."""
    import asyncio

    from distributed.comm import connect

    async def probe() -> None:
        comm = await connect(address, timeout=SCHEDULER_PROBE_S)
        await comm.close()

    asyncio.run(asyncio.wait_for(probe(), SCHEDULER_PROBE_S + 1))


def cmd_run(args: argparse.Namespace) -> int:
    from stablesweep.sweep import ConfigError, StoreError, load_config, run_sweep
    from stablesweep.sweep.run.cluster import (
        ClusterConfigError,
        check_cluster_fits,
        read_cluster_file,
    )
    from stablesweep.sweep.run.execute import grid_summary

    why = (_check_workers(args.workers) or check_input_file("--cluster", args.cluster)
           or _check_scheduler(args.scheduler))
    if why:
        return fail("run", why)
    if args.cluster is not None:
        try:  # checked before any store is created (the cluster starts much later)
            read_cluster_file(args.cluster)
            check_cluster_fits(args.cluster)  # kind: slurm: does a job fit a node (sinfo)?
        except ClusterConfigError as err:
            print(f"stablesweep run: {err}", file=sys.stderr)
            return 1
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(f"stablesweep run: {err}", file=sys.stderr)
        return 1
    out = args.out or Path("results") / cfg.experiment / "sweep.zarr"
    if args.dry_run:
        return _dry_run(cfg, out, args.workers)
    if not args.quiet:
        print(f"[stablesweep] {cfg.experiment}: {grid_summary(cfg)} -> {out}", file=sys.stderr)
    try:
        summary = run_sweep(cfg, out, workers=args.workers, scheduler=args.scheduler,
                            cluster=args.cluster, dashboard=args.dashboard,
                            retries=args.retries, progress=not args.quiet,
                            cells_per_task=args.cells_per_task)
    except (StoreError, ClusterConfigError) as err:
        print(f"stablesweep run: {err}", file=sys.stderr)
        return 1
    print(f"[stablesweep] {summary}", file=sys.stderr)
    return 3 if summary.lost else 0




def _dry_run(cfg, out: Path, workers: int | None) -> int:
    """Print what ``run`` would do (``--dry-run``): nothing is computed or written."""
    from stablesweep.sweep.run.estimate import estimate_sweep
    from stablesweep.sweep.run.execute import grid_summary
    from stablesweep.sweep.store import StoreError, check_store_config

    try:
        check_store_config(out, cfg)  # a store of another config is refused here too
    except StoreError as err:
        return fail("run", str(err))
    print(f"experiment:   {cfg.experiment}: {grid_summary(cfg)}")
    print(f"store:        {out}" + ("" if out.exists() else " (not created yet)"))
    for line in estimate_sweep(cfg, out, workers).lines():
        print(line)
    print("dry run: nothing computed or written")
    return 0
