"""The sweep's Zarr store: its schema, layout, integrity, writing and locking.

- :mod:`.variables` — the store schema: every variable, one row each (with the rows
  the attack kinds declare), and the dimension names;
- :mod:`.layout` — dimensions, coordinates, chunks and blocks of a config's store;
- :mod:`.dataset` — create, open and check a store (:func:`open_store`,
  :class:`StoreError`);
- :mod:`.writer` — writing finished cells (:class:`~.writer.CellResult`);
- :mod:`.integrity` — checksums, verification and repair; :mod:`.lock` — one run
  per store; :mod:`.provenance` — what the store records about its run.
"""

from .dataset import (
    StoreError,
    check_store_config,
    create_store,
    done_counts,
    finalize,
    open_or_create,
    open_store,
    read_done,
)

__all__ = [
    "StoreError",
    "check_store_config",
    "create_store",
    "done_counts",
    "finalize",
    "open_or_create",
    "open_store",
    "read_done",
]
