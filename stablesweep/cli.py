"""The ``stablesweep`` command line: a thin layer over the library.

Usage::

    stablesweep run CONFIG [--out STORE] [--workers N | --scheduler ADDRESS | --cluster FILE]
                           [--dashboard] [--retries N] [--quiet]
    stablesweep status STORE [--json]
    stablesweep analyse STORE [-o FITS] [--n-boot B] [--threshold T]
    stablesweep figures STORE [--fits FITS] [--outdir DIR] [--only NAME ...] [--list FILE]
    stablesweep report STORE --fits FITS --figures DIR [-o HTML]
    stablesweep train CONFIG ...       (trained networks; see stablesweep train -h)
    stablesweep barrier ...            (the K-digits experiment; see stablesweep barrier -h)

Each subcommand is one ``add_<name>_parser(subparsers)`` function that registers its
arguments and sets ``func`` (called with the parsed arguments, returning the exit
code); adding a subcommand is adding such a function to :data:`SUBCOMMANDS`.

Exit codes: 0 success; 1 invalid input (config, store, cluster file); 3 a run that left
cells uncomputed (rerun to retry them).
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from stablesweep.barrier.cli import add_barrier_parser
from stablesweep.training.cli import add_train_parser

__all__ = ["main", "build_parser", "SUBCOMMANDS"]


# --------------------------------------------------------------------------- run


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
    where.add_argument("--workers", type=_positive_int, default=None,
                       help="single-threaded worker processes of the local cluster "
                       "(default: number of CPUs)")
    where.add_argument("--scheduler", default=None,
                       help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--cluster", type=Path, default=None,
                       help="batch-system cluster description (YAML; see "
                       "stablesweep.sweep.execute), e.g. {kind: slurm, jobs: 10, ...}")
    p.add_argument("--dashboard", action="store_true",
                   help="serve the Dask dashboard of the local cluster (port 8787)")
    p.add_argument("--retries", type=int, default=3,
                   help="resubmissions of a cell whose worker was lost (default 3)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from stablesweep.sweep import ConfigError, StoreError, load_config, run_sweep
    from stablesweep.sweep.execute import ClusterConfigError, grid_summary

    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(f"stablesweep run: {err}", file=sys.stderr)
        return 1
    out = args.out or Path("results") / cfg.experiment / "sweep.zarr"
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


# --------------------------------------------------------------------------- status


def add_status_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "status", help="cells done / failed / pending of a store, and its config",
        description="Show how far a sweep store is: cells done, done with a failed trial, "
        "pending; and the config it was run with.",
    )
    p.add_argument("store", type=Path, help="result store (Zarr)")
    p.add_argument("--no-config", action="store_true", help="do not print the config")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary (counts, experiment, config_hash) instead")
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from stablesweep.sweep.store import StoreError, done_counts, open_store

    try:
        ds = open_store(args.store)
        counts = done_counts(args.store)
    except StoreError as err:
        print(f"stablesweep status: {err}", file=sys.stderr)
        return 1
    a = ds.attrs
    if args.json:
        import json

        keys = ("experiment", "config_hash", "stablesweep_version", "git_commit", "created")
        print(json.dumps({"store": str(args.store), **{k: a.get(k) for k in keys},
                          "cells": counts}, indent=2, default=str))
        return 0
    print(f"store:      {args.store}")
    print(f"experiment: {a.get('experiment')}")
    print(f"created:    {a.get('created')}  (stablesweep {a.get('stablesweep_version')}, "
          f"commit {a.get('git_commit')})")
    print(f"cells:      {counts['total']} total, {counts['done']} done, "
          f"{counts['failed']} failed, {counts['pending']} pending")
    print(f"config_hash: {a.get('config_hash')}")
    if not args.no_config:
        print("config:")
        for line in str(a.get("config", "")).rstrip().splitlines():
            print(f"  {line}")
    return 0


# --------------------------------------------------------------------------- analyse


def add_analyse_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyse", help="fit rates, noise slopes, recovery maps and stability summaries",
        description="Analyse a sweep store: ε + C/n^γ and exponential fits with bootstrap "
        "confidence intervals, the noise slope C_3, recovery probabilities and the "
        "stability trade-off. Writes one netCDF file.",
    )
    p.add_argument("store", type=Path, help="sweep store (Zarr)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output netCDF (default: fits.nc next to the store)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--threshold", type=float, default=1e-3,
                   help="relative error counted as recovery (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=cmd_analyse)


def cmd_analyse(args: argparse.Namespace) -> int:
    from stablesweep.analysis import analyse
    from stablesweep.sweep.store import StoreError, open_store

    if args.n_boot < 1:
        print(f"stablesweep analyse: --n-boot {args.n_boot} must be >= 1", file=sys.stderr)
        return 1
    try:
        ds = open_store(args.store)
    except StoreError as err:
        print(f"stablesweep analyse: {err}", file=sys.stderr)
        return 1
    out = args.output or args.store.parent / "fits.nc"
    fits = analyse(ds, n_boot=args.n_boot, seed=args.seed, threshold=args.threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fits.to_netcdf(tmp)
    tmp.replace(out)
    print(f"[stablesweep] analysis of {args.store} -> {out} "
          f"({len(fits.data_vars)} variables)", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- figures


def add_figures_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "figures", help="draw the paper figures (PNG and PDF) from stored results",
        description="Draw every figure a sweep store supports, from the store and the "
        "analysis file only (nothing is recomputed).",
    )
    p.add_argument("store", type=Path, help="sweep store (Zarr)")
    p.add_argument("--fits", type=Path, default=None, help="analysis file (netCDF)")
    p.add_argument("--outdir", type=Path, default=None,
                   help="output folder (default: figures/ next to the store)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="draw only these figures (file stems, as listed by --list)")
    p.add_argument("--list", type=Path, default=None, metavar="FILE",
                   help="write the figure names as a JSON list to FILE ('-': stdout) "
                   "and draw nothing")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args: argparse.Namespace) -> int:
    import json

    import xarray as xr

    from stablesweep.figures import figure_names, make_figures
    from stablesweep.sweep.store import StoreError, open_store

    try:
        ds = open_store(args.store)
    except StoreError as err:
        print(f"stablesweep figures: {err}", file=sys.stderr)
        return 1
    fits = None
    if args.fits is not None:
        if not args.fits.exists():
            print(f"stablesweep figures: --fits {args.fits} does not exist", file=sys.stderr)
            return 1
        fits = xr.load_dataset(args.fits)
    if args.list is not None:
        text = json.dumps(figure_names(ds, fits), indent=1)
        if str(args.list) == "-":
            print(text)
        else:
            args.list.write_text(text + "\n")
        return 0
    outdir = args.outdir or args.store.parent / "figures"
    try:
        paths = make_figures(ds, fits, outdir, only=args.only)
    except ValueError as err:
        print(f"stablesweep figures: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


# --------------------------------------------------------------------------- report


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="write the HTML report of an experiment",
        description="A self-contained HTML page with the figures, the fit tables and the "
        "config that produced them.",
    )
    p.add_argument("store", type=Path, help="sweep store (Zarr)")
    p.add_argument("--fits", type=Path, required=True, help="analysis file (netCDF)")
    p.add_argument("--figures", type=Path, required=True, help="figure folder")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="HTML file (default: report.html next to the store)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from stablesweep.report import write_report

    out = args.output or args.store.parent / "report.html"
    try:
        write_report(args.store, args.fits, args.figures, out)
    except FileNotFoundError as err:
        print(f"stablesweep report: {err}", file=sys.stderr)
        return 1
    print(out)
    return 0


# --------------------------------------------------------------------------- main

#: Subcommand registrars, in help order. Add ``add_<name>_parser`` functions here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_run_parser,
    add_status_parser,
    add_analyse_parser,
    add_figures_parser,
    add_report_parser,
    add_train_parser,
    add_barrier_parser,
]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stablesweep",
        description="Measure accuracy and stability of reconstruction networks at scale.",
    )
    from stablesweep import __version__

    parser.add_argument("--version", action="version", version=f"stablesweep {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stablesweep`` console script."""
    from stablesweep._malloc import tune_malloc

    tune_malloc()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def console() -> None:
    """The ``stablesweep`` console script: :func:`main`, then a quick exit.

    Once the command is done (results written and closed), the exit handlers run as
    usual and the process ends without the interpreter's module teardown, which with
    PyTorch loaded takes about 0.8 s, a cost every Snakemake job and sweep would pay.
    Exceptions (and argparse's exits) take the normal path.
    """
    code = main()
    for thread in threading.enumerate():  # what the interpreter waits for at exit
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # logging.shutdown, multiprocessing finalizers, ...
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
