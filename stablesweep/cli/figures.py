"""``stablesweep figures``: the paper figures of a store (PNG and PDF)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .common import (
    FIGURE_MANIFEST,
    collect_warnings,
    fail,
    is_own_listing,
    refuse_overwrite,
    same_path,
)


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
        return fail("figures", str(err))
    fits_path = args.fits
    if fits_path is None and (args.store.parent / "fits.nc").exists():
        fits_path = args.store.parent / "fits.nc"
    fits = None
    if fits_path is not None:
        if not fits_path.exists():
            return fail("figures", f"--fits {fits_path} does not exist")
        try:
            fits = xr.load_dataset(fits_path)
        except (OSError, ValueError) as err:
            return fail("figures", f"--fits {fits_path} is not a readable netCDF file ({err})")
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
                why = refuse_overwrite("--list", args.list, is_own_listing,
                                        "a figure listing", args.force)
                if why:
                    return fail("figures", why)
                args.list.parent.mkdir(parents=True, exist_ok=True)
                args.list.write_text(text + "\n")
                return 0
            default = args.store.parent / "figures"
            outdir = args.outdir or default
            if outdir.exists() and not outdir.is_dir():
                return fail("figures", f"--outdir {outdir} is a file; expected a folder")
            standard = same_path(outdir, default)
            if not standard and not args.force and outdir.is_dir() and any(outdir.iterdir()):
                names = args.only or figure_names(ds, fits)
                clash = _figure_conflicts(outdir, names)
                if clash:
                    return fail("figures", f"--outdir {outdir} already holds {clash[0].name}"
                                 + (f" and {len(clash) - 1} more" if len(clash) > 1 else "")
                                 + " not written by stablesweep figures; refusing to overwrite"
                                 " (choose another folder, or pass --force)")
            paths = make_figures(ds, fits, outdir, only=args.only)
            if not standard:
                _update_manifest(outdir, paths)
    except ValueError as err:
        return fail("figures", " ".join(str(err).split()))
    finally:
        collect_warnings("figures", caught)
    for path in paths:
        print(path)
    return 0
