"""The result store: one Zarr (v3) store per sweep, written through xarray.

The store's rooms:

* :mod:`~stablesweep.sweep.store.variables` — the table of stored variables;
* :mod:`~stablesweep.sweep.store.layout` — dimensions, coordinates and chunks (:class:`Layout`);
* :mod:`~stablesweep.sweep.store.provenance` — what produced the store (its attributes);
* :mod:`~stablesweep.sweep.store.writer` — finished cells written, data before ``done``;
* :mod:`~stablesweep.sweep.store.integrity` — checksums and repair;
* :mod:`~stablesweep.sweep.store.lock` — one run at a time;
* this module — creating, opening and finalising a store.

:func:`create_store` writes the metadata and coordinates only (every data variable
reads as NaN / "" / 0 until written); :func:`open_or_create` opens a store for a config
and refuses one written by another; :func:`finalize` stamps the end time and
consolidates the metadata once, at the end of a run.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from ..config.load import SweepConfig
from .integrity import backup_root
from .layout import Layout
from .provenance import mask_provenance

__all__ = ["StoreError", "check_store_config", "create_store", "done_counts", "finalize",
           "open_or_create", "open_store", "read_done"]


class StoreError(RuntimeError):
    """A store that cannot be used for this run (other config, locked, not a sweep)."""



# --------------------------------------------------------------------------- create / open


def create_store(path: str | Path, layout: Layout) -> None:
    """Write the metadata and coordinates of a new store at ``path`` (atomically).

    The store is written under a temporary name and renamed, so ``path`` exists only
    once complete.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.creating-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    layout.write_template(tmp)
    backup_root(tmp)
    os.replace(tmp, path)


def open_or_create(path: str | Path, layout_factory, cfg: SweepConfig) -> xr.Dataset:
    """Open the store at ``path`` for ``cfg`` (creating it if missing).

    ``layout_factory()`` is called only when the store is created (it builds the
    networks to find their depths). Raises :class:`StoreError` when the store was
    written by another config.
    """
    path = Path(path)
    if not path.exists():
        create_store(path, layout_factory())
    return check_store_config(path, cfg)


def check_store_config(path: str | Path, cfg: SweepConfig) -> xr.Dataset | None:
    """The store at ``path`` opened for ``cfg`` (None when there is none yet).

    Raises :class:`StoreError` when it is not a sweep store, or was written by another
    config or with another ``mask_from`` file.
    """
    path = Path(path)
    if not path.exists():
        return None
    ds = open_store(path)
    have = ds.attrs.get("config_hash")
    if have != cfg.hash:
        raise StoreError(
            f"store {str(path)!r} was created by a different config (config_hash "
            f"{str(have)[:12]}..., this config {cfg.hash[:12]}...); refusing to mix results. "
            "Use another --out, or delete the store to start over."
        )
    now = mask_provenance(cfg).get("mask_from_sha256")
    if ds.attrs.get("mask_from_sha256") != now:
        raise StoreError(
            f"store {str(path)!r} was measured with another mask than the one now in "
            f"{cfg.fixed.get('mask_from')!r} (mask_from_sha256 "
            f"{str(ds.attrs.get('mask_from_sha256'))[:12]}..., now {str(now)[:12]}...; the "
            "network was retrained?); refusing to mix results. Use another --out, or "
            "delete the store to start over."
        )
    return ds


def open_store(path: str | Path) -> xr.Dataset:
    """Open a sweep store (consolidated or not), without loading data."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        if (path / "done").is_dir():
            raise StoreError(
                f"store {str(path)!r} has lost its root metadata (zarr.json); "
                "`stablesweep run` with its config restores it from its backup")
        raise StoreError(f"{str(path)!r} is not a sweep store (no zarr.json)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_zarr(path, consolidated=None, chunks=None)
    except Exception as err:  # noqa: BLE001 - zarr's errors for a damaged store vary
        raise StoreError(
            f"store {str(path)!r} cannot be read ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:200]}); its metadata is damaged. "
            "`stablesweep run` with its config repairs it and recomputes damaged cells"
        ) from None
    if "done" not in ds or "config_hash" not in ds.attrs:
        raise StoreError(f"{str(path)!r} is a Zarr store but not a stablesweep sweep "
                         "(no 'done' marker or config_hash)")
    return ds


def read_done(path: str | Path) -> np.ndarray:
    """The ``done`` marker array (0 pending, 1 done, 2 done with failures), read fresh."""
    arr = zarr.open_array(Path(path) / "done", mode="r")
    return np.asarray(arr[...])


def done_counts(path: str | Path) -> dict[str, int]:
    done = read_done(path)
    return {"total": int(done.size), "done": int((done == 1).sum()),
            "failed": int((done == 2).sum()), "pending": int((done == 0).sum())}



def finalize(path: str | Path) -> None:
    """Stamp the end time (``finished``) and consolidate the metadata (end of a run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = zarr.open_group(str(path), mode="r+", zarr_format=3)
        root.attrs["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        zarr.consolidate_metadata(str(path), zarr_format=3)
    backup_root(path)
