"""A task of cells of one block: computed and written by the Dask worker that runs it.

The store's cells are grouped into blocks (:attr:`Layout.block
<stablesweep.sweep.store.layout.Layout.block>`): one block's values of a variable are one
chunk, one file. :func:`run_block`, one Dask task, computes cells of one block one by
one and writes each into the store as soon as it is finished — its values and
checksum, then its ``done`` marker (:class:`StoreWriter`). The client that submitted
the task learns only a small :class:`BlockReport`.

Why this is safe
    Every file a cell writes belongs to its block (the problem and forward groups,
    which have fewer dims, are written only by the cells of network 0 / the first
    attack depth, see :func:`~stablesweep.sweep.store.integrity.cell_groups`, all of which lie
    in the block whose chunk it is). A block is computed by one task, or, when the run
    splits it over several tasks to keep every worker busy, its tasks take turns to
    write through a Dask lock named after the block (:class:`distributed.Lock`): a
    write reads the block's chunk, changes the cell's part and writes it back, and two
    such writes must not interleave. Zarr's local store replaces a file atomically
    (write to a temporary name, then rename), so a worker killed at any moment leaves
    every chunk as it was before or after one cell's write; a cell counts as done only
    once its marker is written, after its data, so a killed run loses no finished cell
    and its rerun computes only the rest. A task that runs again (a retry after its
    worker was lost) skips its cells that are already done.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.grid import Cell
from ..config.problem import fixed_mask
from ..store.layout import Layout
from ..store.writer import StoreWriter
from .cell import CellTask, run_cell

__all__ = ["BlockReport", "make_task", "report_errors", "run_block"]


@dataclass
class BlockReport:
    """What one :func:`run_block` task did (all the client learns about its cells).

    Attributes
    ----------
    done : int
        Cells computed and written by this task.
    failed : int
        Of those, cells with a failed trial (``done`` marker 2).
    skipped : int
        Cells of the task that were already done (a retried task).
    errors : list of (str, str)
        Cells that could not be computed (cell key, message); they stay pending.
    compute_seconds, write_seconds : float
        Time in :func:`~stablesweep.sweep.run.cell.run_cell` and in writing, on the worker.
    """

    done: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    compute_seconds: float = 0.0
    write_seconds: float = 0.0


def make_task(layout: Layout, cell: Cell, mask: np.ndarray | None = None) -> CellTask:
    """The :class:`CellTask` of one cell.

    The attacked depth comes from :meth:`SweepConfig.attacked_depth` (``None`` and the
    reason where the network is skipped); with ``mask_from`` the task carries the mask:
    ``mask`` when given (read once by the client, whose working directory the path is
    relative to), else read from the file.
    """
    cfg = layout.cfg
    attack = cfg.attack if cell.attack_depth is not None else None
    attack_depth, skip = (None, "")
    if attack is not None:
        attack_depth, skip = cfg.attacked_depth(cell.network, cell.attack_depth)
    examples = tuple(
        (k, e.trial) for k, e in enumerate(cfg.examples)
        if (e.point, e.network, e.attack_depth) == (cell.point, cell.network, cell.attack_depth)
    )
    point = cfg.point(cell.point)
    return CellTask(
        key=cell.key,
        point=point,
        seed=cfg.seed,
        trials=cfg.trials,
        network=cfg.networks[cell.network],
        depths=layout.depths,
        forward=cell.runs_forward,
        attack=attack,
        attack_depth=attack_depth,
        examples=examples,
        image_shape=layout.image_shape,
        attack_skip=skip,
        mask=(mask if mask is not None else fixed_mask(point["mask_from"]))
        if point.get("mask_from") else None,
        minimiser=cfg.minimiser,
    )


#: The writer of the last store this process wrote to: (path, run id) -> writer. One
#: task after another of the same run reuses it (opening costs ~1 ms per array).
_WRITER: dict[tuple[str, str], StoreWriter] = {}


def _writer(store: str, run_id: str, layout: Layout) -> StoreWriter:
    key = (store, run_id)
    if key not in _WRITER:
        for old in _WRITER.values():
            old.close()
        _WRITER.clear()
        _WRITER[key] = StoreWriter(store, layout)
    return _WRITER[key]


def run_block(store: str | Path, layout: Layout, cells: Sequence[Cell],
              run_id: str = "", mask: np.ndarray | None = None,
              lock: str | None = None) -> BlockReport:
    """Compute the pending ``cells`` of one block and write each into ``store``.

    Parameters
    ----------
    store : path
        The sweep's store (created, with ``layout``).
    layout : Layout
        Its layout.
    cells : sequence of Cell
        Cells of one block (:meth:`Layout.block_of` equal for all).
    run_id : str
        Identifies the run (tasks of one run share their open store).
    mask : ndarray, optional
        The fixed sampling mask of a ``mask_from`` config (see :func:`make_task`).
    lock : str, optional
        Name of the Dask lock that the block's tasks write under (None: this task is
        the block's only one).

    Returns
    -------
    BlockReport
    """
    report = BlockReport()
    writer = _writer(str(store), run_id, layout)
    if lock is None:
        turn = contextlib.nullcontext()
    else:
        from distributed import Lock  # only a split block's tasks need the scheduler

        turn = Lock(lock)
    done = writer.done(cells)
    for cell, marker in zip(cells, done, strict=True):
        if marker:
            report.skipped += 1
            continue
        t0 = time.perf_counter()
        try:
            result = run_cell(make_task(layout, cell, mask))
        except Exception as err:  # a bug outside the trials (those are caught inside)
            report.errors.append((cell.key, f"{type(err).__name__}: {err}"))
            continue
        t1 = time.perf_counter()
        with turn:
            writer.write(cell, result)
        report.write_seconds += time.perf_counter() - t1
        report.compute_seconds += t1 - t0
        report.done += 1
        report.failed += bool(result.failed)
    return report


def report_errors(errors: Sequence[tuple[str, str]], stream=None) -> None:
    """Print the cells a run could not compute (they stay pending for the next run)."""
    for key, message in errors:
        print(f"[stablesweep] cell {key} was not computed: {message}",
              file=stream or sys.stderr, flush=True)

