"""The sweep engine: config -> grid of cells -> Dask -> one Zarr store per sweep.

- :mod:`~stablesweep.sweep.config` — loading and validating experiment configs
  (JSON schema ``config.schema.json`` in this package, plus semantic checks, through
  the shared config layer :mod:`stablesweep.configuration`); its parts:
  :mod:`~stablesweep.sweep.axes` (problem axes), :mod:`~stablesweep.sweep.specs`
  (:class:`SweepConfig` and its specs), :mod:`~stablesweep.sweep.problem_checks`,
  :mod:`~stablesweep.sweep.network_checks`, :mod:`~stablesweep.sweep.model_files`,
  :mod:`~stablesweep.sweep.network_info` (registry introspection),
  :mod:`~stablesweep.sweep.examples` and :mod:`~stablesweep.sweep.preflight` (memory,
  network builds);
- :mod:`~stablesweep.sweep.grid` — cells and the seeds derived from their coordinates;
- :mod:`~stablesweep.sweep.cell` — the pure cell function;
- :mod:`~stablesweep.sweep.store` — the Zarr/xarray store, resume and locking;
- :mod:`~stablesweep.sweep.execute` — running the cells on Dask;
- :mod:`~stablesweep.sweep.progress` — progress display.
"""


from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that importing
#: the package (e.g. for the CLI's parsers) does not import PyTorch.
_EXPORTS = {
    "ConfigError": ".config",
    "SweepConfig": ".config",
    "load_config": ".config",
    "RunSummary": ".execute",
    "run_sweep": ".execute",
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
