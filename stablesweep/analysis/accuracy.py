"""Accuracy at full depth: the relative error, PSNR and SSIM of each network per cell.

The sweep stores, per trial, ``rel_error`` over depth and ``psnr`` / ``ssim`` of the
full-depth output |φ(y)| against |x| (scikit-image's metrics). This module reduces
them to one row per network and cell, the numbers a table of "how accurate is each
network" needs next to the rates and the stability results.
"""

from __future__ import annotations

import xarray as xr

from .data import TRIAL, at_depth, provenance, valid

__all__ = ["accuracy_summary"]


def _mean(da: xr.DataArray) -> xr.DataArray:
    return da.mean(TRIAL) if TRIAL in da.dims else da


def accuracy_summary(ds: xr.Dataset) -> xr.Dataset:
    """Mean relative error at full depth, PSNR and SSIM per network and cell.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` (cells, ``network``, ``trial``, ``depth``);
        optional ``psnr`` and ``ssim`` (cells, ``network``, ``trial``); ``status``
        masks failed trials.

    Returns
    -------
    xarray.Dataset
        Over the cells and ``network``: ``full_depth_rel_error`` = mean over trials of
        ‖φ_n(y) − x‖/‖x‖ at the largest recorded depth n of each network (`at_depth`),
        ``psnr_mean`` (dB) and ``ssim_mean`` (mean over trials; absent when the store
        has no such variable, NaN for 1-D signals).
    """
    if "rel_error" not in ds:
        raise ValueError(
            f"accuracy_summary needs 'rel_error'; dataset has {sorted(map(str, ds.data_vars))}")
    final, depth = at_depth(valid(ds, "rel_error"))
    out = xr.Dataset()
    out["full_depth_rel_error"] = _mean(final).assign_attrs(
        long_name="relative error ‖φ_n(y) − x‖/‖x‖ at the network's largest recorded depth, "
                  "mean over trials", units="1")
    for name, units, what in (("psnr", "dB", "PSNR"), ("ssim", "1", "SSIM")):
        if name in ds:
            out[f"{name}_mean"] = _mean(valid(ds, name)).assign_attrs(
                long_name=f"{what} of |φ(y)| against |x| at full depth, mean over trials "
                          "(scikit-image)", units=units,
                comment="NaN for 1-D signals")
    out.attrs = provenance(ds)
    return out
