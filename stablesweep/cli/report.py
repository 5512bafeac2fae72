"""``stablesweep report``: one self-contained HTML report of a store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import fail, refuse_overwrite, same_path


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
        return fail("report", f"--max-size {args.max_size:g} is not valid; expected 0 (no "
                     "budget) or a size >= 0.01 MB")
    here = args.store.parent
    out = args.output or here / "report.html"
    why = refuse_overwrite("--output", out, is_own_report, "a stablesweep report",
                            args.force or same_path(out, here / "report.html"))
    if why:
        return fail("report", why)
    try:
        open_store(args.store)
    except StoreError as err:
        return fail("report", str(err))
    fits = args.fits or here / "fits.nc"
    if not fits.is_file():
        how = ("run `stablesweep analyse STORE` first, or pass --fits" if args.fits is None
               else "expected the netCDF file `stablesweep analyse` writes")
        return fail("report", f"no analysis file at {fits}; {how}")
    figures = args.figures or here / "figures"
    if args.figures is not None and not figures.is_dir():
        return fail("report", f"--figures {figures} is not a folder")
    if not figures.is_dir():
        print(f"stablesweep report: no figure folder at {figures}; writing the report "
              "without figures (run `stablesweep figures STORE` first)", file=sys.stderr)
    max_bytes = None if args.max_size == 0 else int(args.max_size * 1e6)
    try:
        write_report(args.store, fits, figures, out, max_bytes=max_bytes,
                     command=["stablesweep", *getattr(args, "argv", ["report"])])
    except ValueError as err:
        return fail("report", " ".join(str(err).split()))
    size = out.stat().st_size
    print(f"[stablesweep] report -> {out} ({size / 1e6:.2f} MB)", file=sys.stderr)
    if max_bytes is not None and size > max_bytes:
        print(f"stablesweep report: warning: {out} is {size / 1e6:.2f} MB, over the "
              f"--max-size budget of {args.max_size:g} MB even with the smallest figures",
              file=sys.stderr)
    print(out)
    return 0
