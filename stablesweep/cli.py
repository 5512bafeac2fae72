"""The ``stablesweep`` command line: a thin layer over the library.

Usage::

    stablesweep run CONFIG [--out STORE] [--workers N | --scheduler ADDRESS | --cluster FILE]
                           [--dashboard] [--retries N] [--quiet] [--dry-run]
    stablesweep status STORE [--json] [--verify]
    stablesweep analyse STORE [-o FITS] [--n-boot B] [--threshold T] [--force]
    stablesweep figures STORE [--fits FITS] [--outdir DIR] [--only NAME ...] [--list FILE]
    stablesweep report STORE [--fits FITS] [--figures DIR] [-o HTML] [--max-size MB]
    stablesweep train CONFIG ...       (trained networks; see stablesweep train -h)
    stablesweep barrier ...            (the K-digits experiment; see stablesweep barrier -h)

Each subcommand is one ``add_<name>_parser(subparsers)`` function that registers its
arguments and sets ``func`` (called with the parsed arguments, returning the exit
code); adding a subcommand is adding such a function to :data:`SUBCOMMANDS`.

Without output options `analyse`, `figures` and `report` read and write the standard
places next to the store (``results/<exp>/fits.nc``, ``figures/``, ``report.html``); an
explicit output that exists is replaced only if it is an earlier output of the same
command, or with ``--force``.

Exit codes: 0 success; 1 invalid input (config, store, cluster file, output path) or a
file-system error, reported in one line; 3 a run that left cells uncomputed (rerun to
retry them); 4 ``status --verify`` found damaged cells; 130 interrupted.
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
from stablesweep.tradeoff.cli import add_tradeoff_parser
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
    p.add_argument("--retries", type=_non_negative_int, default=3,
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

    why = _check_workers(args.workers) or _check_input_file("--cluster", args.cluster)
    if why:
        return _fail("run", why)
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


def _check_input_file(option: str, path: Path | None) -> str | None:
    """Why ``path`` (given to ``option``) cannot be read as an input file (None: it can)."""
    if path is None:
        return None
    if not path.exists():
        return f"{option} {path}: no such file"
    if path.is_dir():
        return f"{option} {path} is a directory; expected a YAML file"
    if not os.access(path, os.R_OK):
        return f"{option} {path}: permission denied (cannot read it)"
    return None


def _dry_run(cfg, out: Path, workers: int | None) -> int:
    """Print what ``run`` would do (``--dry-run``): nothing is computed or written."""
    from stablesweep.sweep.estimate import estimate_sweep
    from stablesweep.sweep.execute import grid_summary
    from stablesweep.sweep.store import StoreError, check_store_config

    try:
        check_store_config(out, cfg)  # a store of another config is refused here too
    except StoreError as err:
        return _fail("run", str(err))
    print(f"experiment:   {cfg.experiment}: {grid_summary(cfg)}")
    print(f"store:        {out}" + ("" if out.exists() else " (not created yet)"))
    for line in estimate_sweep(cfg, out, workers).lines():
        print(line)
    print("dry run: nothing computed or written")
    return 0


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
    p.add_argument("--verify", action="store_true",
                   help="read every done cell back and check it against its checksum; "
                   "damaged cells are listed (exit 4); `stablesweep run` recomputes them")
    p.set_defaults(func=cmd_status)


def _verify(store: Path):
    """Verify ``store`` (``status --verify``): its metadata and coordinate files against
    the template of its config, and every done cell against its checksum.

    Returns the VerifyReport of the cells, with ``metadata`` (file -> what is wrong).
    """
    from stablesweep.sweep import load_config
    from stablesweep.sweep.execute import make_layout
    from stablesweep.sweep.grid import cells
    from stablesweep.sweep.integrity import metadata_damage, verify_cells
    from stablesweep.sweep.store import open_store

    ds = open_store(store)
    cfg = load_config(str(ds.attrs["config"]))
    layout = make_layout(cfg)
    metadata = metadata_damage(store, layout)
    report = verify_cells(store, layout, cells(cfg))
    report.metadata = metadata
    return report


def cmd_status(args: argparse.Namespace) -> int:
    from stablesweep.sweep import ConfigError
    from stablesweep.sweep.store import StoreError, done_counts, open_store

    try:
        ds = open_store(args.store)
        counts = done_counts(args.store)
        report = _verify(args.store) if args.verify else None
    except (StoreError, ConfigError) as err:
        print(f"stablesweep status: {err}", file=sys.stderr)
        return 1
    a = ds.attrs
    code = 4 if report is not None and (report.damaged or report.metadata) else 0
    if args.json:
        import json

        keys = ("experiment", "config_hash", "stablesweep_version", "git_commit", "created")
        summary = {"store": str(args.store), **{k: a.get(k) for k in keys}, "cells": counts}
        if report is not None:
            summary["verify"] = {
                "checked": report.checked, "verifiable": report.verifiable,
                "damaged": [{"cell": c.key, "reason": why} for c, why in report.damaged],
                "metadata": report.metadata}
        print(json.dumps(summary, indent=2, default=str))
        return code
    print(f"store:      {args.store}")
    print(f"experiment: {a.get('experiment')}")
    print(f"created:    {a.get('created')}  (stablesweep {a.get('stablesweep_version')}, "
          f"commit {a.get('git_commit')})")
    print(f"cells:      {counts['total']} total, {counts['done']} done, "
          f"{counts['failed']} failed, {counts['pending']} pending")
    if report is not None:
        print(f"verified:   {_verify_line(report)}")
        for cell, why in report.damaged:
            print(f"  damaged {cell.key}: {why}")
        for name, why in report.metadata.items():
            print(f"  damaged file {name}: {why}")
    print(f"config_hash: {a.get('config_hash')}")
    if not args.no_config:
        print("config:")
        for line in str(a.get("config", "")).rstrip().splitlines():
            print(f"  {line}")
    return code


def _verify_line(report) -> str:
    if report.metadata:
        return (f"{len(report.metadata)} metadata or coordinate files are damaged; "
                "`stablesweep run` with the same config rewrites them"
                + (f"; {len(report.damaged)} of {report.checked} done cells are damaged too"
                   if report.damaged else ""))
    if not report.verifiable:
        return ("this store has no checksums (written by an older stablesweep); its done "
                "cells cannot be verified")
    if not report.damaged:
        return f"all {report.checked} done cells read back intact"
    return (f"{len(report.damaged)} of {report.checked} done cells are damaged; "
            "`stablesweep run` with the same config recomputes them")


# --------------------------------------------------------------------------- outputs
#
# `analyse`, `figures` and `report` write only where they are asked to. Without an output
# option each writes to its standard place next to the store (the layout of the
# workflow: results/<exp>/fits.nc, figures/, report.html), replacing what an earlier run
# wrote there. An explicit output path that already exists is replaced only when it is
# an earlier output of the same command (recognised by its content) or with --force.


def _fail(command: str, message: str) -> int:
    print(f"stablesweep {command}: {message}", file=sys.stderr)
    return 1


def _same_path(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _is_own_fits(path: Path) -> bool:
    """An analysis file `stablesweep analyse` wrote (netCDF with its attributes)."""
    import xarray as xr

    try:
        with xr.open_dataset(path) as ds:
            attrs = dict(ds.attrs)
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False
    return attrs.get(PRODUCT_ATTR) == "analyse" or (
        "config_hash" in attrs and any(str(k).startswith("analysis_") for k in attrs))


def _is_own_listing(path: Path) -> bool:
    """A figure listing `stablesweep figures --list` wrote (a JSON list of names)."""
    import json

    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(names, list) and all(isinstance(n, str) for n in names)


def _refuse_overwrite(option: str, path: Path, own: Callable[[Path], bool],
                      what: str, force: bool) -> str | None:
    """Why writing `path` is refused (None: allowed)."""
    if path.is_dir():
        return f"{option} {path} is a directory; expected a file path"
    if path.exists() and not force and not own(path):
        return (f"{option} {path} exists and is not {what}; refusing to overwrite it "
                "(choose another path, or pass --force)")
    return None


#: Global attribute by which `analyse` recognises its own earlier output.
PRODUCT_ATTR = "stablesweep_product"
#: Manifest of the figures written into a folder other than the standard one.
FIGURE_MANIFEST = ".stablesweep-figures.json"


def _collect_warnings(command: str, caught: list) -> None:
    """Print the user-level warnings of a library call, one line each."""
    seen = set()
    for w in caught:
        if not issubclass(w.category, UserWarning) or issubclass(
                w.category, (DeprecationWarning, FutureWarning)):
            continue
        text = " ".join(str(w.message).split())
        if text not in seen:
            seen.add(text)
            print(f"stablesweep {command}: warning: {text}", file=sys.stderr)


# --------------------------------------------------------------------------- analyse


def add_analyse_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyse", help="fit rates, noise slopes, recovery maps and stability summaries",
        description="Analyse a sweep store: ε + C/n^γ and exponential fits with bootstrap "
        "confidence intervals, the noise slope C_3, recovery probabilities and the "
        "stability trade-off. Writes one netCDF file (default: fits.nc next to the store, "
        "where `stablesweep figures` and `stablesweep report` look for it).",
    )
    p.add_argument("store", type=Path, help="sweep store (Zarr)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output netCDF (default: fits.nc next to the store); an existing "
                   "file is replaced only if it is an earlier analysis file or with --force")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--threshold", type=float, default=1e-3,
                   help="relative error counted as recovery (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing --output file whatever it holds")
    p.set_defaults(func=cmd_analyse)


def cmd_analyse(args: argparse.Namespace) -> int:
    import warnings

    from stablesweep.analysis import analyse
    from stablesweep.sweep.store import StoreError, open_store

    if args.n_boot < 1:
        return _fail("analyse", f"--n-boot {args.n_boot} is not valid; expected an integer >= 1")
    if not args.threshold > 0:
        return _fail("analyse", f"--threshold {args.threshold} is not valid; expected a "
                     "number > 0")
    out = args.output or args.store.parent / "fits.nc"
    why = _refuse_overwrite("--output", out, _is_own_fits, "an analysis file",
                            args.force or _same_path(out, args.store.parent / "fits.nc"))
    if why:
        return _fail("analyse", why)
    try:
        ds = open_store(args.store)
    except StoreError as err:
        return _fail("analyse", str(err))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fits = analyse(ds, n_boot=args.n_boot, seed=args.seed, threshold=args.threshold)
        except (ValueError, StoreError) as err:
            _collect_warnings("analyse", caught)
            return _fail("analyse", " ".join(str(err).split()))
    _collect_warnings("analyse", caught)
    fits.attrs[PRODUCT_ATTR] = "analyse"
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
    p.add_argument("--fits", type=Path, default=None,
                   help="analysis file (default: fits.nc next to the store, when present)")
    p.add_argument("--outdir", type=Path, default=None,
                   help="output folder (default: figures/ next to the store); files of "
                   "the same names in another existing folder are replaced only if an "
                   "earlier `stablesweep figures` wrote them there, or with --force")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="draw only these figures (file stems, as listed by --list)")
    p.add_argument("--list", type=Path, default=None, metavar="FILE",
                   help="write the figure names as a JSON list to FILE ('-': stdout) "
                   "and draw nothing")
    p.add_argument("--force", action="store_true",
                   help="overwrite existing files whatever they hold")
    p.set_defaults(func=cmd_figures)


def _figure_conflicts(outdir: Path, names: Sequence[str]) -> list[Path]:
    """Files the figures would replace in `outdir` that no earlier run wrote there."""
    import json

    try:
        ours = set(json.loads((outdir / FIGURE_MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        ours = set()
    return [outdir / f"{n}.{ext}" for n in names for ext in ("png", "pdf")
            if (outdir / f"{n}.{ext}").exists() and f"{n}.{ext}" not in ours]


def _update_manifest(outdir: Path, paths: Sequence[Path]) -> None:
    import json

    manifest = outdir / FIGURE_MANIFEST
    try:
        names = set(json.loads(manifest.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        names = set()
    names |= {p.name for p in paths}
    tmp = manifest.with_name(f"{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sorted(names), indent=0) + "\n", encoding="utf-8")
    tmp.replace(manifest)


def cmd_figures(args: argparse.Namespace) -> int:
    import json
    import warnings

    import xarray as xr

    from stablesweep.figures import figure_names, make_figures
    from stablesweep.sweep.store import StoreError, open_store

    try:
        ds = open_store(args.store)
    except StoreError as err:
        return _fail("figures", str(err))
    fits_path = args.fits
    if fits_path is None and (args.store.parent / "fits.nc").exists():
        fits_path = args.store.parent / "fits.nc"
    fits = None
    if fits_path is not None:
        if not fits_path.exists():
            return _fail("figures", f"--fits {fits_path} does not exist")
        try:
            fits = xr.load_dataset(fits_path)
        except (OSError, ValueError) as err:
            return _fail("figures", f"--fits {fits_path} is not a readable netCDF file ({err})")
    elif args.list is None:
        print(f"stablesweep figures: no analysis file at {args.store.parent / 'fits.nc'}; "
              "drawing without fitted curves (run `stablesweep analyse STORE` first)",
              file=sys.stderr)
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.list is not None:
                text = json.dumps(figure_names(ds, fits), indent=1)
                if str(args.list) == "-":
                    print(text)
                    return 0
                why = _refuse_overwrite("--list", args.list, _is_own_listing,
                                        "a figure listing", args.force)
                if why:
                    return _fail("figures", why)
                args.list.parent.mkdir(parents=True, exist_ok=True)
                args.list.write_text(text + "\n")
                return 0
            default = args.store.parent / "figures"
            outdir = args.outdir or default
            if outdir.exists() and not outdir.is_dir():
                return _fail("figures", f"--outdir {outdir} is a file; expected a folder")
            standard = _same_path(outdir, default)
            if not standard and not args.force and outdir.is_dir() and any(outdir.iterdir()):
                names = args.only or figure_names(ds, fits)
                clash = _figure_conflicts(outdir, names)
                if clash:
                    return _fail("figures", f"--outdir {outdir} already holds {clash[0].name}"
                                 + (f" and {len(clash) - 1} more" if len(clash) > 1 else "")
                                 + " not written by stablesweep figures; refusing to overwrite"
                                 " (choose another folder, or pass --force)")
            paths = make_figures(ds, fits, outdir, only=args.only)
            if not standard:
                _update_manifest(outdir, paths)
    except ValueError as err:
        return _fail("figures", " ".join(str(err).split()))
    finally:
        _collect_warnings("figures", caught)
    for path in paths:
        print(path)
    return 0


# --------------------------------------------------------------------------- report


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="write the HTML report of an experiment",
        description="One self-contained HTML page (it opens offline): the figures with "
        "captions, the fit tables (full tables as downloadable CSV) and the provenance. "
        "By default everything is found where the workflow puts it, next to the store: "
        "fits.nc, figures/, and the report is written to report.html there.",
    )
    p.add_argument("store", type=Path, help="sweep store (Zarr)")
    p.add_argument("--fits", type=Path, default=None,
                   help="analysis file (default: fits.nc next to the store)")
    p.add_argument("--figures", type=Path, default=None,
                   help="figure folder (default: figures/ next to the store)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="HTML file (default: report.html next to the store); an existing "
                   "file is replaced only if it is an earlier report or with --force")
    p.add_argument("--max-size", type=float, default=2.0, metavar="MB",
                   help="size budget of the report in MB (10^6 bytes; default 2): figures "
                   "are embedded at the largest resolution that fits; 0: no budget, embed "
                   "the original PNGs")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing --output file whatever it holds")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from stablesweep.report import is_own_report, write_report
    from stablesweep.sweep.store import StoreError, open_store

    if not (args.max_size == 0 or args.max_size >= 0.01):
        return _fail("report", f"--max-size {args.max_size:g} is not valid; expected 0 (no "
                     "budget) or a size >= 0.01 MB")
    here = args.store.parent
    out = args.output or here / "report.html"
    why = _refuse_overwrite("--output", out, is_own_report, "a stablesweep report",
                            args.force or _same_path(out, here / "report.html"))
    if why:
        return _fail("report", why)
    try:
        open_store(args.store)
    except StoreError as err:
        return _fail("report", str(err))
    fits = args.fits or here / "fits.nc"
    if not fits.is_file():
        how = ("run `stablesweep analyse STORE` first, or pass --fits" if args.fits is None
               else "expected the netCDF file `stablesweep analyse` writes")
        return _fail("report", f"no analysis file at {fits}; {how}")
    figures = args.figures or here / "figures"
    if args.figures is not None and not figures.is_dir():
        return _fail("report", f"--figures {figures} is not a folder")
    if not figures.is_dir():
        print(f"stablesweep report: no figure folder at {figures}; writing the report "
              "without figures (run `stablesweep figures STORE` first)", file=sys.stderr)
    max_bytes = None if args.max_size == 0 else int(args.max_size * 1e6)
    try:
        write_report(args.store, fits, figures, out, max_bytes=max_bytes,
                     command=["stablesweep", *getattr(args, "argv", ["report"])])
    except ValueError as err:
        return _fail("report", " ".join(str(err).split()))
    size = out.stat().st_size
    print(f"[stablesweep] report -> {out} ({size / 1e6:.2f} MB)", file=sys.stderr)
    if max_bytes is not None and size > max_bytes:
        print(f"stablesweep report: warning: {out} is {size / 1e6:.2f} MB, over the "
              f"--max-size budget of {args.max_size:g} MB even with the smallest figures",
              file=sys.stderr)
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
    add_tradeoff_parser,
]


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0")
    return value


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


#: Exit code of an interrupted command (128 + SIGINT).
INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stablesweep`` console script."""
    from stablesweep._malloc import tune_malloc

    tune_malloc()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args) or 0)
    except OSError as err:  # a path the user gave: unreadable, unwritable, disk full
        detail = f"{err.strerror}: {err.filename}" if err.strerror and err.filename else err
        print(f"stablesweep {args.command}: {detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = (" (finished cells are kept; rerun the same command to resume)"
                if args.command == "run" else "")
        print(f"stablesweep {args.command}: interrupted{hint}", file=sys.stderr)
        _quiet_teardown()
        return INTERRUPTED


def _quiet_teardown() -> None:
    """Silence the shutdown noise of an interrupted Dask cluster.

    A cluster interrupted while its workers start leaves asyncio tasks whose errors
    ("Nanny failed to start", "ConnectionPool closing") are logged, with tracebacks, as
    the event loop and the cluster are torn down; the user asked for the stop.
    """
    import logging

    for name in ("asyncio", "distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    sys.unraisablehook = lambda unraisable: None


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
