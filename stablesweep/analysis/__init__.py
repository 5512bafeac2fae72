"""Analysis of a sweep: convergence rates, noise sensitivity, recovery, stability.

Each function takes the sweep dataset (DESIGN.md §4) and returns an xarray Dataset
over the cells it finds; `analyse` merges all that the dataset supports into the
product written to ``results/<exp>/fits.nc``.

- `fit_rates`: ε, C_2, γ (power law) and c (exponential) of error against depth,
  with bootstrap intervals and the selected model; ε next to the theory value.
- `noise_slope`: C_3, the slope of the error against the noise.
- `recovery_probability`: fraction of trials recovered (phase-transition maps).
- `stability_summary` / `tradeoff_table`: worst amplification under attack, its
  curve against ‖Ar‖, clean accuracy, and the networks ranked on both.
"""

from __future__ import annotations

import xarray as xr

from .data import ATTACK_STEP, DEPTH, NOISE, provenance
from .fits import (
    MODELS,
    Bootstrap,
    Fit,
    bootstrap_fit,
    evaluate,
    fit_exponential,
    fit_model,
    fit_power_law,
    select_model,
)
from .noise import noise_regression_data, noise_slope
from .rates import fit_rates
from .recovery import recovery_probability
from .stability import amplification, stability_summary, tradeoff_table

__all__ = [
    "MODELS",
    "Bootstrap",
    "Fit",
    "amplification",
    "analyse",
    "bootstrap_fit",
    "evaluate",
    "fit_exponential",
    "fit_model",
    "fit_power_law",
    "fit_rates",
    "noise_regression_data",
    "noise_slope",
    "recovery_probability",
    "select_model",
    "stability_summary",
    "tradeoff_table",
]


def analyse(
    ds: xr.Dataset,
    *,
    n_boot: int = 200,
    seed: int = 0,
    threshold: float = 1e-3,
    depth: float | None = None,
    level: float = 0.95,
) -> xr.Dataset:
    """Every analysis the sweep dataset supports, merged into one netCDF-ready Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep dataset (e.g. ``xr.open_zarr("results/<exp>/sweep.zarr")``).
    n_boot, seed, level
        Bootstrap settings of `fit_rates`.
    threshold : float
        Recovery threshold of `recovery_probability`.
    depth : float, optional
        Depth limit of `noise_slope` and `recovery_probability` (None: largest).

    Returns
    -------
    xarray.Dataset
        The union of the products whose inputs are present:
        `fit_rates` and `recovery_probability` (``rel_error`` with ``depth``),
        `noise_slope` (also ≥ 2 ``noise`` levels), `stability_summary` (attack records
        along ``attack_step``). Attributes: the sweep's provenance and the analysis
        parameters. Writable with ``to_netcdf`` (strings are plain ``str`` arrays,
        counts int32, no object attributes).
    """
    parts = []
    has_error = "rel_error" in ds and DEPTH in ds["rel_error"].dims
    if has_error:
        parts.append(fit_rates(ds, n_boot=n_boot, seed=seed, level=level))
        parts.append(recovery_probability(ds, threshold=threshold, depth=depth))
        if NOISE in ds["rel_error"].dims and ds.sizes[NOISE] >= 2:
            parts.append(noise_slope(ds, depth=depth))
    if any(ATTACK_STEP in ds[v].dims for v in ("amplification", "output_change") if v in ds):
        parts.append(stability_summary(ds))
    merged = xr.merge(parts, combine_attrs="override", join="outer") if parts else xr.Dataset()
    merged.attrs = provenance(
        ds, n_boot=n_boot, seed=seed, level=level, threshold=threshold, depth=depth
    )
    return merged
