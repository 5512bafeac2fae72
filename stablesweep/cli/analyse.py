"""``stablesweep analyse``: the fits of a store, in one netCDF file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import PRODUCT_ATTR, collect_warnings, fail, is_own_fits, refuse_overwrite, same_path


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
        return fail("analyse", f"--n-boot {args.n_boot} is not valid; expected an integer >= 1")
    if not args.threshold > 0:
        return fail("analyse", f"--threshold {args.threshold} is not valid; expected a "
                     "number > 0")
    out = args.output or args.store.parent / "fits.nc"
    why = refuse_overwrite("--output", out, is_own_fits, "an analysis file",
                            args.force or same_path(out, args.store.parent / "fits.nc"))
    if why:
        return fail("analyse", why)
    try:
        ds = open_store(args.store)
    except StoreError as err:
        return fail("analyse", str(err))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fits = analyse(ds, n_boot=args.n_boot, seed=args.seed, threshold=args.threshold)
        except (ValueError, StoreError) as err:
            collect_warnings("analyse", caught)
            return fail("analyse", " ".join(str(err).split()))
    collect_warnings("analyse", caught)
    fits.attrs[PRODUCT_ATTR] = "analyse"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fits.to_netcdf(tmp)
    tmp.replace(out)
    print(f"[stablesweep] analysis of {args.store} -> {out} "
          f"({len(fits.data_vars)} variables)", file=sys.stderr)
    return 0
