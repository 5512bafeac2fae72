"""``stablesweep export``: a store or an analysis file as one tidy table (Parquet, CSV)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import fail, refuse_overwrite


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="the results as one long table (Parquet or CSV) for pandas, R, ...",
        description="Export a sweep store (or an analysis file, fits.nc) as one long "
        "table: one row per variable and point of its dimensions (cell, network, trial, "
        "depth, ...), columns `variable`, the dimensions, `value`, the labels (status, "
        "network_name, the problem parameters) and `done`. The source's provenance "
        "(config, config_hash, versions, git commit, ...) is the Parquet file's key-value "
        "metadata, or the sidecar FILE.json of a CSV file. Works on a store whose sweep "
        "is still running: pending cells are left out (or kept with --pending keep).",
    )
    p.add_argument("store", type=Path, metavar="STORE",
                   help="sweep store (Zarr directory) or analysis file (netCDF, fits.nc)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="output table: .parquet / .pq (Parquet) or .csv / .csv.gz (CSV); "
                   "an existing file is replaced only if it is an earlier export or with "
                   "--force")
    p.add_argument("--format", choices=None, default=None, metavar="{parquet,csv}",
                   help="output format (default: from the suffix of FILE)")
    p.add_argument("--pending", default="drop", metavar="{drop,keep}",
                   help="rows of pending cells: drop them (default) or keep them with NaN "
                   "values and done = 0 (stores only)")
    p.add_argument("--variable", action="append", default=None, metavar="NAME",
                   dest="variables",
                   help="export only this variable (repeatable; default: all)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing FILE whatever it holds")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from stablesweep.analysis.export import (
        ExportError,
        check_pending,
        export,
        format_of,
        is_export,
        open_source,
    )

    out: Path = args.output
    if out.is_dir():
        return fail("export", f"--output {out} is a directory; expected a file path "
                    f"(e.g. {out / 'sweep.parquet'})")
    try:
        fmt = format_of(out, args.format)
        check_pending(args.pending)
    except ExportError as err:
        return fail("export", str(err))
    why = refuse_overwrite("--output", out, is_export, "an earlier export", args.force)
    if why:
        return fail("export", why)
    why = _unwritable(out)
    if why:
        return fail("export", why)
    try:
        source = open_source(args.store)
        summary = export(source, out, fmt=fmt, pending=args.pending,
                         variables=args.variables)
    except ExportError as err:
        return fail("export", str(err))
    cells = summary.cells
    done = (f"; {cells['done'] + cells['failed']} of {cells['total']} cells done"
            + (f", {cells['pending']} pending {'kept' if args.pending == 'keep' else 'left out'}"
               if cells["pending"] else "")) if cells else ""
    side = f" (+ {summary.sidecar})" if summary.sidecar else ""
    print(f"[stablesweep] export of {args.store} -> {out}{side}: {summary.rows} rows, "
          f"{len(summary.columns)} columns, {_size(summary.bytes)}, "
          f"{summary.seconds:.2f} s{done}", file=sys.stderr)
    return 0


def _unwritable(out: Path) -> str | None:
    """Why ``out`` cannot be written (None: it can, creating missing folders)."""
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"--output {out}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--output {out}: permission denied (cannot write in {parent})"
    out.parent.mkdir(parents=True, exist_ok=True)
    return None


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover
