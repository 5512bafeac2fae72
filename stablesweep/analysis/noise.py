"""Noise sensitivity: the constant C_3 of the stable-accuracy guarantee.

    ‖φ_n(y) − x‖ ≤ ε + C_2 / n^γ + C_3 ‖Ax − y‖

At the largest depth the middle term is negligible, so the error grows linearly with
the noise; C_3 is the slope of a least-squares line through (noise, error) points.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import NOISE, TRIAL, at_depth, provenance, valid

__all__ = ["noise_regression_data", "noise_slope"]


def _label(da: xr.DataArray, fallback: str) -> tuple[str, str]:
    return str(da.attrs.get("long_name", fallback)), str(da.attrs.get("units", "1"))


def noise_regression_data(
    ds: xr.Dataset, depth: float | None = None
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """The (noise, error) points that `noise_slope` regresses.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with a ``noise`` dimension and ``rel_error`` (or ``abs_error``,
        the absolute error ‖x̂ − x‖, preferred when present); optional ``noise_norm``
        (‖e‖ = ‖Ax − y‖, preferred over the ``noise`` level as abscissa) and ``status``.
    depth : float, optional
        Largest depth to use (None: the largest recorded in each cell).

    Returns
    -------
    x, y : xarray.DataArray
        Noise measure and error, broadcast to the same dims (cells, ``noise``, ``trial``).
    chosen_depth : xarray.DataArray
        Depth used in each cell (shared by all noise levels and trials of the cell).
    """
    if NOISE not in ds.dims or ds.sizes[NOISE] < 2:
        raise ValueError(
            f"noise_slope needs a {NOISE!r} dimension with at least 2 levels; "
            f"dataset has dims {dict(ds.sizes)}"
        )
    y_name = "abs_error" if "abs_error" in ds else "rel_error"
    y, chosen = at_depth(valid(ds, y_name), depth, across=(TRIAL, NOISE))
    y.attrs = dict(ds[y_name].attrs)
    if "noise_norm" in ds:
        x = ds["noise_norm"].reset_coords(drop=True).compute()
    else:
        x = ds[NOISE].reset_coords(drop=True).astype(float)
    x_attrs = dict(x.attrs)
    x, y = xr.broadcast(x, y)
    x.attrs, x.name = x_attrs, ("noise_norm" if "noise_norm" in ds else NOISE)
    y.name = y_name
    return x, y, chosen


def noise_slope(ds: xr.Dataset, depth: float | None = None) -> xr.Dataset:
    """Slope C_3 of the error against the noise at the largest depth, per cell.

    Parameters
    ----------
    ds : xarray.Dataset
        See `noise_regression_data`.
    depth : float, optional
        Largest depth to use (None: the largest recorded in each cell).

    Returns
    -------
    xarray.Dataset
        Over the cell dimensions without ``noise`` and ``trial``: ``noise_slope`` (C_3),
        ``noise_slope_se`` (its standard error), ``noise_intercept``,
        ``noise_slope_points`` (points used) and ``noise_slope_depth``.

    Notes
    -----
    Ordinary least squares with intercept through all (x_i, y_i) of the cell — every
    noise level and trial — with x the noise (‖e‖ if stored, else the noise level) and
    y the error:

        C_3 = S_xy / S_xx,   a = ȳ − C_3 x̄,   se(C_3) = √( Σ (y_i − a − C_3 x_i)² / ((k − 2) S_xx) )

    with S_xx = Σ (x_i − x̄)², S_xy = Σ (x_i − x̄)(y_i − ȳ) and k points (NaN when
    k ≤ 2 or S_xx = 0).
    """
    x, y, chosen = noise_regression_data(ds, depth)
    dims = [d for d in (NOISE, TRIAL) if d in y.dims]
    used = x.notnull() & y.notnull()
    x, y = x.where(used), y.where(used)
    k = used.sum(dims)
    dx = x - x.mean(dims)
    sxx = (dx**2).sum(dims)
    slope = (dx * (y - y.mean(dims))).sum(dims) / sxx.where(sxx > 0)
    intercept = y.mean(dims) - slope * x.mean(dims)
    rss = ((y - intercept - slope * x) ** 2).sum(dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(rss / ((k - 2) * sxx)).where((k > 2) & (sxx > 0))

    y_long, y_units = _label(y, y.name)
    x_long, x_units = _label(x, x.name)
    slope_units = y_units if x_units in ("", "1") else f"({y_units})/({x_units})"
    about = f"least-squares slope of {y.name} against {x.name} at the largest depth"
    out = xr.Dataset(
        {
            "noise_slope": slope.assign_attrs(
                long_name=f"noise sensitivity C_3: d({y_long})/d({x_long})",
                units=slope_units,
                description=about,
                abscissa=str(x.name),
                ordinate=str(y.name),
            ),
            "noise_slope_se": se.assign_attrs(
                long_name="standard error of C_3", units=slope_units
            ),
            "noise_intercept": intercept.assign_attrs(
                long_name=f"intercept of {y.name} against {x.name}", units=y_units
            ),
            "noise_slope_points": k.astype(np.int32).assign_attrs(
                long_name="points in the noise regression", units="count"
            ),
            "noise_slope_depth": chosen.assign_attrs(
                long_name="depth of the noise regression", units=chosen.attrs.get("units", "")
            ),
        }
    )
    out.attrs = provenance(ds, depth=depth)
    return out
