"""Reading the sweep dataset: dimension names, status masks, depth selection, provenance.

The sweep store (see docs/api.md and DESIGN.md §4) is an xarray Dataset whose swept
problem axes are dimension coordinates. Only a few dimensions have a special role in
the analysis; every other dimension is a "cell" dimension that is grouped over
generically, so the functions here work on whatever subset of axes a sweep has.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from stablesweep.sweep.store.variables import (
    ATTACK_DEPTH,
    ATTACK_RECORD,
    ATTACK_STEP,
    COL,
    DEPTH,
    EXAMPLE,
    NETWORK,
    NOISE_LEVEL,
    ROW,
    TRIAL,
)

# Special dimensions: the store schema's (stablesweep.sweep.store.variables), and problem axes.
NOISE = "noise"
RATE = "rate"
SPARSITY = "sparsity"
SCHEME = "scheme"
IMAGE_DIMS = (ROW, COL)
#: The store's dimensions that the analysis, figures and report address by name.
STORE_DIMS = (NETWORK, TRIAL, DEPTH, ATTACK_DEPTH, ATTACK_STEP, NOISE_LEVEL, EXAMPLE,
              ATTACK_RECORD)

#: Provenance attributes copied from the sweep store into every analysis product.
PROVENANCE_ATTRS = ("config", "config_hash", "stablesweep_version", "git_commit", "created")

#: Status value of a successful cell (string form; integer form: flag value of "ok", else 0).
STATUS_OK = "ok"


def cell_dims(da: xr.DataArray, exclude: Iterable[str] = (TRIAL, DEPTH)) -> list[str]:
    """Dimensions of `da` other than `exclude`, in `da`'s order."""
    exclude = set(exclude)
    return [d for d in da.dims if d not in exclude]


def _is_text(status: xr.DataArray) -> bool:
    return status.dtype.kind in "USOT"  # T: NumPy's variable-width StringDType


def _ok_code(status: xr.DataArray) -> object:
    """The value of `status` that means "ok" (strings: "ok"; integers: CF flag or 0)."""
    if _is_text(status):
        return STATUS_OK
    meanings = str(status.attrs.get("flag_meanings", "")).split()
    values = np.atleast_1d(status.attrs.get("flag_values", []))
    if STATUS_OK in meanings and len(values) == len(meanings):
        return values[meanings.index(STATUS_OK)].item()
    return 0


def status_name(ds: xr.Dataset, name: str) -> str | None:
    """The status variable that describes the runs of variable `name`, if any.

    Attack records (dims with ``attack_step`` / ``attack_depth``) are described by
    ``attack_status`` when the store has it, everything else by ``status``. A status
    applies only to variables that have all of its dimensions.
    """
    dims = set(ds[name].dims)
    candidates = ["status"]
    if dims & {ATTACK_STEP, ATTACK_DEPTH}:
        candidates.insert(0, "attack_status")
    for candidate in candidates:
        if candidate in ds and set(ds[candidate].dims) <= dims:
            return candidate
    return None


def ok_mask(ds: xr.Dataset, status: str = "status") -> xr.DataArray | None:
    """True where variable `status` says "ok"; None when the dataset has no such variable."""
    if status not in ds:
        return None
    da = ds[status].reset_coords(drop=True)
    return da == _ok_code(da)


def failed_mask(ds: xr.Dataset, status: str = "status") -> xr.DataArray | None:
    """True where a run finished without success (failed, diverged, error, …).

    Text statuses: neither "ok" nor "" (the store's mark of a pending run); integer
    statuses: not the "ok" code.
    """
    ok = ok_mask(ds, status)
    if ok is None:
        return None
    if _is_text(ds[status]):
        return ~ok & (ds[status].reset_coords(drop=True) != "")
    return ~ok


def valid(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Variable `name` with the entries of runs that are not ok set to NaN.

    Non-index coordinates are dropped. The status used is `status_name`'s; a variable
    that no status describes is returned unmasked. The result is in memory (a lazily
    opened store is read here), so the analyses that follow compute eagerly.
    """
    da = ds[name].reset_coords(drop=True)
    status = status_name(ds, name)
    if status is not None:
        da = da.where(ok_mask(ds, status))
    return da.compute()


def at_depth(
    da: xr.DataArray, depth: float | None = None, across: Iterable[str] = (TRIAL,)
) -> tuple[xr.DataArray, xr.DataArray]:
    """Values of `da` at the largest recorded depth (at most `depth`).

    Networks record at different depths (FIRENET only at the end of each restart), so
    "the largest depth" is chosen per cell: the last depth ≤ `depth` (any depth when
    None) at which some entry along the `across` dimensions is finite. Choosing it
    jointly over `across` keeps, for example, all trials of a cell at the same depth.

    Parameters
    ----------
    da : xarray.DataArray
        With a ``depth`` dimension.
    depth : float, optional
        Upper limit of the depth; None for the largest available.
    across : iterable of str
        Dimensions over which the choice of depth is shared.

    Returns
    -------
    values : xarray.DataArray
        `da` without the depth dimension (NaN where nothing is recorded).
    chosen : xarray.DataArray
        Depth used for each cell (NaN where nothing is recorded).
    """
    recorded = da.notnull()
    shared = [d for d in across if d in da.dims]
    if shared:
        recorded = recorded.any(shared)
    if depth is not None:
        recorded = recorded & (da[DEPTH] <= depth)
    position = xr.DataArray(np.arange(da.sizes[DEPTH]), dims=DEPTH)
    last = position.where(recorded).max(DEPTH).compute()  # an indexer cannot be lazy
    found = last.notnull()
    index = last.fillna(0).astype(int)
    values = da.isel({DEPTH: index}).where(found).drop_vars(DEPTH, errors="ignore")
    chosen = da[DEPTH].isel({DEPTH: index}).where(found).drop_vars(DEPTH, errors="ignore")
    chosen.attrs = dict(da[DEPTH].attrs)
    return values, chosen


def clean_noise_level(da: xr.DataArray) -> float | None:
    """Noise level used as "no noise": 0 when swept, else the smallest (None: no noise axis)."""
    if NOISE not in da.dims:
        return None
    levels = np.asarray(da[NOISE].values, dtype=float)
    return 0.0 if np.any(levels == 0) else float(levels.min())


def scalar(value: object) -> object:
    """A NumPy scalar as the Python value (object arrays, e.g. read from netCDF, hold str)."""
    return value.item() if isinstance(value, np.generic) else value


def labels(da: xr.DataArray | xr.Dataset, dims: Iterable[str], index: tuple[int, ...]) -> dict:
    """Coordinate labels ``{dim: value}`` of the cell at positional `index` over `dims`."""
    return {d: scalar(da[d].values[i]) for d, i in zip(dims, index, strict=True)}


def attr_value(value: object) -> str | int | float:
    """A netCDF-storable attribute value (str, int or float)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | str | np.integer | np.floating):
        return value
    return "" if value is None else str(value)


def provenance(ds: xr.Dataset, **params: object) -> dict[str, str | int | float]:
    """Provenance attributes of an analysis product.

    The sweep's provenance (`PROVENANCE_ATTRS`, the sweep's ``created`` renamed
    ``sweep_created``) plus the analysis parameters as ``analysis_<name>`` and the
    analysis time as ``created``.
    """
    attrs: dict[str, str | int | float] = {}
    for key in PROVENANCE_ATTRS:
        if key in ds.attrs:
            name = "sweep_created" if key == "created" else key
            attrs[name] = attr_value(ds.attrs[key])
    for key, value in params.items():
        attrs[f"analysis_{key}"] = "none" if value is None else attr_value(value)
    attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return attrs


def variable(
    dims: Iterable[str],
    values: np.ndarray,
    long_name: str,
    units: str = "1",
    **attrs: object,
) -> tuple[tuple[str, ...], np.ndarray, dict]:
    """An (dims, values, attrs) triple with ``long_name`` and ``units`` set."""
    return tuple(dims), values, {"long_name": long_name, "units": units, **attrs}


def coords_of(da: xr.DataArray | xr.Dataset, dims: Iterable[str]) -> Mapping[str, xr.DataArray]:
    """Dimension coordinates of `dims` (those that have one) with their attributes."""
    return {d: da[d].reset_coords(drop=True) for d in dims if d in da.coords}


LEVEL = "level"
SPARSITY_PATTERN = "sparsity_pattern"


def _parse_pattern(label: object) -> list[int] | None:
    try:
        parts = [int(p) for p in str(label).replace(" ", "").split(",")]
    except ValueError:
        return None
    return parts if parts and all(p >= 0 for p in parts) else None


def normalise_sparsity(ds: xr.Dataset) -> xr.Dataset:
    """Convert an old store's string sparsity labels to the numeric form (in memory).

    Old stores label the ``sparsity`` axis with strings of per-level sparsities,
    "2,4,6,8,8"; new ones hold the total sparsity s = Σ_k s_k (int64) on ``sparsity``
    and the pattern as the coordinate ``sparsity_pattern`` (sparsity, level), level =
    1..r. A dataset already in the new form, without a sparsity axis, or whose labels
    are not comma-separated integers (e.g. synthetic "s4") is returned unchanged.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset.

    Returns
    -------
    xarray.Dataset
        With ``sparsity`` numeric and ``sparsity_pattern`` added (shorter patterns are
        padded with 0 to the longest).

    Raises
    ------
    ValueError
        When two labels have the same total sparsity (the numeric axis would repeat).
    """
    if SPARSITY not in ds.dims or SPARSITY not in ds.coords:
        return ds
    values = ds[SPARSITY].values
    if values.dtype.kind not in "USOT":
        return ds
    patterns = [_parse_pattern(v) for v in values]
    if any(p is None for p in patterns):
        return ds
    totals = np.array([sum(p) for p in patterns], dtype=np.int64)
    if len(set(totals.tolist())) != totals.size:
        raise ValueError(
            f"sparsity labels {[str(v) for v in values]} have repeated totals "
            f"{totals.tolist()}; expected distinct total sparsities to convert them"
        )
    width = max(len(p) for p in patterns)
    table = np.zeros((len(patterns), width), dtype=np.int64)
    for i, p in enumerate(patterns):
        table[i, : len(p)] = p
    attrs = dict(ds[SPARSITY].attrs)
    out = ds.assign_coords({SPARSITY: (SPARSITY, totals)})
    out[SPARSITY].attrs = {
        **{k: v for k, v in attrs.items() if k not in ("units", "long_name")},
        "long_name": "total sparsity s = Σ_k s_k", "units": "1",
    }
    out = out.assign_coords(
        {
            LEVEL: (LEVEL, np.arange(1, width + 1, dtype=np.int64),
                    {"long_name": "sparsity level k", "units": "1"}),
            SPARSITY_PATTERN: ((SPARSITY, LEVEL), table,
                               {"long_name": "sparsity s_k in level k", "units": "1"}),
        }
    )
    by_label = {str(v): int(t) for v, t in zip(values, totals, strict=True)}
    for name in list(out.coords):  # other coordinates that carry the old labels
        if name != SPARSITY and out[name].dtype.kind in "USOT" and name.endswith("sparsity"):
            mapped = np.array([by_label.get(str(v), -1) for v in out[name].values.ravel()])
            mapped = mapped.reshape(out[name].shape)
            out = out.assign_coords({name: (out[name].dims, mapped.astype(np.int64),
                                            out[name].attrs)})
    return out


class EmptyStoreError(ValueError):
    """The sweep store has no finished cell: there is nothing to analyse."""


class PartialStoreWarning(UserWarning):
    """The sweep store is only partly finished: the analysis covers the done cells only."""


def completion(ds: xr.Dataset, max_labels: int = 10) -> dict[str, object] | None:
    """Done, total and missing cells of a store, from its ``done`` marker.

    The store marks each cell (its point axes, ``network`` and ``attack_depth`` when the
    sweep attacks) 0 pending, 1 done, 2 done with a failed trial
    (`stablesweep.sweep.store`). Returns None for a dataset without ``done``, else
    ``{"done": int, "total": int, "missing": int, "labels": [str, ...]}`` where
    ``labels`` names up to `max_labels` pending cells ("network=fista, rate=0.25").
    """
    if "done" not in ds:
        return None
    done = ds["done"].reset_coords(drop=True).compute()
    values = np.asarray(done.values)
    pending = np.argwhere(values == 0)
    names = []
    for index in pending[:max_labels]:
        cell = labels(done, done.dims, tuple(index))
        names.append(", ".join(f"{k}={v}" for k, v in cell.items()))
    return {"done": int((values > 0).sum()), "total": int(values.size),
            "missing": int(pending.shape[0]), "labels": names}


#: Units that mean "dimensionless" and are written as "1" (CF).
_DIMENSIONLESS = {"", "none", "1/(1)", "a.u.", "au", "count", "dimensionless", "1"}


def cf_attributes(ds: xr.Dataset) -> xr.Dataset:
    """Make every variable and coordinate follow the conventions of the product.

    Sets ``Conventions`` = "CF-1.10"; gives every variable and coordinate a
    ``long_name`` (its name when none is known); string variables carry no ``units``;
    numeric ones carry ``units``, "1" for dimensionless quantities (replacing "none",
    "1/(1)", "a.u.", "count" and missing units). Modifies and returns `ds`.
    """
    for name in list(ds.variables):
        var = ds[name].variable
        attrs = dict(var.attrs)
        attrs.setdefault("long_name", str(name).replace("_", " "))
        if var.dtype.kind in "USOT":
            attrs.pop("units", None)
        else:
            units = str(attrs.get("units", "")).strip()
            attrs["units"] = "1" if units.lower() in _DIMENSIONLESS else units
        var.attrs = attrs
    ds.attrs["Conventions"] = "CF-1.10"
    return ds
