"""``stablesweep barrier``: the K-digits experiment (trained LISTA and FIRENET)."""

from __future__ import annotations

import argparse
import sys

from .common import add_threads_option, apply_threads, fail

__all__ = ["add_barrier_parser", "run_barrier"]


def add_barrier_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``barrier`` to the CLI's subparsers; returns the new parser.

    ``stablesweep barrier [--config PATH] [--out DIR] [--quick] [--threads N]
    [--no-progress]``
    """
    p = subparsers.add_parser(
        "barrier",
        help="the K-digits experiment: trained LISTA and FIRENET on inexact input",
        description="Train LISTA networks on the K-digits square-root LASSO family for "
        "every (K, n), test them and FIRENET on the problem with the other index, and write "
        "table.csv / table.md / table.html / summary.json. The full default run takes about "
        "10 minutes on one CPU core; --quick takes seconds.",
    )
    p.add_argument("--config", default=None,
                   help="experiment config (default: built-in defaults, the same as "
                   "config/experiments/k-digits.yaml)")
    p.add_argument("--out", default="results/k-digits",
                   help="output folder (default: results/k-digits)")
    p.add_argument("--quick", action="store_true",
                   help="small grid and short training (tests, smoke runs)")
    add_threads_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_barrier)
    return p


def run_barrier(args: argparse.Namespace) -> int:
    """Run ``stablesweep barrier`` from parsed arguments; returns the exit status."""
    from stablesweep.barrier.experiment import load_barrier_config, run_experiment

    apply_threads(args)
    try:
        cfg = load_barrier_config(args.config, quick=args.quick)
    except (FileNotFoundError, ValueError) as err:
        return fail("barrier", str(err))
    run_experiment(cfg, args.out, progress=not args.no_progress and sys.stderr.isatty())
    print(f"table: {args.out}/table.csv (and table.md, table.html)")
    return 0
