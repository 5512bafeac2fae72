"""Running cells: the cell, the block tasks workers run, Dask execution and clusters.

- :mod:`.cell` — the pure cell function (its arrays from the store schema), with
  :mod:`.quality` (PSNR, SSIM) and :mod:`.minimiser` (the ``minimiser`` option); the
  attack is its kind's (:mod:`stablesweep.attacks.registry`);
- :mod:`.block` — one Dask task: compute and write one block of cells;
- :mod:`.execute` — :func:`run_sweep`: create or resume the store, schedule the blocks;
- :mod:`.cluster`, :mod:`.slurm` — clusters (local, scheduler, dask-jobqueue) and the
  SLURM fit check;
- :mod:`.progress` — progress display;
- :mod:`.estimate` — what a sweep will cost (``run --dry-run``).
"""

from stablesweep._lazy import lazy_exports

#: public name -> submodule, imported on first use (Dask and PyTorch only when needed).
_EXPORTS = {
    "RunSummary": ".execute",
    "run_sweep": ".execute",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["RunSummary", "run_sweep"]
