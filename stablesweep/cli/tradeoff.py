"""``stablesweep tradeoff``: the kernel trade-off (near-kernel details: U-Net vs FIRENET)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_threads_option, apply_threads

__all__ = ["add_tradeoff_parser", "run_tradeoff"]


def add_tradeoff_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``tradeoff`` to the CLI's subparsers; returns the new parser.

    ``stablesweep tradeoff CONFIG [-o OUTDIR] [--force] [--threads N] [--quiet]``
    """
    p = subparsers.add_parser(
        "tradeoff",
        help="the kernel trade-off: a U-Net trained on near-kernel details vs FIRENET",
        description="Use (or, where none matches the config, train) U-Nets with and "
        "without details almost invisible to A, one per training seed, then measure on "
        "test pairs (x, x + delta) each network's errors, detail recovery, amplification "
        "along A delta, the worst case at the matched budget ||e|| <= ||A delta|| and the "
        "kernel lower bound (||delta|| - 2 eta) / ||A delta||. Writes OUTDIR/{tradeoff.nc, "
        "tradeoff.csv, tradeoff.md, tradeoff.png} and, for networks it had to train, "
        "OUTDIR/models/. Exit codes: 0 done, 2 invalid config or existing outputs "
        "without --force, 130 interrupted.",
    )
    p.add_argument("config", type=Path, help="trade-off config (YAML), e.g. "
                   "config/tradeoff/kernel-32.yaml")
    p.add_argument("-o", "--outdir", type=Path, default=None,
                   help="output folder (default: results/tradeoff/<name>)")
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run_tradeoff)
    return p


def run_tradeoff(args: argparse.Namespace) -> int:
    """Run ``stablesweep tradeoff`` from parsed arguments; returns the exit status."""
    from stablesweep.tradeoff.config import TradeoffConfigError, load_tradeoff_config

    try:
        cfg = load_tradeoff_config(args.config)
    except TradeoffConfigError as err:
        print(f"stablesweep tradeoff: {err}", file=sys.stderr)
        return 2
    out = args.outdir if args.outdir is not None else Path("results") / "tradeoff" / cfg.name
    from stablesweep.tradeoff.experiment import OUTPUT_FILES

    names = list(OUTPUT_FILES)
    existing = [out / f for f in names if (out / f).exists()]
    if existing and not args.force:
        print(f"stablesweep tradeoff: {out} already holds {', '.join(p.name for p in existing)}; "
              "use --force to replace them or -o to write elsewhere", file=sys.stderr)
        return 2
    if out.exists() and not out.is_dir():
        print(f"stablesweep tradeoff: output folder {out} exists and is not a folder",
              file=sys.stderr)
        return 2
    from stablesweep.tradeoff.experiment import run_experiment

    apply_threads(args)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    res = run_experiment(cfg, out, log=log)
    log(f"[tradeoff] done in {res.seconds['total']:.0f} s "
        f"(training {res.seconds['training']:.0f} s)")
    print((out / "tradeoff.md").read_text())
    print(f"outputs: {out}/{{{', '.join(names)}}}"
          + (f" and trained models in {out / 'models'}" if (out / "models").is_dir() else ""))
    return 0
