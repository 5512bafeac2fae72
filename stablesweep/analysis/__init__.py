"""Analysis of a sweep: convergence rates, noise sensitivity, recovery, stability.

Each function takes the sweep dataset (DESIGN.md §4) and returns an xarray Dataset
over the cells it finds; `analyse` merges all that the dataset supports into the
product written to ``results/<exp>/fits.nc``.

- `accuracy_summary`: relative error, PSNR and SSIM at full depth.
- `fit_rates`: ε, C_2, γ (power law) and c (exponential) of error against depth,
  with bootstrap intervals and the selected model; ε next to the theory value.
- `noise_slope`: C_3, the slope of the error against the noise.
- `recovery_probability`: fraction of trials recovered (phase-transition maps).
- `stability_summary` / `tradeoff_table`: worst amplification under attack, its
  curve against ‖Ar‖, clean accuracy (relative and absolute), and the networks
  ranked on both.
- `worst_case_summary`: worst-case against random noise at equal budgets.
- `opt_rates`: rates of the distance to the minimiser (no floor), the recovery
  floor and FIRENET's stall.
- `convergence_bounds`: what the theorems bound — the objective gap's rate and its
  theorem's bound, the smallest C of ‖φ_n − x‖ ≤ floor + C/n — on log-spaced depths
  after a stated burn-in.
"""

from __future__ import annotations

import warnings

import xarray as xr

from .accuracy import accuracy_summary
from .bootstrap import Bootstrap, bootstrap_fit, fit_flag
from .bounds import convergence_bounds
from .data import (
    ATTACK_STEP,
    DEPTH,
    LEVEL,
    NOISE,
    EmptyStoreError,
    PartialStoreWarning,
    cf_attributes,
    completion,
    normalise_sparsity,
    provenance,
)
from .fits import MODELS, Fit, evaluate, fit_exponential, fit_model, fit_power_law, select_model
from .noise import noise_regression_data, noise_slope
from .rates import fit_rates, opt_rates
from .recovery import recovery_probability
from .stability import amplification, clean_errors, stability_summary, tradeoff_table
from .worst_case import worst_case_summary

__all__ = [
    "MODELS",
    "Bootstrap",
    "EmptyStoreError",
    "Fit",
    "PartialStoreWarning",
    "accuracy_summary",
    "amplification",
    "analyse",
    "bootstrap_fit",
    "clean_errors",
    "convergence_bounds",
    "evaluate",
    "fit_exponential",
    "fit_flag",
    "fit_model",
    "fit_power_law",
    "fit_rates",
    "noise_regression_data",
    "noise_slope",
    "normalise_sparsity",
    "opt_rates",
    "recovery_probability",
    "select_model",
    "stability_summary",
    "tradeoff_table",
    "worst_case_summary",
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
        `accuracy_summary`, `fit_rates` and `recovery_probability` (``rel_error`` with
        ``depth``),
        `noise_slope` (also ≥ 2 ``noise`` levels), `stability_summary` (attack records
        along ``attack_step``), `worst_case_summary` (``worst_case_error`` and
        ``random_noise_error``), `opt_rates` (``opt_error``). Attributes: the sweep's
        provenance, the analysis parameters, ``Conventions`` = "CF-1.10" and, for a
        store with a ``done`` marker, ``cells_done``, ``cells_total``,
        ``cells_missing``. Every variable and coordinate has ``long_name``, numeric ones
        ``units`` ("1" when dimensionless). Writable with ``to_netcdf`` (strings are
        plain ``str`` arrays, counts int32, no object attributes).

    Raises
    ------
    EmptyStoreError
        (a ValueError) When the store's ``done`` marker shows no finished cell.

    Warns
    -----
    PartialStoreWarning
        When some cells are not done: how many, and the labels of up to 10.

    Notes
    -----
    Old stores with string sparsity labels are converted by `normalise_sparsity`.
    """
    progress = completion(ds)
    if progress is not None:
        if progress["done"] == 0:
            raise EmptyStoreError(
                f"the sweep store has no finished cell (0 of {progress['total']} done): "
                "nothing to analyse; run the sweep first"
            )
        if progress["missing"]:
            shown = "; ".join(progress["labels"])
            more = " …" if progress["missing"] > len(progress["labels"]) else ""
            warnings.warn(
                f"the sweep store is partly finished: {progress['missing']} of "
                f"{progress['total']} cells are missing ({shown}{more}); the analysis "
                "covers the done cells only, missing ones are NaN",
                PartialStoreWarning,
                stacklevel=2,
            )
    ds = normalise_sparsity(ds)
    parts = []
    has_error = "rel_error" in ds and DEPTH in ds["rel_error"].dims
    if has_error:
        parts.append(accuracy_summary(ds))
        parts.append(fit_rates(ds, n_boot=n_boot, seed=seed, level=level))
        parts.append(recovery_probability(ds, threshold=threshold, depth=depth))
        if NOISE in ds["rel_error"].dims and ds.sizes[NOISE] >= 2:
            parts.append(noise_slope(ds, depth=depth))
    if any(ATTACK_STEP in ds[v].dims for v in ("amplification", "output_change") if v in ds):
        parts.append(stability_summary(ds))
    if "worst_case_error" in ds and "random_noise_error" in ds:
        parts.append(worst_case_summary(ds))
    if "opt_error" in ds and DEPTH in ds["opt_error"].dims:
        parts.append(opt_rates(ds, n_boot=n_boot, seed=seed, level=level))
    if "objective_gap" in ds and DEPTH in ds["objective_gap"].dims:
        parts.append(convergence_bounds(ds))
    merged = xr.merge(parts, combine_attrs="override", join="outer") if parts else xr.Dataset()
    if "rel_error" in ds and "eps_theory_rel" in merged:
        merged = _place_recovery_floor(merged)
    # Non-index coordinates on the product's dims (the sparsity pattern, attacked_depth
    # of the attack_depth = -1 sentinel, network_depth, …) travel with it.
    carried = {
        str(name): ds[name].reset_coords(drop=True).compute()
        for name in ds.coords
        if name not in ds.dims and name not in merged.variables and ds[name].dims
        and set(ds[name].dims) - {LEVEL} <= set(merged.dims)
    }
    if carried:
        merged = merged.assign_coords(carried)
    merged.attrs = provenance(
        ds, n_boot=n_boot, seed=seed, level=level, threshold=threshold, depth=depth
    )
    if progress is not None:
        merged.attrs.update(cells_done=progress["done"], cells_total=progress["total"],
                            cells_missing=progress["missing"])
    return cf_attributes(merged)


def _place_recovery_floor(merged: xr.Dataset) -> xr.Dataset:
    """Order ``recovery_floor`` right after ``eps_theory_rel`` (the report reads them)."""
    names = [str(n) for n in merged.data_vars if n != "recovery_floor"]
    if "recovery_floor" in merged:
        names.insert(names.index("eps_theory_rel") + 1, "recovery_floor")
    return merged[names]
