"""The sweep engine: config -> grid of cells -> Dask -> one Zarr store per sweep.

- :mod:`~stablesweep.sweep.config` — loading and validating experiment configs
  (JSON schema ``config.schema.json`` in this package, plus semantic checks);
- :mod:`~stablesweep.sweep.grid` — cells and the seeds derived from their coordinates;
- :mod:`~stablesweep.sweep.cell` — the pure cell function;
- :mod:`~stablesweep.sweep.store` — the Zarr/xarray store, resume and locking;
- :mod:`~stablesweep.sweep.execute` — running the cells on Dask;
- :mod:`~stablesweep.sweep.progress` — progress display.
"""

from .config import ConfigError, SweepConfig, load_config
from .execute import RunSummary, run_sweep
from .store import StoreError, open_store

__all__ = [
    "ConfigError",
    "RunSummary",
    "StoreError",
    "SweepConfig",
    "load_config",
    "open_store",
    "run_sweep",
]
