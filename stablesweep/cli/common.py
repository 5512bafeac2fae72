"""What every ``stablesweep`` subcommand shares: messages, option types, output rules.

`analyse`, `figures` and `report` write only where they are asked to. Without an output
option each writes to its standard place next to the store (the layout of the
workflow: results/<exp>/fits.nc, figures/, report.html), replacing what an earlier run
wrote there. An explicit output path that already exists is replaced only when it is
an earlier output of the same command (recognised by its content) or with --force.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["FIGURE_MANIFEST", "PRODUCT_ATTR", "add_threads_option", "apply_threads",
           "check_input_file", "collect_warnings", "fail", "is_own_fits", "is_own_listing",
           "non_negative_int", "positive_int", "refuse_overwrite", "same_path"]


def fail(command: str, message: str) -> int:
    print(f"stablesweep {command}: {message}", file=sys.stderr)
    return 1


def same_path(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def is_own_fits(path: Path) -> bool:
    """An analysis file `stablesweep analyse` wrote (netCDF with its attributes)."""
    import xarray as xr

    try:
        with xr.open_dataset(path) as ds:
            attrs = dict(ds.attrs)
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False
    return attrs.get(PRODUCT_ATTR) == "analyse" or (
        "config_hash" in attrs and any(str(k).startswith("analysis_") for k in attrs))


def is_own_listing(path: Path) -> bool:
    """A figure listing `stablesweep figures --list` wrote (a JSON list of names)."""
    import json

    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(names, list) and all(isinstance(n, str) for n in names)


def refuse_overwrite(option: str, path: Path, own: Callable[[Path], bool],
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


def collect_warnings(command: str, caught: list) -> None:
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



def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value



def check_input_file(option: str, path: Path | None) -> str | None:
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


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """The ``--threads`` option of the commands that train or run PyTorch in-process."""
    p.add_argument("--threads", type=non_negative_int, default=1,
                   help="PyTorch CPU threads (default 1; 0 keeps PyTorch's default)")


def apply_threads(args: argparse.Namespace) -> None:
    """Pin PyTorch's CPU threads to ``args.threads`` (0: leave PyTorch's default)."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
