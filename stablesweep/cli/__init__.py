"""The ``stablesweep`` command line: a thin layer over the library.

Usage::

    stablesweep run CONFIG [--out STORE] [--workers N | --scheduler ADDRESS | --cluster FILE]
                           [--dashboard] [--retries N] [--quiet] [--dry-run]
    stablesweep status STORE [--json] [--verify]
    stablesweep analyse STORE [-o FITS] [--n-boot B] [--threshold T] [--force]
    stablesweep figures STORE [--fits FITS] [--outdir DIR] [--only NAME ...] [--list FILE]
    stablesweep report STORE [--fits FITS] [--figures DIR] [-o HTML] [--max-size MB]
    stablesweep export STORE -o FILE [--format parquet|csv] [--pending drop|keep]
                                     [--variable NAME ...] [--force]
    stablesweep train CONFIG ...       (trained networks; see stablesweep train -h)
    stablesweep barrier ...            (the K-digits experiment; see stablesweep barrier -h)
    stablesweep tradeoff CONFIG ...    (the kernel trade-off; see stablesweep tradeoff -h)
    stablesweep frontier ACTION CONFIG (the accuracy-stability frontier; see -h)

Each subcommand is one module of this package with one ``add_<name>_parser(subparsers)``
function that registers its arguments and sets ``func`` (called with the parsed
arguments, returning the exit code); adding a subcommand is adding such a module and
its function to :data:`SUBCOMMANDS`. What they share (messages, option types, the
rules for overwriting outputs) is :mod:`stablesweep.cli.common`.

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

from .analyse import add_analyse_parser
from .barrier import add_barrier_parser
from .export import add_export_parser
from .figures import add_figures_parser
from .frontier import add_frontier_parser
from .report import add_report_parser
from .run import add_run_parser
from .status import add_status_parser
from .tradeoff import add_tradeoff_parser
from .train import add_train_parser

__all__ = ["main", "build_parser", "console", "SUBCOMMANDS"]

#: Subcommand registrars, in help order. Add ``add_<name>_parser`` functions here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_run_parser,
    add_status_parser,
    add_analyse_parser,
    add_figures_parser,
    add_report_parser,
    add_export_parser,
    add_train_parser,
    add_barrier_parser,
    add_tradeoff_parser,
    add_frontier_parser,
]


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
