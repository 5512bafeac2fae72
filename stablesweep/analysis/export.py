"""The tidy results table: a sweep store or an analysis file as one long table.

`stablesweep export` writes it as Parquet or CSV; :func:`tidy` gives it as a pandas
DataFrame. The table is *long* ("molten"), the shape seaborn's ``data=``/``x=``/``y=``/
``hue=`` and R's ggplot2 / dplyr expect:

* one row per **numeric variable and point of its dimensions** (for ``rel_error``: one
  row per cell, network, trial and depth; for ``psnr``: per cell, network and trial);
* ``variable``: the variable's name; ``value``: its value (float64; NaN where the store
  holds NaN, e.g. a FIRENET depth between restarts or a failed trial);
* one column per **dimension** of the source (``noise``, ``network``, ``trial``,
  ``depth``, ...), holding the row's coordinate; null (NA) where the row's variable has
  no such dimension (``depth`` of a ``psnr`` row);
* **labels** as columns: string variables (``status``, ``message``, ``attack_status``,
  ``selected_model``, ...) and non-index coordinates (``network_name``,
  ``network_depth``, ...) on every row whose dimensions include theirs (so every
  ``rel_error`` row carries its trial's ``status``), null elsewhere; scalar coordinates
  (``transform``, ``resolution``, ``rate``, ...: the problem parameters that were not
  swept) on every row, so tables of several experiments can be stacked;
* a label or coordinate that no numeric variable covers (``sparsity_pattern`` along
  ``level``) gets rows of its own;
* sweep stores only: ``done``, the completion marker of the row's cell (0 pending, 1
  done, 2 done with a failed trial; for a variable shared by several cells, such as
  ``signal_norm`` per noise level and trial, the largest marker among them). The
  store's bookkeeping variables ``done`` and ``checksum`` are not rows.

One variable's table, or the wide table of variables that share dimensions, is one
pandas call away::

    df = pd.read_parquet("sweep.parquet")
    err = df[df.variable == "rel_error"]
    wide = df[df.variable.isin(["psnr", "ssim"])].pivot_table(
        index=["noise", "network", "trial"], columns="variable", values="value")

Provenance: the source's attributes (``config``, ``config_hash``, ``versions``,
``git_commit``, ``created``, ...) are the Parquet file's key-value metadata, one key
each (strings; non-strings JSON-encoded), with ``stablesweep_export`` (JSON: source,
product, pending rule, rows, columns, cells done / total, export time) and
``stablesweep_variables`` (JSON: dims, long_name, units, comment of each variable). A
CSV file has the same keys in a sidecar ``<file>.json``. :func:`read_export_metadata`
reads either.

A partial store (a sweep still running) exports what is done: the ``done`` marker is
read first, then the data, so a cell counted done has its values; pending cells are
dropped (``pending="drop"``) or kept with NaN values and ``done`` = 0
(``pending="keep"``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

__all__ = ["EXCLUDED", "FORMATS", "PENDING", "ExportError", "ExportSummary", "Source",
           "check_pending", "export", "format_of", "is_export", "open_source",
           "read_export_metadata", "sidecar_of", "tidy"]

#: Output formats and the file suffixes that select them.
FORMATS: dict[str, tuple[str, ...]] = {"parquet": (".parquet", ".pq"),
                                       "csv": (".csv", ".csv.gz")}
#: What to do with the rows of pending cells.
PENDING = ("drop", "keep")
#: Store bookkeeping that is not a row: ``done`` becomes the ``done`` column.
EXCLUDED = ("done", "checksum")
#: Key of the export's own description in the file metadata.
EXPORT_KEY = "stablesweep_export"
VARIABLES_KEY = "stablesweep_variables"
#: The table's own columns.
VARIABLE, VALUE, DONE = "variable", "value", "done"


class ExportError(ValueError):
    """A source that cannot be exported or an option that is not valid (one line)."""


# --------------------------------------------------------------------------- the source


@dataclass
class Source:
    """What is exported: the dataset, what it is, and (stores) its ``done`` marker."""

    path: Path
    product: str  # "sweep" or "analysis"
    ds: xr.Dataset
    done: xr.DataArray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def open_source(path: str | Path, *, option: str = "STORE") -> Source:
    """Open a sweep store (Zarr directory) or an analysis netCDF file for export.

    For a store, the ``done`` marker is read now, before any data: a cell counted done
    has its data written (the writer writes data before the marker), so exporting a
    store while its sweep runs never reports a done cell with missing values.

    Raises :class:`ExportError` naming `option` for a missing path or one that is
    neither a sweep store nor a netCDF file.
    """
    from stablesweep.sweep.store import StoreError, open_store, read_done

    path = Path(path)
    if not path.exists():
        raise ExportError(f"{option} {path}: no such file or directory; expected a sweep "
                          "store (sweep.zarr) or an analysis file (fits.nc)")
    if path.is_dir():
        try:
            ds = open_store(path)
            done = ds["done"].copy(data=read_done(path)).reset_coords(drop=True)
        except StoreError as err:
            raise ExportError(f"{option}: {err}; expected a sweep store (sweep.zarr) or "
                              "an analysis file (fits.nc)") from None
        return Source(path, "sweep", ds, done)
    try:
        ds = xr.open_dataset(path)
    except Exception as err:  # noqa: BLE001 - xarray's errors for a non-netCDF file vary
        reason = " ".join(str(err).split())[:160]
        raise ExportError(f"{option} {path} is not a sweep store or an analysis netCDF "
                          f"file ({type(err).__name__}: {reason}); expected a sweep store "
                          "(sweep.zarr) or an analysis file (fits.nc)") from None
    return Source(path, "analysis", ds)


# --------------------------------------------------------------------------- columns


def _kind(dtype: np.dtype) -> str | None:
    """The table type of a NumPy dtype: "float", "int", "bool", "str" (None: unsupported)."""
    if dtype.kind == "f":
        return "float"
    if dtype.kind in "iu":
        return "int"
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "USOT":
        return "str"
    return None


def _arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(),
            "str": pa.string()}[kind]


@dataclass
class _Plan:
    """Which variables are rows, which are label columns, and the table's schema."""

    rows: list[str]  # numeric data variables (and uncovered labels), in source order
    labels: list[str]  # string data variables and non-index coordinates
    dims: list[str]
    kinds: dict[str, str]  # column -> kind
    skipped: list[str]

    @property
    def columns(self) -> list[str]:
        return [VARIABLE, *self.dims, VALUE, *self.labels]


def _plan(ds: xr.Dataset, variables: Sequence[str] | None, has_done: bool) -> _Plan:
    numeric, text, skipped = [], [], []
    for name in ds.data_vars:
        name = str(name)
        if name in EXCLUDED and has_done:
            continue
        kind = _kind(ds[name].dtype)
        if kind is None:
            skipped.append(name)
        elif kind == "str":
            text.append(name)
        else:
            numeric.append(name)
    coords = [str(c) for c in ds.coords if c not in ds.dims]
    coords = [c for c in coords if _kind(ds[c].dtype) is not None]
    if variables is not None:
        unknown = [v for v in variables if v not in numeric + text + coords]
        if unknown:
            allowed = ", ".join(numeric + text + coords)
            raise ExportError(f"--variable {unknown[0]!r} is not a variable of this "
                              f"{'store' if has_done else 'file'}; expected one of: {allowed}")
        numeric = [v for v in numeric if v in variables]
    rows = list(numeric)
    covered = [set(ds[v].dims) for v in numeric]
    labels = []
    for name in text + coords:
        dims = set(ds[name].dims)
        in_rows = any(dims <= c for c in covered)
        wanted = variables is None or name in variables
        if not in_rows and wanted and dims:
            rows.append(name)  # a label no numeric variable carries: rows of its own
            covered.append(dims)
        if in_rows or wanted:
            labels.append(name)
    dims: list[str] = []  # the dims of the variables with most dims first: cells, trial, depth
    for name in sorted(rows, key=lambda n: -ds[n].ndim):
        dims += [str(d) for d in ds[name].dims if d not in dims]
    labels = [n for n in labels if set(ds[n].dims) <= set(dims)]
    # scalar coordinates last, after the labels along dimensions
    labels.sort(key=lambda n: ds[n].ndim == 0)
    kinds = {VARIABLE: "str", VALUE: "float"}
    for name in dims + labels:
        kind = _kind(ds[name].dtype) if name in ds.variables else "int"
        kinds[name] = kind or "str"
    return _Plan(rows, labels, dims, kinds, skipped)


def _column(values: np.ndarray, kind: str) -> pa.Array:
    import pyarrow as pa

    if kind == "str":
        values = np.asarray(values).astype(object)
        values = np.where(values == None, None, values.astype(str))  # noqa: E711
    elif kind == "bool":
        values = np.asarray(values, dtype=bool)
    elif kind == "int":
        values = np.asarray(values, dtype=np.int64)
    else:
        values = np.asarray(values, dtype=np.float64)
    return pa.array(values, type=_arrow_type(kind))


def _spread(values: np.ndarray, dims: Sequence[str], target: Sequence[str],
            shape: tuple[int, ...]) -> np.ndarray:
    """``values`` over ``dims`` (a subset of ``target``) broadcast to ``shape``, raveled."""
    order = [d for d in target if d in dims]
    arr = np.moveaxis(np.asarray(values), [list(dims).index(d) for d in order],
                      list(range(len(order))))
    expand = tuple(slice(None) if d in dims else np.newaxis for d in target)
    return np.broadcast_to(arr[expand], shape).reshape(-1)


def _done_of(source: Source, dims: Sequence[str]) -> np.ndarray | None:
    """The ``done`` marker over ``dims`` (max over the cell dims a variable lacks).

    Rows along ``example`` take the marker of the example's own cell when the store
    names it (``example_<cell dim>`` coordinates).
    """
    done = source.done
    if done is None:
        return None
    ds = source.ds
    cell = [str(d) for d in done.dims]
    if "example" in dims and all(f"example_{d}" in ds.coords for d in cell):
        picks = {}
        for d in cell:
            want = np.asarray(ds[f"example_{d}"].values)
            have = list(np.asarray(ds[d].values))
            try:
                picks[d] = xr.DataArray([have.index(w) for w in want], dims="example")
            except ValueError:
                break
        else:
            return done.isel(picks)
    missing = [d for d in cell if d not in dims]
    return done.max(missing) if missing else done


def _tables(source: Source, plan: _Plan, pending: str) -> Iterator[pa.Table]:
    """One Arrow table per row variable, every one with the plan's columns."""
    import pyarrow as pa

    ds = source.ds
    schema = _schema(plan, source.done is not None)
    labels = {name: np.asarray(ds[name].values) for name in plan.labels}  # read once
    for name in plan.rows:
        var = ds[name]
        dims = [str(d) for d in var.dims]
        shape = tuple(var.shape)
        n = int(np.prod(shape, dtype=np.int64))
        keep = None
        done = _done_of(source, dims)
        if done is not None:
            done_flat = _spread(done.values, [str(d) for d in done.dims], dims, shape)
            if pending == "drop":
                keep = done_flat > 0
                done_flat = done_flat[keep]
        columns: dict[str, pa.Array] = {}

        def put(col, values, kind, keep=keep, columns=columns):
            columns[col] = _column(values if keep is None else values[keep], kind)

        count = n if keep is None else int(keep.sum())
        columns[VARIABLE] = pa.array(np.full(count, name, dtype=object), type=pa.string())
        for d in plan.dims:
            if d in dims:
                coord = ds[d].values if d in ds.variables else np.arange(ds.sizes[d])
                put(d, _spread(coord, [d], dims, shape), plan.kinds[d])
            else:
                columns[d] = pa.nulls(count, _arrow_type(plan.kinds[d]))
        kind = _kind(var.dtype)
        if kind == "str":  # an uncovered label: its value is in its own column
            columns[VALUE] = pa.nulls(count, pa.float64())
        else:
            put(VALUE, np.asarray(var.values, dtype=np.float64).reshape(-1), "float")
        for label in plan.labels:
            lab = ds[label]
            if set(lab.dims) <= set(dims):
                put(label, _spread(labels[label], [str(d) for d in lab.dims], dims, shape),
                    plan.kinds[label])
            else:
                columns[label] = pa.nulls(count, _arrow_type(plan.kinds[label]))
        if done is not None:
            columns[DONE] = pa.array(np.asarray(done_flat, dtype=np.int8), type=pa.int8())
        yield pa.table([columns[f.name] for f in schema], schema=schema)


#: Rows per Parquet row group (small variables are written together).
ROW_GROUP = 1 << 17


def _batched(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The tables joined into tables of about :data:`ROW_GROUP` rows or more."""
    import pyarrow as pa

    held: list[pa.Table] = []
    count = 0
    for table in tables:
        held.append(table)
        count += table.num_rows
        if count >= ROW_GROUP:
            yield pa.concat_tables(held)
            held, count = [], 0
    if held:
        yield pa.concat_tables(held)


def _row_count(source: Source, plan: _Plan, pending: str) -> int:
    """The rows that :func:`_tables` yields (without building them)."""
    total = 0
    for name in plan.rows:
        var = source.ds[name]
        done = _done_of(source, [str(d) for d in var.dims])
        if done is None or pending == "keep":
            total += int(np.prod(var.shape, dtype=np.int64))
        else:
            total += int((done > 0).broadcast_like(var.reset_coords(drop=True)).sum())
    return total


def _schema(plan: _Plan, has_done: bool) -> pa.Schema:
    import pyarrow as pa

    fields = [pa.field(c, _arrow_type(plan.kinds[c])) for c in plan.columns]
    if has_done:
        fields.append(pa.field(DONE, pa.int8()))
    return pa.schema(fields)


# --------------------------------------------------------------------------- provenance


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def _metadata(source: Source, plan: _Plan, pending: str, rows: int,
              columns: list[str]) -> dict[str, str]:
    from stablesweep import __version__

    ds = source.ds
    meta = {str(k): _text(v) for k, v in ds.attrs.items()}
    about: dict[str, Any] = {
        "source": str(source.path), "product": source.product,
        "layout": "long: one row per variable and point of its dimensions; columns "
                  "variable, the dimensions (null where the variable lacks one), value, "
                  "labels (string variables, coordinates), done (stores)",
        "rows": rows, "columns": columns, "row_variables": plan.rows,
        "label_columns": plan.labels, "dimensions": plan.dims,
        "exported": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "stablesweep_version": __version__,
    }
    if source.done is not None:
        marker = np.asarray(source.done.values)
        about["pending"] = pending
        about["cells"] = {"total": int(marker.size), "done": int((marker == 1).sum()),
                          "failed": int((marker == 2).sum()),
                          "pending": int((marker == 0).sum())}
    if plan.skipped:
        about["skipped"] = plan.skipped
    meta[EXPORT_KEY] = json.dumps(about)
    described = {}
    for name in plan.rows + plan.labels + plan.dims:
        if name not in ds.variables:
            continue
        attrs = ds[name].attrs
        described[name] = {"dims": [str(d) for d in ds[name].dims],
                           **{k: _text(attrs[k]) for k in ("long_name", "units", "comment")
                              if k in attrs}}
    meta[VARIABLES_KEY] = json.dumps(described)
    return meta


# --------------------------------------------------------------------------- public API


def tidy(ds_or_path: xr.Dataset | str | Path, *, pending: str = "drop",
         variables: Sequence[str] | None = None) -> pd.DataFrame:
    """The long table of a sweep store, an analysis file or a dataset, as a DataFrame.

    `ds_or_path`: a path (store or netCDF) or an opened dataset (a store's dataset
    keeps its ``done`` marker when it has one). Integer columns with nulls (a ``depth``
    column on ``psnr`` rows) are pandas' nullable ``Int64``. See the module docstring
    for the columns.
    """
    import pandas as pd
    import pyarrow as pa

    source = _as_source(ds_or_path)
    check_pending(pending)
    plan = _plan(source.ds, variables, source.done is not None)
    tables = list(_tables(source, plan, pending))
    table = (pa.concat_tables(tables) if tables
             else _schema(plan, source.done is not None).empty_table())
    mapping = {pa.int64(): pd.Int64Dtype(), pa.int8(): pd.Int8Dtype(),
               pa.bool_(): pd.BooleanDtype()}
    df = table.to_pandas(types_mapper=mapping.get)
    df.attrs.update(_metadata(source, plan, pending, len(df), list(df.columns)))
    return df


def _as_source(obj: xr.Dataset | str | Path) -> Source:
    if isinstance(obj, xr.Dataset):
        done = obj["done"].reset_coords(drop=True).compute() if "done" in obj else None
        return Source(Path(obj.encoding.get("source", "<dataset>")),
                      "sweep" if done is not None else "analysis", obj, done)
    return open_source(obj)


def check_pending(pending: str) -> None:
    if pending not in PENDING:
        raise ExportError(f"--pending {pending!r} is not valid; expected one of: "
                          f"{', '.join(PENDING)}")


def format_of(path: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the file's suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt!r} is not valid; expected one of: "
                              f"{', '.join(FORMATS)}")
        return fmt
    name = str(path).lower()
    for kind, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return kind
    allowed = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
    raise ExportError(f"--output {path}: unknown format of the suffix "
                      f"{''.join(Path(path).suffixes) or '(none)'!r}; expected a file "
                      f"ending in {allowed}, or --format {{{','.join(FORMATS)}}}")


@dataclass
class ExportSummary:
    path: Path
    format: str
    rows: int
    columns: list[str]
    bytes: int
    seconds: float
    sidecar: Path | None = None
    cells: dict[str, int] | None = None


def sidecar_of(path: str | Path) -> Path:
    """The CSV file's metadata sidecar, ``<file>.json``."""
    return Path(str(path) + ".json")


def export(source: str | Path | Source, output: str | Path, *, fmt: str | None = None,
           pending: str = "drop", variables: Sequence[str] | None = None) -> ExportSummary:
    """Write the long table of `source` (store or analysis file) to `output`.

    Parquet (``.parquet``/``.pq``) holds the provenance in its key-value metadata; CSV
    (``.csv``, gzip-compressed ``.csv.gz``) gets it in the sidecar ``<output>.json``.
    The file is written under a temporary name and renamed, so `output` is either the
    earlier file or the complete new one. Writes one row group per variable, so the
    table is never held in memory at once.
    """
    import pyarrow as pa

    start = time.perf_counter()
    fmt = format_of(output, fmt)
    check_pending(pending)
    src = source if isinstance(source, Source) else open_source(source)
    plan = _plan(src.ds, variables, src.done is not None)
    schema = _schema(plan, src.done is not None)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    rows = 0
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # the provenance goes into the schema, where pyarrow (pq.read_schema), R's
            # arrow and pandas' pyarrow engine find it
            meta = _metadata(src, plan, pending, _row_count(src, plan, pending),
                             schema.names)
            schema = schema.with_metadata(meta)
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for table in _batched(_tables(src, plan, pending)):
                    rows += table.num_rows
                    writer.write_table(table.replace_schema_metadata(meta))
        else:
            import pyarrow.csv as pcsv

            stream = (pa.CompressedOutputStream(str(tmp), "gzip")
                      if str(output).lower().endswith(".gz") else pa.OSFile(str(tmp), "wb"))
            with stream, pcsv.CSVWriter(stream, schema) as writer:
                for table in _batched(_tables(src, plan, pending)):
                    rows += table.num_rows
                    writer.write_table(table)
            meta = _metadata(src, plan, pending, rows, schema.names)
            side = sidecar_of(output)
            side_tmp = side.with_name(f".{side.name}.tmp-{os.getpid()}")
            side_tmp.write_text(json.dumps(_decoded(meta), indent=2) + "\n", encoding="utf-8")
            side_tmp.replace(side)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    cells = json.loads(meta[EXPORT_KEY]).get("cells")
    return ExportSummary(output, fmt, rows, schema.names, output.stat().st_size,
                         time.perf_counter() - start,
                         sidecar_of(output) if fmt == "csv" else None, cells)


def _decoded(meta: dict[str, str]) -> dict[str, Any]:
    """The metadata with its JSON values (the export's own keys) decoded."""
    out: dict[str, Any] = dict(meta)
    for key in (EXPORT_KEY, VARIABLES_KEY):
        if key in out:
            out[key] = json.loads(out[key])
    return out


def read_export_metadata(path: str | Path) -> dict[str, Any]:
    """The provenance of an exported table: Parquet key-value metadata or the CSV sidecar.

    Returns ``{key: value}`` with the source's attributes as stored (strings) and the
    export's own ``stablesweep_export`` / ``stablesweep_variables`` decoded from JSON.
    Raises :class:`ExportError` when `path` is not a table `export` wrote.
    """
    path = Path(path)
    try:
        if format_of(path) == "parquet":
            import pyarrow.parquet as pq

            raw = pq.read_schema(path).metadata or {}
            meta = {k.decode(): v.decode() for k, v in raw.items()}
        else:
            meta = json.loads(sidecar_of(path).read_text(encoding="utf-8"))
            meta = {k: (json.dumps(v) if k in (EXPORT_KEY, VARIABLES_KEY) else v)
                    for k, v in meta.items()}
    except (OSError, ValueError) as err:
        raise ExportError(f"{path} is not a table `stablesweep export` wrote "
                          f"({type(err).__name__}: {err})") from None
    if EXPORT_KEY not in meta:
        raise ExportError(f"{path} is not a table `stablesweep export` wrote "
                          f"(no {EXPORT_KEY} metadata)")
    meta.pop("ARROW:schema", None)
    return _decoded(meta)


def is_export(path: str | Path) -> bool:
    """Whether `path` is a table `export` wrote (the CLI replaces only such files)."""
    try:
        read_export_metadata(path)
    except ExportError:
        return False
    return True
