"""`stablesweep export`: the tidy table of a store (or fits.nc) read back and compared.

The stores are made in-process, without Dask: the template (`create_store`) and some
of its cells computed by `run_block`, the task a worker runs. A store with 5 of its 8
cells done is what a running sweep leaves; finishing it gives the complete store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stablesweep.analysis.export import ExportError, read_export_metadata, tidy
from stablesweep.cli import main

REPO = Path(__file__).resolve().parents[1]

#: 2 transforms x 2 noise levels x 2 networks x 1 attack depth = 8 cells, 2 trials each,
#: a 2-step momentum attack and one kept example (1-D, n = 8: a second per cell or less).
CONFIG = {
    "experiment": "export",
    "seed": 0,
    "trials": 2,
    "problem": {
        "transform": ["walsh", "fourier"],
        "resolution": 8,
        "dim": 1,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [1, 1, 1]},
        "noise": [0.0, 0.1],
    },
    "networks": [{"name": "fista", "depth": 6},
                 {"name": "firenet", "depth": 6, "params": {"p": 2}}],
    "attack": {"kind": "momentum", "depths": [4],
               "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2,
                          "record_every": 1}},
    "examples": [{"network": "fista", "trial": 1, "noise": 0.1, "transform": "walsh"}],
}
N_DONE = 5


def make_store(path: Path, config: dict = CONFIG, n_done: int | None = None) -> Path:
    """A store of `config` with its first `n_done` cells computed (None: all)."""
    from stablesweep.sweep import load_config
    from stablesweep.sweep.config.grid import cells
    from stablesweep.sweep.run.block import run_block
    from stablesweep.sweep.run.execute import make_layout
    from stablesweep.sweep.store import create_store

    cfg = load_config(config)
    layout = make_layout(cfg)
    create_store(path, layout)
    todo = cells(cfg)
    report = run_block(path, layout, todo if n_done is None else todo[:n_done], "test")
    assert not report.errors
    return path


def open_ds(path: Path) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_zarr(path, consolidated=False).load()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(partial store, complete store, fits.nc of the complete one)."""
    from stablesweep.analysis import analyse

    root = tmp_path_factory.mktemp("export")
    partial = make_store(root / "partial.zarr", n_done=N_DONE)
    complete = make_store(root / "sweep.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = analyse(open_ds(complete), n_boot=3)
    fits.to_netcdf(root / "fits.nc")
    return partial, complete, root / "fits.nc"


def numeric(ds: xr.Dataset) -> list[str]:
    return [str(v) for v in ds.data_vars
            if v not in ("done", "checksum") and ds[v].dtype.kind in "fiub"]


def expected(ds: xr.Dataset, name: str, pending: str) -> pd.Series:
    """The values of `name` per point of its dims, by xarray (pending cells dropped)."""
    da = ds[name].reset_coords(drop=True)
    series = da.to_series()
    if pending == "drop":
        done = ds["done"].reset_coords(drop=True)
        missing = [d for d in done.dims if d not in da.dims]
        done = done.max(missing) if missing else done
        if "example" in da.dims:  # the example's own cell
            sel = {d: ds[f"example_{d}"] for d in ds["done"].dims}
            done = ds["done"].reset_coords(drop=True).sel(
                {d: v.reset_coords(drop=True) for d, v in sel.items()})
        keep = done.broadcast_like(da).transpose(*da.dims).to_series() > 0
        series = series[keep.values]
    return series


def assert_table_matches(df: pd.DataFrame, ds: xr.Dataset, pending: str) -> None:
    """Every numeric variable's rows: the store's values at the rows' coordinates."""
    assert set(df["variable"]) >= set(numeric(ds))
    for name in numeric(ds):
        rows = df[df["variable"] == name]
        want = expected(ds, name, pending)
        dims = list(ds[name].dims)
        assert len(rows) == len(want), name
        for d in [c for c in df.columns if c in ds.dims and c not in dims]:
            assert rows[d].isna().all(), (name, d)  # dims the variable lacks are null
        index = pd.MultiIndex.from_frame(rows[dims].astype(
            {d: want.index.get_level_values(d).dtype for d in dims}))
        got = pd.Series(rows["value"].to_numpy(dtype=float), index=index).sort_index()
        want = want.sort_index()
        assert got.index.equals(want.index), name
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(dtype=float), err_msg=name)


def test_tidy_table_of_a_partial_store(stores):
    partial, _, _ = stores
    ds = open_ds(partial)
    assert int((ds["done"].values > 0).sum()) == N_DONE
    for pending in ("drop", "keep"):
        df = tidy(partial, pending=pending)
        assert_table_matches(df, ds, pending)
        assert (df["done"] > 0).all() if pending == "drop" else (df["done"] == 0).any()
    # kept pending rows are the store's fill values: NaN
    kept = tidy(partial, pending="keep")
    assert kept.loc[(kept["done"] == 0) & (kept["variable"] == "rel_error"),
                    "value"].isna().all()


def test_labels_and_coordinates_are_columns(stores):
    _, complete, _ = stores
    ds = open_ds(complete)
    df = tidy(complete)
    err = df[df["variable"] == "rel_error"]
    # every row carries its trial's status and its network's family
    for _, row in err.sample(20, random_state=0).iterrows():
        at = {d: row[d] for d in ("transform", "noise", "network", "trial")}
        assert row["status"] == ds["status"].sel(at).item()
        assert row["network_name"] == ds["network_name"].sel(network=row["network"]).item()
    # scalar coordinates (problem parameters not swept) on every row
    for name in ("resolution", "rate", "scheme", "signal", "sparsity", "wavelet"):
        assert (df[name] == ds[name].item()).all(), name
    # a coordinate no numeric variable covers has rows of its own
    pattern = df[df["variable"] == "sparsity_pattern"]
    assert pattern.sort_values("level")["value"].tolist() == \
        ds["sparsity_pattern"].values.tolist()
    # rows of a per-trial variable have no depth
    assert df.loc[df["variable"] == "psnr", "depth"].isna().all()
    assert "checksum" not in set(df["variable"]) and "done" not in set(df["variable"])
    # seaborn / pivot: the wide table of variables that share dims
    wide = df[df["variable"].isin(["psnr", "ssim", "wall_time"])].pivot_table(
        index=["transform", "noise", "network", "trial"], columns="variable",
        values="value", dropna=False)
    assert wide.shape == (16, 3)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_export_round_trip(stores, tmp_path, suffix, capsys):
    partial, _, _ = stores
    out = tmp_path / f"table{suffix}"
    assert main(["export", str(partial), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"-> {out}" in err and "rows" in err and f"{N_DONE} of 8 cells done" in err
    assert "3 pending left out" in err
    if suffix == ".parquet":
        df = pd.read_parquet(out)
    else:
        df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    ds = open_ds(partial)
    assert_table_matches(df, ds, "drop")
    assert len(df) == len(tidy(partial))
    meta = read_export_metadata(out)
    for key in ("config", "config_hash", "git_commit", "stablesweep_version", "created"):
        assert meta[key] == str(ds.attrs[key]), key
    assert json.loads(meta["versions"]) == json.loads(ds.attrs["versions"])
    about = meta["stablesweep_export"]
    assert about["product"] == "sweep" and about["pending"] == "drop"
    assert about["cells"] == {"total": 8, "done": N_DONE, "failed": 0, "pending": 3}
    assert about["rows"] == len(df) and about["columns"] == list(df.columns)
    assert meta["stablesweep_variables"]["rel_error"]["dims"] == list(ds["rel_error"].dims)
    assert meta["stablesweep_variables"]["wall_time"]["units"] == "s"
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        raw = pq.read_schema(out).metadata
        assert raw[b"config_hash"].decode() == ds.attrs["config_hash"]
    else:
        assert Path(str(out) + ".json").is_file()


def test_export_keeps_pending_cells_marked(stores, tmp_path):
    partial, _, _ = stores
    out = tmp_path / "t.parquet"
    assert main(["export", str(partial), "-o", str(out), "--pending", "keep"]) == 0
    df = pd.read_parquet(out)
    assert_table_matches(df, open_ds(partial), "keep")
    assert set(df["done"]) == {0, 1}
    assert read_export_metadata(out)["stablesweep_export"]["pending"] == "keep"


def test_export_of_an_analysis_file(stores, tmp_path):
    _, _, fits_path = stores
    out = tmp_path / "fits.csv"
    assert main(["export", str(fits_path), "-o", str(out), "--format", "csv"]) == 0
    df = pd.read_csv(out)
    with xr.open_dataset(fits_path) as fits:
        fits = fits.load()
    assert "done" not in df.columns
    for name in [str(v) for v in fits.data_vars if fits[v].dtype.kind in "fiub"]:
        rows = df[df["variable"] == name]
        assert len(rows) == fits[name].size, name
        got = rows.set_index(list(fits[name].dims))["value"].sort_index()
        want = fits[name].to_series().sort_index()
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(dtype=float),
                                      err_msg=name)
    # string variables are labels: the selected model on every row of its cell
    fit = df[df["variable"] == "gamma"]
    for _, row in fit.iterrows():
        at = {d: row[d] for d in fits["selected_model"].dims}
        assert row["selected_model"] == fits["selected_model"].sel(at).item()
    meta = read_export_metadata(out)
    assert meta["config_hash"] == fits.attrs["config_hash"]
    assert meta["stablesweep_export"]["product"] == "analysis"


def test_export_only_some_variables(stores, tmp_path):
    _, complete, _ = stores
    out = tmp_path / "err.parquet"
    assert main(["export", str(complete), "-o", str(out), "--variable", "rel_error",
                 "--variable", "psnr"]) == 0
    df = pd.read_parquet(out)
    assert set(df["variable"]) == {"rel_error", "psnr"}
    assert "status" in df.columns and "attack_step" not in df.columns


def test_export_of_an_empty_store_writes_the_columns(tmp_path):
    from stablesweep.sweep import load_config
    from stablesweep.sweep.run.execute import make_layout
    from stablesweep.sweep.store import create_store

    store = tmp_path / "new.zarr"
    create_store(store, make_layout(load_config(CONFIG)))
    out = tmp_path / "t.parquet"
    assert main(["export", str(store), "-o", str(out)]) == 0
    df = pd.read_parquet(out)
    assert len(df) == 0 and {"variable", "value", "depth", "done"} <= set(df.columns)


def test_export_errors_are_one_line(stores, tmp_path, capsys):
    partial, _, _ = stores
    out = str(tmp_path / "t.parquet")
    afile = tmp_path / "notes.txt"
    afile.write_text("not a table\n")
    cases = [
        (["export", str(tmp_path / "nope.zarr"), "-o", out],
         "STORE", "nope.zarr: no such file or directory"),
        (["export", str(tmp_path), "-o", out], "STORE", "is not a sweep store"),
        (["export", str(afile), "-o", out], "STORE", "is not a sweep store or an analysis"),
        (["export", str(partial), "-o", str(tmp_path / "t.xlsx")],
         "--output", "expected a file ending in .parquet, .pq, .csv, .csv.gz"),
        (["export", str(partial), "-o", out, "--format", "excel"],
         "--format 'excel' is not valid", "expected one of: parquet, csv"),
        (["export", str(partial), "-o", out, "--pending", "skip"],
         "--pending 'skip' is not valid", "expected one of: drop, keep"),
        (["export", str(partial), "-o", out, "--variable", "rel_eror"],
         "--variable 'rel_eror'", "expected one of:"),
        (["export", str(partial), "-o", str(afile / "t.parquet")],
         "--output", "is not a directory"),
        (["export", str(partial), "-o", str(afile.with_suffix(".csv"))],
         "--output", "exists and is not an earlier export"),
        (["export", str(partial), "-o", str(tmp_path)], "--output", "is a directory"),
    ]
    afile.with_suffix(".csv").write_text("a,b\n1,2\n")  # someone else's CSV
    for argv, *parts in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("stablesweep export: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
        for part in parts:
            assert part in err, (argv, err)
    assert afile.with_suffix(".csv").read_text() == "a,b\n1,2\n"
    assert not Path(out).exists()
    with pytest.raises(ExportError, match="not a table"):
        read_export_metadata(afile.with_suffix(".csv"))


def test_an_earlier_export_is_replaced(stores, tmp_path):
    partial, complete, _ = stores
    out = tmp_path / "t.parquet"
    assert main(["export", str(partial), "-o", str(out)]) == 0
    assert main(["export", str(complete), "-o", str(out)]) == 0
    assert read_export_metadata(out)["stablesweep_export"]["cells"]["done"] == 8
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _run_module(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "stablesweep", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_python_m_stablesweep_is_the_command(stores, tmp_path, capsys):
    partial, _, _ = stores
    proc = _run_module("--help")
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    assert proc.stdout == help_text
    proc = _run_module("status", str(partial), "--json")
    assert proc.returncode == 0, proc.stderr
    assert main(["status", str(partial), "--json"]) == 0
    assert json.loads(proc.stdout) == json.loads(capsys.readouterr().out)
    proc = _run_module("export", str(tmp_path / "missing"), "-o", str(tmp_path / "t.csv"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("stablesweep export: STORE ") and "Traceback" not in proc.stderr
