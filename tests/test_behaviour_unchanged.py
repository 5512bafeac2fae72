"""Issue 24 changed where things are declared, not what a sweep computes or stores.

- Stores written before (``tests/data/old_layout/*.zarr``, written at d9879f4 with the
  configs beside them, one of which still names the budget ``levels``) verify clean
  against the metadata the new layout writes, byte for byte, and resume: cells made
  pending and wiped are computed again to the same values.
- The shipped ``quick`` experiment gives the same store, fits and figures as at
  d9879f4 (``tests/data/quick_digest.json``, recorded by ``tests/quick_digest.py``);
  slow: it runs the whole experiment.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from stablesweep.cli import main
from stablesweep.sweep import load_config, run_sweep
from stablesweep.sweep.config.grid import Cell
from stablesweep.sweep.store.integrity import mark_pending

DATA = Path(__file__).parent / "data"
OLD = DATA / "old_layout"
REPO = Path(__file__).resolve().parents[1]


def _load_old(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the old budget key `levels`
        return load_config(OLD / f"{name}.yaml")


def _wipe(path: Path, cell: Cell) -> None:
    """Mark ``cell`` pending and overwrite its values with the fill values."""
    with xr.open_zarr(path) as ds:
        cell_dims = ds["done"].dims
        dims = {name: ds[name].dims for name in ds.data_vars}
    index = cell.index
    mark_pending(path, [cell])
    root = zarr.open_group(str(path), mode="r+")
    for name, var_dims in dims.items():
        if name in ("done", "checksum") or var_dims[:len(cell_dims)] != cell_dims:
            continue
        arr = root[name]
        fill = "" if arr.dtype.kind in "TUO" else np.nan
        arr[index] = np.full(arr.shape[len(index):], fill, dtype=arr.dtype)


def _values(path: Path) -> dict[str, np.ndarray]:
    with xr.open_zarr(path) as ds:
        return {name: np.asarray(ds[name].values) for name in ds.data_vars
                if ds[name].attrs.get("units") != "s" and name != "checksum"}


@pytest.mark.parametrize("name", ["worst-case", "momentum"])
def test_an_old_store_verifies_clean_against_the_new_layout(name, tmp_path, capsys):
    store = tmp_path / f"{name}.zarr"
    shutil.copytree(OLD / f"{name}.zarr", store)
    assert main(["status", str(store), "--verify"]) == 0, capsys.readouterr()


@pytest.mark.parametrize(("name", "cell"), [("worst-case", Cell((1,), 1, 0)),
                                           ("momentum", Cell((), 0, 0))])
def test_an_old_store_resumes_to_the_same_values(name, cell, tmp_path):
    store = tmp_path / f"{name}.zarr"
    shutil.copytree(OLD / f"{name}.zarr", store)
    before = _values(store)
    _wipe(store, cell)
    wiped = _values(store)
    assert any(not np.array_equal(before[k], wiped[k], equal_nan=True) for k in before)
    summary = run_sweep(_load_old(name), store, workers=1, progress=False)
    assert summary.lost == 0 and summary.computed == 1
    after = _values(store)
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


@pytest.mark.slow
def test_quick_gives_the_same_store_fits_and_figures_as_before(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from quick_digest import digests

    store = tmp_path / "sweep.zarr"
    config = REPO / "config" / "experiments" / "quick.yaml"
    assert main(["run", str(config), "--out", str(store), "--workers", "2", "--quiet"]) == 0
    assert main(["analyse", str(store)]) == 0
    assert main(["figures", str(store)]) == 0
    now = digests(tmp_path)
    recorded = json.loads((DATA / "quick_digest.json").read_text())
    for part, table in recorded.items():
        differ = sorted(k for k in set(table) | set(now[part]) if table.get(k) != now[part].get(k))
        assert not differ, f"{part}: {differ}"
