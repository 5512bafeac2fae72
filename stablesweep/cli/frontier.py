"""``stablesweep frontier``: the accuracy–stability frontier (training grid, measurements).

Subcommands (``CONFIG`` a frontier config, e.g. ``config/frontier/frontier-32.yaml``;
``OUTDIR`` defaults to ``results/frontier/<name>``):

- ``train CONFIG --model ID`` — make ``OUTDIR/models/ID.pt`` hold the model (cached,
  shipped or trained; one workflow job per model);
- ``measure CONFIG --model ID`` — measure one network into ``OUTDIR/measure/ID.nc``
  (obtaining its model first);
- ``collect CONFIG`` — stack the measurements into ``OUTDIR/frontier.nc`` and write the
  tables and figures;
- ``run CONFIG [--jobs N] [--dry-run]`` — all of it in this process (``--jobs``
  processes); ``--dry-run`` prints what would run and its estimated cost, and runs
  nothing;
- ``list CONFIG`` — the model ids, one per line (what the workflow schedules).

Exit codes: 0 done, 2 invalid config, model id or missing measurements, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from .common import add_threads_option, apply_threads, positive_int

__all__ = ["add_frontier_parser", "run_frontier"]

ACTIONS = ("train", "measure", "collect", "run", "list")


def add_frontier_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``frontier`` to the CLI's subparsers; returns the new parser."""
    p = subparsers.add_parser(
        "frontier",
        help="the accuracy-stability frontier: networks trained over detail weight x "
             "noise x seed, measured against the kernel bound and the published budgets",
        description="Train (or reuse shipped) U-Nets and learned primal-dual networks over "
        "a grid of detail weight, training noise and seed, and measure each with FIRENET, "
        "FISTA, the primal-dual network and zero-filling: detail recovery, amplification "
        "along A delta and the worst case at ||A delta||, the kernel bound, and the "
        "worst-case error at the budgets ||e|| <= eta ||y||. Exit codes: 0 done, 2 invalid "
        "config, model id or missing measurements, 130 interrupted.",
    )
    p.add_argument("action", choices=ACTIONS,
                   help="train | measure (one model: --model) | collect | run (everything) "
                        "| list (the model ids)")
    p.add_argument("config", type=Path, help="frontier config (YAML), e.g. "
                   "config/frontier/frontier-32.yaml")
    p.add_argument("--model", default=None, help="model id (train, measure); see `list`")
    p.add_argument("-o", "--outdir", type=Path, default=None,
                   help="output folder (default: results/frontier/<name>)")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="run: worker processes (default 1)")
    p.add_argument("--dry-run", action="store_true",
                   help="run: print the models to train and measure and the estimated "
                        "cost; run nothing")
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run_frontier)
    return p


def _say(args: argparse.Namespace):
    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)
    return log


def run_frontier(args: argparse.Namespace) -> int:
    """Run ``stablesweep frontier ACTION`` from parsed arguments; returns the exit status."""
    from stablesweep.frontier.config import (
        FrontierConfigError,
        load_frontier_config,
        model_specs,
        reference_specs,
    )

    try:
        cfg = load_frontier_config(args.config)
    except FrontierConfigError as err:
        print(f"stablesweep frontier: {err}", file=sys.stderr)
        return 2
    out = args.outdir if args.outdir is not None else Path("results") / "frontier" / cfg.name
    if out.exists() and not out.is_dir():
        print(f"stablesweep frontier: output folder {out} exists and is not a folder",
              file=sys.stderr)
        return 2
    specs = [*model_specs(cfg), *reference_specs(cfg)]
    if args.action == "list":
        print("\n".join(s.id for s in specs))
        return 0
    if args.action in ("train", "measure"):
        if args.model is None:
            print(f"stablesweep frontier {args.action}: --model is required; one of the "
                  f"{len(specs)} ids `stablesweep frontier list {args.config}` prints",
                  file=sys.stderr)
            return 2
        try:
            spec = cfg.spec(args.model)
        except ValueError as err:
            print(f"stablesweep frontier {args.action}: --model: {err}", file=sys.stderr)
            return 2
        if args.action == "train" and not spec.trained:
            print(f"stablesweep frontier train: --model: {spec.id} is an untrained reference; "
                  "expected a trained model's id", file=sys.stderr)
            return 2
    if args.action == "run" and args.dry_run:
        from stablesweep.frontier.estimate import describe

        print(describe(cfg, out))
        return 0
    apply_threads(args)
    log = _say(args)
    if args.action == "train":
        _train_one(cfg, args.model, out, log)
        return 0
    if args.action == "measure":
        measure_one(cfg, args.model, out, log)
        return 0
    if args.action == "run":
        _run_all(cfg, out, args.jobs, args.threads, log)
    return _collect(cfg, out, log)


def _train_one(cfg: Any, model_id: str, out: Path, log) -> Path:
    from stablesweep.frontier.models import obtain_model
    from stablesweep.tradeoff.problem import make_operator

    spec = cfg.spec(model_id)
    t0 = time.perf_counter()
    path, source = obtain_model(cfg, spec, make_operator(cfg.problem), out / "models", log=log)
    os.utime(path)  # a workflow job's output is newer than its inputs, even when cached
    log(f"[frontier] {model_id}: {source} model {path} ({time.perf_counter() - t0:.1f} s)")
    return path


def measure_one(cfg: Any, model_id: str, out: Path, log) -> Path:
    """Measure one network into ``out/measure/<id>.nc`` (training its model if needed)."""
    from stablesweep.frontier.collect import measure_path, write_netcdf
    from stablesweep.frontier.measure import measure_model

    spec = cfg.spec(model_id)
    path = _train_one(cfg, model_id, out, log) if spec.trained else None
    ds = measure_model(cfg, spec, model_path=path, log=log)
    dest = measure_path(out, model_id)
    write_netcdf(ds, dest)
    return dest


def _measure_worker(job: tuple[str, str, str, int]) -> str:
    config, model_id, out, threads = job
    import torch

    from stablesweep.frontier.config import load_frontier_config

    if threads:
        torch.set_num_threads(threads)
    measure_one(load_frontier_config(config), model_id, Path(out), lambda _m: None)
    return model_id


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_all(cfg: Any, out: Path, jobs: int, threads: int, log) -> None:
    """Measure every network still missing (train first where needed), in ``jobs``
    processes."""
    from stablesweep.frontier.collect import missing_measurements

    todo = missing_measurements(cfg, out)
    log(f"[frontier] {cfg.name}: {len(todo)} network(s) to measure in {out}")
    if jobs == 1:
        for i, mid in enumerate(todo, 1):
            measure_one(cfg, mid, out, log)
            log(f"[frontier] {i}/{len(todo)} {mid}")
        return
    from multiprocessing import get_context

    work = [(str(cfg.source), mid, str(out), threads or 1) for mid in todo]
    # Ctrl-C reaches the parent only (workers ignore SIGINT): leaving the `with` block
    # terminates the pool, and finished measurements stay on disk for the rerun
    with get_context("spawn").Pool(jobs, initializer=_ignore_sigint) as pool:
        for i, mid in enumerate(pool.imap_unordered(_measure_worker, work), 1):
            log(f"[frontier] {i}/{len(todo)} {mid}")


def _collect(cfg: Any, out: Path, log) -> int:
    from stablesweep.frontier.collect import collect
    from stablesweep.frontier.report import write_outputs

    try:
        ds = collect(cfg, out)
    except FileNotFoundError as err:
        print(f"stablesweep frontier collect: {err}", file=sys.stderr)
        return 2
    paths = write_outputs(ds, cfg, out)
    print((out / "frontier.md").read_text())
    log(f"[frontier] wrote {', '.join(str(p) for p in paths)}")
    return 0
