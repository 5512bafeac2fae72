"""The sweep engine: config -> grid of cells -> Dask -> one Zarr store per sweep.

Three rooms, by concern, each importing only those before it:

- :mod:`~stablesweep.sweep.config` — reading and checking an experiment config, and
  what it means: specs, axes, the grid and seeds, drawing a problem, building a
  network entry;
- :mod:`~stablesweep.sweep.store` — the Zarr store: the schema of its variables
  (:mod:`~stablesweep.sweep.store.variables`), its layout, integrity, writer, lock and
  provenance;
- :mod:`~stablesweep.sweep.run` — running cells: the cell, the block tasks, Dask
  execution and clusters, progress, the cost estimate.
"""


from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that importing
#: the package (e.g. for the CLI's parsers) does not import PyTorch.
_EXPORTS = {
    "ConfigError": ".config",
    "SweepConfig": ".config",
    "load_config": ".config",
    "RunSummary": ".run",
    "run_sweep": ".run",
    "StoreError": ".store",
    "open_store": ".store",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "ConfigError",
    "RunSummary",
    "StoreError",
    "SweepConfig",
    "load_config",
    "open_store",
    "run_sweep",
]
