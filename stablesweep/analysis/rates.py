"""Convergence rates of every network in every cell of a sweep.

Tests the accuracy part of the stable (ε, γ)-accuracy guarantee (DESIGN.md §2),

    ‖φ_n(y) − x‖ ≤ ε + C_2 / n^γ + C_3 ‖Ax − y‖,   ε ≈ σ_{s,M}(Wx)_{ℓ¹_w} / (√s √r),

by fitting ε + C n^{−γ} and ε + C e^{−c n} to the mean relative error over trials
against depth, with bootstrap intervals over trials (`fit_rates`); and the rates of the
optimisation error ‖φ_n(y) − x̂‖/‖x‖ against the minimiser x̂ of each network's own
problem, without a floor, with the recovery floor ‖x̂ − x‖/‖x‖ and FIRENET's stall
(`opt_rates`). Every fit carries a flag saying whether its numbers may be reported
(`stablesweep.analysis.bootstrap.fit_flag`).
"""

from __future__ import annotations

import zlib

import numpy as np
import xarray as xr

from .bootstrap import (
    FLAG_COLLAPSED,
    FLAG_DEGENERATE,
    FLAG_FLOOR,
    FLAG_FLOOR_ALL,
    FLAG_TOO_FEW,
    bootstrap_fit,
    fit_flag,
    mean_over_trials,
)
from .data import DEPTH, NETWORK, TRIAL, cell_dims, coords_of, labels, provenance, valid, variable
from .fits import MODELS, fit_model, select_model

__all__ = ["fit_rates", "opt_rates", "stall"]

_BOUNDS = ("lower", "upper")


def _cell_rng(seed: int, cell: dict) -> np.random.Generator:
    """Generator for one cell, derived from the seed and the cell's labels only."""
    key = zlib.crc32(repr(sorted((k, str(v)) for k, v in cell.items())).encode())
    return np.random.default_rng([seed, key])


def _fit_cells(
    err: xr.DataArray,
    n_boot: int,
    seed: int,
    level: float,
    criterion: str,
    *,
    floor: float | None,
) -> tuple[xr.DataArray, list[str], dict[str, np.ndarray]]:
    """Fit every model in every cell of `err` (dims: cells, [trial], depth).

    Returns the error at depths > 0 with a trial dimension, the cell dims and arrays
    ``eps``, ``C``, ``log_rss``, ``aic``, ``bic``, ``flag`` (cell, model), ``*_ci``,
    ``gamma``, ``exp_rate`` (+ ``_ci``), ``n_points``, ``selected`` (cell).
    """
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
    out["n_points"] = np.zeros(shape, dtype=np.int32)
    out["selected"] = np.full(shape, "", dtype=f"<U{max(map(len, models))}")
    flags = np.empty(shape + (len(models),), dtype=object)
    flags[...] = ""

    for index in np.ndindex(shape):
        trials = values[index]
        mean = mean_over_trials(trials)
        rng = _cell_rng(seed, labels(err, cells, index))
        fits = {}
        for m, model in enumerate(models):
            fit = fit_model(model, n, mean, floor=floor)
            fits[model] = fit
            out["eps"][index + (m,)] = fit.params["eps"]
            out["C"][index + (m,)] = fit.params["C"]
            out["log_rss"][index + (m,)] = fit.rss
            out["aic"][index + (m,)] = fit.aic
            out["bic"][index + (m,)] = fit.bic
            rate_name, rate_key = ("gamma", "gamma") if model == "power_law" else ("exp_rate", "c")
            out[rate_name][index] = fit.params[rate_key]
            out["n_points"][index] = fit.n_points
            boot = None
            if n_boot and fit.ok:
                boot = bootstrap_fit(
                    n, trials, model, n_boot, rng, level=level, fit=fit, floor=floor
                )
                for key in ("eps", "C"):
                    out[f"{key}_ci"][index + (m,)] = boot.lower[key], boot.upper[key]
                out[f"{rate_name}_ci"][index] = boot.lower[rate_key], boot.upper[rate_key]
            flags[index + (m,)] = fit_flag(fit, n, mean, boot, floor_fitted=floor is None)
        if any(f.ok for f in fits.values()):
            out["selected"][index] = select_model(fits, criterion).model
    width = max([1, *(len(f) for f in flags.ravel())])
    out["flag"] = flags.astype(f"<U{width}")
    return err, cells, out


def _rate_units(ds: xr.Dataset) -> str:
    """Units of an exponential rate: 1/(depth units), "1" for a dimensionless depth."""
    depth_units = str(ds[DEPTH].attrs.get("units", "1")) if DEPTH in ds.coords else "1"
    return "1" if depth_units in ("", "1", "none") else f"1/({depth_units})"


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
        (str, "" where no fit); ``fit_flag`` (cell, fit_model; str): "" when the fit may
        be reported, else the reasons not to print its numbers (rules:
        `stablesweep.analysis.bootstrap.fit_flag`; the numbers are kept, readers show the
        flag); ``eps_theory`` (mean ``sigma_theory`` over trials, ABSOLUTE, in the units
        of x) and, with ``signal_norm``, ``eps_theory_rel`` (mean over trials of
        ``sigma_theory``/‖x‖, relative: the one to draw on relative-error axes).

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
    err, cells, out = _fit_cells(err, n_boot, seed, level, criterion, floor=None)
    models = list(MODELS)
    n_points, selected = out["n_points"], out["selected"]

    err_units = ds["rel_error"].attrs.get("units", "1")
    rate_units = _rate_units(ds)
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
            rate_units,
        ),
        "exp_rate_ci": variable(b, out["exp_rate_ci"], f"c: {ci}", rate_units),
        "log_rss": variable(fm, out["log_rss"], "residual sum of squares of log errors"),
        "aic": variable(fm, out["aic"], "Akaike information criterion (log residuals)"),
        "bic": variable(fm, out["bic"], "Bayesian information criterion (log residuals)"),
        "n_points": variable(dims, n_points, "depths used in the fit", "1"),
        "fit_flag": _string_variable(
            fm, out["flag"], "why the fit must not be reported (empty: reportable)",
            comment=FLAG_RULE,
        ),
        "selected_model": _string_variable(
            dims, selected, f"model of best fit quality ({criterion})", criterion=criterion
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
        if "signal_norm" in ds:
            result["eps_theory_rel"] = _eps_theory(ds, result, relative=True)
    result.attrs = provenance(ds, n_boot=n_boot, seed=seed, level=level, criterion=criterion)
    return result


def _string_variable(dims, values, long_name: str, **attrs: object):
    """A string variable's (dims, values, attrs): ``long_name``, no ``units`` (CF)."""
    return tuple(dims), values, {"long_name": long_name, **attrs}


#: The rule of ``fit_flag`` / ``opt_fit_flag`` in words (stored as their ``comment``).
FLAG_RULE = (
    "empty: the fit may be reported; else the reasons, joined by '; ', not to print its "
    f"numbers: '{FLAG_TOO_FEW}' (fewer than 4 usable depths); '{FLAG_DEGENERATE}' "
    "(a parameter not finite, C <= 0, gamma > 10, or the exponential falls by more than 40 "
    f"decades over the fitted depths); '{FLAG_FLOOR_ALL}' (fitted floor above the largest "
    f"fitted error); '{FLAG_FLOOR}' (fitted floor above 1.25 times the smallest fitted "
    f"error); '{FLAG_COLLAPSED}' (the rate's bootstrap interval is not finite or has zero "
    "width). See stablesweep.analysis.bootstrap.fit_flag"
)


def _trial_mean(da: xr.DataArray) -> xr.DataArray:
    for dim in (TRIAL, DEPTH):
        if dim in da.dims:
            da = da.mean(dim)
    return da


def _eps_theory(ds: xr.Dataset, like: xr.Dataset, *, relative: bool = False) -> xr.DataArray:
    """Mean σ_{s,M}(Wx)_{ℓ¹_w}/(√s √r) over trials (÷ ‖x‖ per trial if `relative`)."""
    sigma = ds["sigma_theory"].reset_coords(drop=True).compute()
    if relative:
        norm = ds["signal_norm"].reset_coords(drop=True).compute()
        norm = norm.where(norm > 0)
        # ‖x‖ does not depend on the network or the noise: average those axes out.
        extra = [d for d in norm.dims if d not in sigma.dims and d != TRIAL]
        if extra:
            norm = norm.mean(extra)
        sigma = sigma / norm
    sigma = _trial_mean(sigma).broadcast_like(like["gamma"])
    if relative:
        sigma.attrs = {
            "long_name": "theoretical accuracy floor relative to the signal, "
            "σ_{s,M}(Wx)_{ℓ¹_w}/(√s √r ‖x‖), mean over trials",
            "units": "1",
        }
    else:
        sigma.attrs = {
            "long_name": "theoretical accuracy floor σ_{s,M}(Wx)_{ℓ¹_w}/(√s √r), ABSOLUTE "
            "(same units as x; compare with eps_theory_rel on relative-error axes), "
            "mean over trials",
            "units": "1",
        }
    return sigma


#: Stall rule of `opt_rates`: the last STALL_RESTARTS recorded depths reduce the
#: optimisation error by less than the factor STALL_FACTOR while it is above STALL_TOL.
STALL_RESTARTS = 3
STALL_FACTOR = 0.9
STALL_TOL = 1e-6


def _is_stall_network(name: object) -> bool:
    return "firenet" in str(name).lower()


def stall(n: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    """Whether an optimisation-error curve stalls, and from which depth.

    Parameters
    ----------
    n, err : numpy.ndarray, shape (k,)
        Depths and the optimisation error ‖φ_n(y) − x̂‖/‖x‖ there (NaN: not recorded).

    Returns
    -------
    stalled : float
        1.0 when, with e_1, …, e_m the finite errors at depths n_1 < … < n_m (n > 0),
        m ≥ K + 1, e_m > 10⁻⁶ and e_m > 0.9 · e_{m−K} (K = 3 recorded depths, for
        FIRENET the last three restarts: they reduced the error by less than 10%
        although it has not reached 10⁻⁶); 0.0 otherwise; NaN when m < K + 1.
    stall_depth : float
        When stalled, the first depth n_j after which the error never falls below
        0.9 · e_j again (min j with e_i > 0.9 e_j for all i ≥ j); else NaN.
    """
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    keep = np.isfinite(n) & np.isfinite(err) & (n > 0)
    order = np.argsort(n[keep])
    n, err = n[keep][order], err[keep][order]
    k = STALL_RESTARTS
    if err.size < k + 1:
        return np.nan, np.nan
    last = err[-1]
    if not (last > STALL_TOL and last > STALL_FACTOR * err[-1 - k]):
        return 0.0, np.nan
    later_min = np.minimum.accumulate(err[::-1])[::-1]  # min over i >= j
    j = int(np.flatnonzero(later_min > STALL_FACTOR * err)[0])
    return 1.0, float(n[j])


def opt_rates(
    ds: xr.Dataset,
    n_boot: int = 200,
    seed: int = 0,
    *,
    level: float = 0.95,
    criterion: str = "aic",
) -> xr.Dataset:
    """Rates of the optimisation error against depth, the recovery floor and stalls.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``opt_error`` (cells, trial, depth) = ‖φ_n(y) − x̂‖/‖x‖, the
        distance to the minimiser x̂ of the network's own problem; optional
        ``recovery_error`` (cells, trial) = ‖x̂ − x‖/‖x‖, ``status``.
    n_boot, seed, level, criterion
        As in `fit_rates`.

    Returns
    -------
    xarray.Dataset
        Over the cells of ``opt_error`` (and ``fit_model``, ``bound`` where stated):
        ``opt_C`` (cell, fit_model), ``opt_gamma`` with ``opt_gamma_low/high``,
        ``opt_c`` with ``opt_c_low/high``, ``opt_model`` (selected model, str),
        ``opt_fit_flag`` (cell, fit_model; str, see `bootstrap.fit_flag`; a stalled FIRENET
        curve is flagged "stalled from depth N"), ``opt_n_points``;
        ``recovery_floor`` (mean ``recovery_error`` over trials); ``stalled`` (1/0, NaN
        where not decidable or not a FIRENET network) and ``stall_depth`` (see `stall`).

    Notes
    -----
    The models are fitted WITHOUT a floor (ε fixed at 0): opt(n) ≈ C/n^γ and
    opt(n) ≈ C e^{−c n}, in log space (`fits.fit_model` with ``floor=0``), to the mean
    over trials; the bootstrap resamples trials. The optimisation error tends to 0; the
    floor of the error against x is the recovery error of the minimiser, reported as
    ``recovery_floor`` in the same relative units as ``eps_theory_rel``.
    """
    if "opt_error" not in ds or DEPTH not in ds["opt_error"].dims:
        raise ValueError(
            f"opt_rates needs 'opt_error' with a {DEPTH!r} dimension; dataset has "
            f"variables {sorted(map(str, ds.data_vars))}"
        )
    if n_boot < 0:
        raise ValueError(f"n_boot = {n_boot!r}; expected an integer >= 0")
    err, cells, out = _fit_cells(valid(ds, "opt_error"), n_boot, seed, level, criterion,
                                 floor=0.0)
    dims = tuple(cells)
    fm = dims + ("fit_model",)
    rate_units = _rate_units(ds)
    ci = f"{100 * level:g}% bootstrap percentile interval over trials ({n_boot} resamples)"
    values = err.transpose(*cells, TRIAL, DEPTH).values
    n = err[DEPTH].values.astype(float)
    stalled = np.full(values.shape[:-2], np.nan)
    stall_at = np.full(values.shape[:-2], np.nan)
    net_axis = cells.index(NETWORK) if NETWORK in cells else None
    for index in np.ndindex(stalled.shape):
        if net_axis is not None and not _is_stall_network(err[NETWORK].values[index[net_axis]]):
            continue
        stalled[index], stall_at[index] = stall(n, mean_over_trials(values[index]))
        if stalled[index] == 1.0:  # no rate to the minimiser: its fits are not reported
            reason = f"stalled from depth {stall_at[index]:g}"
            out["flag"] = out["flag"].astype(f"<U{max(out['flag'].dtype.itemsize // 4, 80)}")
            out["flag"][index] = reason
    opt = "optimisation error ‖φ_n(y) − x̂‖/‖x‖ (x̂: minimiser of the network's own problem)"
    no_fit = "NaN where the network has no minimiser (trained, custom) or too few depths"
    data_vars = {
        "opt_C": variable(fm, out["C"], f"fitted prefactor C of the {opt}, no floor", "1",
                          comment=no_fit),
        "opt_gamma": variable(dims, out["gamma"], f"fitted algebraic rate γ in C/n^γ of the {opt}",
                              comment=no_fit),
        "opt_gamma_low": variable(dims, out["gamma_ci"][..., 0], f"γ of the {opt}: lower "
                                  f"bound of the {ci}"),
        "opt_gamma_high": variable(dims, out["gamma_ci"][..., 1], f"γ of the {opt}: upper "
                                   f"bound of the {ci}"),
        "opt_c": variable(dims, out["exp_rate"], f"fitted exponential rate c in C·exp(−c n) of "
                          f"the {opt}", rate_units, comment=no_fit),
        "opt_c_low": variable(dims, out["exp_rate_ci"][..., 0], f"c of the {opt}: lower bound "
                              f"of the {ci}", rate_units),
        "opt_c_high": variable(dims, out["exp_rate_ci"][..., 1], f"c of the {opt}: upper bound "
                               f"of the {ci}", rate_units),
        "opt_n_points": variable(dims, out["n_points"], f"depths used in the fit of the {opt}"),
        "opt_model": _string_variable(dims, out["selected"], f"model of best fit quality "
                                      f"({criterion}) for the {opt}", criterion=criterion),
        "opt_fit_flag": _string_variable(fm, out["flag"], f"why the fit of the {opt} must not "
                                         "be reported (empty: reportable)", comment=FLAG_RULE),
        "stalled": variable(dims, stalled, "FIRENET stalls: its optimisation error stops "
                            "falling before reaching 1e-6 (1 yes, 0 no)",
                            comment="1 when the last 3 recorded depths (restarts) reduce the "
                            "mean optimisation error by less than a factor 0.9 while it is "
                            "> 1e-6; NaN for networks other than FIRENET and with fewer "
                            "than 4 recorded depths"),
        "stall_depth": variable(dims, stall_at, "depth from which FIRENET's optimisation error "
                                "falls by less than 10%", ds[DEPTH].attrs.get("units", "1"),
                                comment="NaN where not stalled"),
    }
    result = xr.Dataset(
        data_vars,
        coords={
            **coords_of(err, cells),
            "fit_model": ("fit_model", list(MODELS), {"long_name": "fitted model"}),
        },
    )
    if "recovery_error" in ds:
        floor = valid(ds, "recovery_error")
        if TRIAL in floor.dims:
            floor = floor.mean(TRIAL)
        result["recovery_floor"] = floor.broadcast_like(result["opt_gamma"]).assign_attrs(
            long_name="recovery floor ‖x̂ − x‖/‖x‖ of the minimiser, mean over trials",
            units="1",
            comment="NaN where the network has no minimiser (trained, custom)",
        )
    result.attrs = provenance(ds, n_boot=n_boot, seed=seed, level=level, criterion=criterion)
    return result
