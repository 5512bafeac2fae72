"""Running a sweep on Dask: local processes, an existing scheduler or a batch system.

:func:`run_sweep` locks the store, creates it (or checks that it belongs to this
config and repairs damaged metadata and cells), and submits one task per block of
pending cells (:func:`~stablesweep.sweep.run.block.run_block`): the Dask worker that runs a
block computes its cells and writes each into the store itself, as soon as it is
finished; the client only schedules, counts and reports (about 0.5 ms of client time
per cell, measured by ``benchmarks/sweep.py --tiny``). The store's metadata is
consolidated once, at the end. Where the cells run (:func:`~stablesweep.sweep.run.cluster.connect`):

- default: a :class:`~distributed.LocalCluster` of ``workers`` single-threaded worker
  processes (default: the CPUs this process may use), dashboard off unless
  ``dashboard=True``;
- ``scheduler="tcp://host:8786"``: an existing Dask scheduler and its workers;
- ``cluster="cluster.yaml"``: a batch-system cluster through dask-jobqueue, described
  by a small YAML file (see :mod:`stablesweep.sweep.run.cluster`).

Every worker must see the store at the same path (on a cluster: a shared file system).
Like anything that starts worker processes, call :func:`run_sweep` from a script under
``if __name__ == "__main__":``. A block whose task is lost with its worker is
resubmitted by Dask (``retries``) and skips the cells already written; a cell that
raises inside is recorded by the cell itself (status ``error``) and the sweep goes on.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from distributed import Client, as_completed

from ..config.grid import Cell, cells
from ..config.load import SweepConfig
from ..config.networks import probe_network
from ..config.problem import fixed_mask
from ..store.dataset import StoreError, finalize, open_or_create, read_done
from ..store.integrity import mark_pending, repair_store_metadata, stored_attributes, verify_cells
from ..store.layout import Layout, cell_block, stored_block
from ..store.lock import StoreLock
from .block import make_task, report_errors, run_block
from .cluster import ClusterConfigError, TorchThreads, cluster_from_file, connect
from .progress import Progress

__all__ = [
    "ClusterConfigError",
    "RunSummary",
    "TorchThreads",
    "cluster_from_file",
    "connect",
    "grid_summary",
    "make_layout",
    "make_task",
    "pending_cells",
    "run_sweep",
]

@dataclass
class RunSummary:
    """What a run did: cells in the sweep, done before, computed now, failed, left."""

    store: Path
    total: int
    skipped: int
    computed: int
    failed: int
    lost: int
    seconds: float
    #: time spent starting the cluster / connecting (client), and writing results (on
    #: the workers, summed over them)
    connect_seconds: float = 0.0
    write_seconds: float = 0.0
    #: wall time from the first task submitted to the last result; CPU time of this
    #: (the client) process meanwhile (with a LocalCluster: its scheduler's too); time
    #: in the cells themselves (``run_cell``, on the workers, summed)
    work_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    cell_seconds: float = 0.0
    #: done cells found damaged (missing, unreadable or changed data) and recomputed
    repaired: int = 0

    def __str__(self) -> str:
        text = (f"{self.store}: {self.computed} cells computed in {self.seconds:.1f} s "
                f"({self.skipped} already done, {self.total} in the sweep)")
        if self.failed:
            text += f"; {self.failed} with a failed trial (see status/message)"
        if self.lost:
            text += f"; {self.lost} not computed (rerun to retry)"
        if self.repaired:
            text += f"; {self.repaired} damaged cells recomputed"
        return text


# --------------------------------------------------------------------------- tasks


def make_layout(cfg: SweepConfig, store: str | Path | None = None) -> Layout:
    """Layout of ``cfg``'s store: builds every network once to find its iterate depths.

    The block shape is :func:`~stablesweep.sweep.store.layout.cell_block`'s for a new store,
    or, given an existing ``store``, the one it was written with (read from its root
    metadata or the backup of it, so a store whose metadata is damaged gets it too).
    """
    _, point = next(cfg.points())
    depths: set[int] = set()
    layers = []
    for spec in cfg.networks:
        its, n_layers = probe_network(spec, point)
        depths.update(its)
        layers.append(n_layers)
    layout = Layout(cfg, tuple(sorted(depths)), tuple(layers))
    attrs = stored_attributes(store) if store is not None else None
    if attrs is not None:
        block = stored_block(attrs, layout.cell_dims)
    else:
        block = cell_block(cfg, layout.cell_shape, layout.cell_arrays())
    return replace(layout, block=block)


def layout_from_store(cfg: SweepConfig, ds) -> Layout:
    """The layout of an open store ``ds`` of ``cfg`` (no network is built)."""
    layout = Layout(cfg, tuple(int(d) for d in ds["depth"].values),
                    tuple(int(n) for n in ds["network_layers"].values))
    return replace(layout, block=stored_block(ds.attrs, layout.cell_dims))


def repair_damaged(store: str | Path, layout: Layout, all_cells: list[Cell]) -> int:
    """Verify every done cell against its checksum; mark damaged ones pending again.

    Prints what it found (cell and reason, at most 10) and returns how many cells will
    be recomputed. Stores without checksums (older versions) are trusted as they are.
    """
    report = verify_cells(store, layout, all_cells)
    if report.damaged:
        print(f"[stablesweep] {len(report.damaged)} of {report.checked} done cells of "
              f"{str(store)!r} are damaged and will be computed again:", file=sys.stderr)
        for cell, why in report.damaged[:10]:
            print(f"[stablesweep]   {cell.key}: {why}", file=sys.stderr)
        mark_pending(store, [c for c, _ in report.damaged])
    return len(report.damaged)


def _repair_metadata(store: Path, cfg: SweepConfig) -> None:
    """Rewrite damaged metadata and coordinate files of ``cfg``'s store, saying which."""
    try:
        repaired = repair_store_metadata(store, cfg.hash, lambda: make_layout(cfg, store))
    except ValueError as err:
        raise StoreError(str(err)) from None
    if repaired:
        names = ", ".join(f"{name} ({why})" for name, why in list(repaired.items())[:10])
        print(f"[stablesweep] repaired the metadata of {str(store)!r}: {names}",
              file=sys.stderr)


def pending_cells(cfg: SweepConfig, store: str | Path) -> list[Cell]:
    """Cells whose ``done`` marker is still 0."""
    done = read_done(store)
    return [c for c in cells(cfg) if done[c.index] == 0]


# --------------------------------------------------------------------------- the run


def run_sweep(
    cfg: SweepConfig,
    store: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | Path | None = None,
    dashboard: bool = False,
    retries: int = 3,
    progress: bool = True,
    stream=None,
    cells_per_task: int | None = None,
) -> RunSummary:
    """Run (or resume) a sweep into ``store``.

    Parameters
    ----------
    cfg : SweepConfig
    store : path
        The Zarr store (created if missing; must belong to ``cfg`` otherwise).
    workers : int, optional
        Worker processes of the default LocalCluster (default: CPU count).
    scheduler : str, optional
        Address of an existing Dask scheduler.
    cluster : path, optional
        dask-jobqueue cluster description (YAML).
    dashboard : bool
        Serve the Dask dashboard of the LocalCluster on 127.0.0.1:8787 only (it has no
        authentication; reach it from elsewhere through ``ssh -L 8787:127.0.0.1:8787``).
    retries : int
        Resubmissions of a cell whose task failed or whose worker was lost.
    progress : bool
        Show progress (tqdm bar on a terminal, lines otherwise).
    cells_per_task : int, optional
        Cells per Dask task (default: :func:`task_size`). The results do not depend
        on it.

    Returns
    -------
    RunSummary

    Raises
    ------
    StoreError
        The store belongs to another config or another run holds its lock.
    """
    store = Path(store)
    start = time.monotonic()
    with StoreLock(store):
        _repair_metadata(store, cfg)
        ds = open_or_create(store, lambda: make_layout(cfg), cfg)
        layout = layout_from_store(cfg, ds)
        all_cells = cells(cfg)
        damaged = repair_damaged(store, layout, all_cells)
        todo = pending_cells(cfg, store)
        bar = Progress(len(todo), len(all_cells) - len(todo), stream=stream, enabled=progress)
        failed = lost = 0
        timing = dict.fromkeys(("connect", "write", "work", "client_cpu", "cells"), 0.0)
        try:
            if todo:
                t0 = time.monotonic()
                with connect(workers, scheduler, cluster, dashboard) as client:
                    timing["connect"] = time.monotonic() - t0
                    failed, lost = _compute(client, layout, store, todo, retries, bar, timing,
                                            cells_per_task)
        finally:
            bar.close()
            finalize(store)
    return RunSummary(store, len(all_cells), len(all_cells) - len(todo), len(todo) - lost,
                      failed, lost, time.monotonic() - start,
                      connect_seconds=timing["connect"], write_seconds=timing["write"],
                      work_seconds=timing["work"], client_cpu_seconds=timing["client_cpu"],
                      cell_seconds=timing["cells"], repaired=damaged)


def _compute(client: Client, layout: Layout, store: Path, todo: list[Cell], retries: int,
             bar: Progress, timing: dict[str, float],
             cells_per_task: int | None = None) -> tuple[int, int]:
    """Submit :func:`~stablesweep.sweep.run.block.run_block` tasks of the pending cells;
    the workers write the results. Returns (failed, lost) of ``todo``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run_id = uuid.uuid4().hex[:8]
    where = str(store.resolve())  # workers may start in another directory
    mask_from = layout.cfg.fixed.get("mask_from")  # a path relative to this directory
    mask = fixed_mask(mask_from) if mask_from else None
    blocks: dict[tuple[int, ...], list[Cell]] = {}
    for cell in todo:
        blocks.setdefault(layout.block_of(cell), []).append(cell)
    size = cells_per_task or task_size(len(todo), _workers(client), layout)
    futures = {}
    for block, members in blocks.items():
        name = ".".join(map(str, block))
        pieces = [members[i:i + size] for i in range(0, len(members), size)]
        lock = f"stablesweep-{run_id}-{name}" if len(pieces) > 1 else None
        for k, piece in enumerate(pieces):
            fut = client.submit(run_block, where, layout, piece, run_id, mask, lock,
                                key=f"block-{name}-{k}-{run_id}", pure=False,
                                retries=retries)
            futures[fut.key] = (fut, piece)
    for fut in as_completed([f for f, _ in futures.values()], loop=client.loop):
        _, members = futures.pop(fut.key)
        try:
            report = fut.result()
        except Exception as err:  # the task itself failed (a lost worker, a full disk)
            report_errors([(f"{members[0].key} and the {len(members) - 1} other cells of "
                            "its task", f"{type(err).__name__}: {err}")])
            continue
        finally:
            fut.release()
        report_errors(report.errors)
        timing["write"] += report.write_seconds
        timing["cells"] += report.compute_seconds
        bar.update(report.done + report.skipped, failed=report.failed)
    timing["work"] = time.perf_counter() - wall
    timing["client_cpu"] = time.process_time() - cpu
    # what the store holds decides: a cell is done once its marker is written
    markers = read_done(store)
    states = [int(markers[c.index]) for c in todo]
    return sum(m == 2 for m in states), sum(m == 0 for m in states)


def task_size(pending: int, workers: int, layout: Layout) -> int:
    """Cells per task: whole blocks where that still gives every worker 4 tasks, else
    ``ceil(pending / (4 workers))`` (blocks split over several tasks, which then write
    in turns, see :mod:`~stablesweep.sweep.run.block`).

    Fewer, larger tasks cost the client and the scheduler less (about 8 ms per task,
    so tasks of 10 or more cells keep the client under 1 ms per cell); four tasks per
    worker keep the workers busy to the end.
    """
    block = math.prod(layout.cell_block)
    return max(1, min(block, math.ceil(pending / (4 * max(1, workers)))))


def _workers(client: Client) -> int:
    """Workers the run will have: the cluster's plan (LocalCluster, dask-jobqueue, which
    may still be starting them), else those connected to the scheduler now."""
    plan = getattr(getattr(client, "cluster", None), "plan", None)
    if plan:
        return len(plan)
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


def grid_summary(cfg: SweepConfig) -> str:
    """One line: the grid axes and the number of cells."""
    n = len(cells(cfg))
    axes = " x ".join(f"{k}[{len(v)}]" for k, v in cfg.axes.items()) or "(one point)"
    extra = f" x attack_depth[{len(cfg.attack.depths)}]" if cfg.attack else ""
    return (f"{axes} x network[{len(cfg.networks)}]{extra} = {n} cells "
            f"of {cfg.trials} trial{'s' if cfg.trials != 1 else ''}")

