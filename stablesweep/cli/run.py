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
                       "(default: number of CPUs)")
    where.add_argument("--scheduler", default=None,
                       help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--cluster", type=Path, default=None,
                       help="batch-system cluster description (YAML; see "
                       "stablesweep.sweep.execute), e.g. {kind: slurm, jobs: 10, ...}")
    p.add_argument("--dashboard", action="store_true",
                   help="serve the Dask dashboard of the local cluster (port 8787)")
    p.add_argument("--retries", type=non_negative_int, default=3,
                   help="resubmissions of a cell whose worker was lost (default 3)")
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


def cmd_run(args: argparse.Namespace) -> int:
    from stablesweep.sweep import ConfigError, StoreError, load_config, run_sweep
    from stablesweep.sweep.execute import ClusterConfigError, grid_summary

    why = _check_workers(args.workers) or check_input_file("--cluster", args.cluster)
    if why:
        return fail("run", why)
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
                            retries=args.retries, progress=not args.quiet)
    except (StoreError, ClusterConfigError) as err:
        print(f"stablesweep run: {err}", file=sys.stderr)
        return 1
    print(f"[stablesweep] {summary}", file=sys.stderr)
    return 3 if summary.lost else 0




def _dry_run(cfg, out: Path, workers: int | None) -> int:
    """Print what ``run`` would do (``--dry-run``): nothing is computed or written."""
    from stablesweep.sweep.estimate import estimate_sweep
    from stablesweep.sweep.execute import grid_summary
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
