"""``stablesweep status``: how far a store is (with ``--verify``: whether it is intact)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    from stablesweep.sweep.config.grid import cells
    from stablesweep.sweep.run.execute import make_layout
    from stablesweep.sweep.store import open_store
    from stablesweep.sweep.store.integrity import metadata_damage, verify_cells

    ds = open_store(store)
    cfg = load_config(str(ds.attrs["config"]))
    layout = make_layout(cfg, store)
    metadata = metadata_damage(store, layout)
    report = verify_cells(store, layout, cells(cfg))
    report.metadata = metadata
    return report


def cmd_status(args: argparse.Namespace) -> int:
    from stablesweep.sweep import ConfigError
    from stablesweep.sweep.store import StoreError, done_counts, open_store
    from stablesweep.sweep.store.layout import BLOCK_ATTR

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
        summary = {"store": str(args.store), **{k: a.get(k) for k in keys}, "cells": counts,
                   "files": _files(args.store), "cell_block": a.get(BLOCK_ATTR)}
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
    print(f"files:      {_files_line(args.store, a, counts['total'])}")
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


def _files(store: Path) -> int:
    """Files in the store (on disk, metadata included)."""
    return sum(1 for p in Path(store).rglob("*") if p.is_file())


def _files_line(store: Path, attrs, cells: int) -> str:
    """How the store is laid out on disk: files, files per cell, the blocks."""
    import math

    from stablesweep.sweep.store.layout import BLOCK_ATTR

    files = _files(store)
    block = attrs.get(BLOCK_ATTR)
    size = math.prod(block) if block else 1
    blocks = f"blocks of {size} cells {tuple(block)}" if block else "one cell per block"
    return f"{files} ({files / max(cells, 1):.2f} per cell; {blocks})"


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
