"""Convergence rates of every network in every cell of a sweep.

Tests the accuracy part of the stable (ε, γ)-accuracy guarantee (DESIGN.md §2),

    ‖φ_n(y) − x‖ ≤ ε + C_2 / n^γ + C_3 ‖Ax − y‖,   ε ≈ σ_{s,M}(Wx)_{ℓ¹_w} / (√s √r),

by fitting ε + C n^{−γ} and ε + C e^{−c n} to the mean relative error over trials
against depth, with bootstrap intervals over trials.
"""

from __future__ import annotations

import zlib

import numpy as np
import xarray as xr

from .data import DEPTH, TRIAL, cell_dims, coords_of, labels, provenance, valid, variable
from .fits import MODELS, bootstrap_fit, fit_model, mean_over_trials, select_model

__all__ = ["fit_rates"]

_BOUNDS = ("lower", "upper")


def _cell_rng(seed: int, cell: dict) -> np.random.Generator:
    """Generator for one cell, derived from the seed and the cell's labels only."""
    key = zlib.crc32(repr(sorted((k, str(v)) for k, v in cell.items())).encode())
    return np.random.default_rng([seed, key])


def fit_rates(
    ds: xr.Dataset,
    n_boot: int = 200,
    seed: int = 0,
    *,
    level: float = 0.95,
    criterion: str = "aic",
) -> xr.Dataset:
    """Fit error-versus-depth models in every (network, cell) of a sweep.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` (dims include ``depth``; ``trial`` optional);
        optional ``status`` (non-ok entries are ignored) and ``sigma_theory``.
    n_boot : int
        Bootstrap resamples of the trials per cell and model (0: no intervals).
    seed : int
        Seed; each cell's generator is derived from it and the cell's labels, so a
        cell's intervals do not depend on which other cells the sweep holds.
    level : float
        Confidence level of the intervals (0.95: 2.5 and 97.5 percentiles).
    criterion : {"aic", "bic", "rss"}
        Fit quality used to select the model.

    Returns
    -------
    xarray.Dataset
        Over the cell dimensions of ``rel_error`` (all but ``trial`` and ``depth``,
        ``network`` included) and ``fit_model`` = [power_law, exponential],
        ``bound`` = [lower, upper]:

        ``eps``, ``C`` (cell, fit_model) and ``eps_ci``, ``C_ci`` (…, bound);
        ``gamma``, ``gamma_ci`` (power law); ``exp_rate``, ``exp_rate_ci`` (exponential c);
        ``log_rss``, ``aic``, ``bic`` (cell, fit_model); ``n_points``; ``selected_model``
        (str, "" where no fit); ``eps_theory`` (mean ``sigma_theory`` over trials).

    Notes
    -----
    In each cell the mean over trials of the ok, finite errors at depths n > 0 is
    fitted (`stablesweep.analysis.fits`); the bootstrap resamples whole trials.
    """
    err = valid(ds, "rel_error")
    if DEPTH not in err.dims:
        raise ValueError(f"rel_error has dims {err.dims}; expected a {DEPTH!r} dimension")
    if n_boot < 0:
        raise ValueError(f"n_boot = {n_boot!r}; expected an integer >= 0")
    err = err.isel({DEPTH: np.flatnonzero(err[DEPTH].values > 0)})
    if TRIAL not in err.dims:
        err = err.expand_dims(TRIAL)
    cells = cell_dims(err)
    values = err.transpose(*cells, TRIAL, DEPTH).values
    n = err[DEPTH].values.astype(float)
    shape = values.shape[:-2]
    models = list(MODELS)

    per_model = ("eps", "C", "log_rss", "aic", "bic")
    out = {key: np.full(shape + (len(models),), np.nan) for key in per_model}
    out.update({f"{k}_ci": np.full(shape + (len(models), 2), np.nan) for k in ("eps", "C")})
    for k in ("gamma", "exp_rate"):
        out[k] = np.full(shape, np.nan)
        out[f"{k}_ci"] = np.full(shape + (2,), np.nan)
    n_points = np.zeros(shape, dtype=np.int32)
    selected = np.full(shape, "", dtype=f"<U{max(map(len, models))}")

    for index in np.ndindex(shape):
        trials = values[index]
        rng = _cell_rng(seed, labels(err, cells, index))
        fits = {}
        for m, model in enumerate(models):
            fit = fit_model(model, n, mean_over_trials(trials))
            fits[model] = fit
            out["eps"][index + (m,)] = fit.params["eps"]
            out["C"][index + (m,)] = fit.params["C"]
            out["log_rss"][index + (m,)] = fit.rss
            out["aic"][index + (m,)] = fit.aic
            out["bic"][index + (m,)] = fit.bic
            rate_name, rate_key = ("gamma", "gamma") if model == "power_law" else ("exp_rate", "c")
            out[rate_name][index] = fit.params[rate_key]
            n_points[index] = fit.n_points
            if n_boot and fit.ok:
                boot = bootstrap_fit(n, trials, model, n_boot, rng, level=level, fit=fit)
                for key in ("eps", "C"):
                    out[f"{key}_ci"][index + (m,)] = boot.lower[key], boot.upper[key]
                out[f"{rate_name}_ci"][index] = boot.lower[rate_key], boot.upper[rate_key]
        if any(f.ok for f in fits.values()):
            selected[index] = select_model(fits, criterion).model

    err_units = ds["rel_error"].attrs.get("units", "1")
    depth_units = ds[DEPTH].attrs.get("units", "operator applications")
    ci = f"{100 * level:g}% bootstrap percentile interval over trials ({n_boot} resamples)"
    dims = tuple(cells)
    fm, fmb, b = dims + ("fit_model",), dims + ("fit_model", "bound"), dims + ("bound",)
    data_vars = {
        "eps": variable(fm, out["eps"], "fitted accuracy floor ε", err_units),
        "eps_ci": variable(fmb, out["eps_ci"], f"ε: {ci}", err_units),
        "C": variable(fm, out["C"], "fitted prefactor C (C_2 of the guarantee)", err_units),
        "C_ci": variable(fmb, out["C_ci"], f"C: {ci}", err_units),
        "gamma": variable(dims, out["gamma"], "fitted algebraic rate γ in ε + C/n^γ"),
        "gamma_ci": variable(b, out["gamma_ci"], f"γ: {ci}"),
        "exp_rate": variable(
            dims, out["exp_rate"], "fitted exponential rate c in ε + C·exp(−c n)",
            f"1/({depth_units})",
        ),
        "exp_rate_ci": variable(b, out["exp_rate_ci"], f"c: {ci}", f"1/({depth_units})"),
        "log_rss": variable(fm, out["log_rss"], "residual sum of squares of log errors"),
        "aic": variable(fm, out["aic"], "Akaike information criterion (log residuals)"),
        "bic": variable(fm, out["bic"], "Bayesian information criterion (log residuals)"),
        "n_points": variable(dims, n_points, "depths used in the fit", "count"),
        "selected_model": variable(
            dims, selected, f"model of best fit quality ({criterion})", "", criterion=criterion
        ),
    }
    result = xr.Dataset(
        data_vars,
        coords={
            **coords_of(err, cells),
            "fit_model": ("fit_model", models, {"long_name": "fitted model"}),
            "bound": ("bound", list(_BOUNDS), {"long_name": "confidence interval bound"}),
        },
    )
    if "sigma_theory" in ds:
        result["eps_theory"] = _eps_theory(ds, result)
    result.attrs = provenance(ds, n_boot=n_boot, seed=seed, level=level, criterion=criterion)
    return result


def _eps_theory(ds: xr.Dataset, like: xr.Dataset) -> xr.DataArray:
    """Mean σ_{s,M}(Wx)_{ℓ¹_w}/(√s √r) over trials, on the cells of `like`."""
    sigma = ds["sigma_theory"].reset_coords(drop=True).compute()
    for dim in (TRIAL, DEPTH):
        if dim in sigma.dims:
            sigma = sigma.mean(dim)
    sigma = sigma.broadcast_like(like["gamma"])
    sigma.attrs = {
        "long_name": "theoretical accuracy floor σ_{s,M}(Wx)_{ℓ¹_w}/(√s √r), mean over trials",
        "units": ds["sigma_theory"].attrs.get("units", "1"),
    }
    return sigma
