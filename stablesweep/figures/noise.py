"""Error against noise at the largest depth, with the fitted slope C_3."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.data import NETWORK, NOISE, TRIAL
from ..analysis.noise import noise_regression_data
from .common import (
    axis_label,
    cell_groups,
    network_colors,
    new_figure,
    select,
    stem,
    styled,
    suptitle,
)

__all__ = ["error_vs_noise"]


def _trial_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over axis 1 (trials), NaN-skipping, no warnings."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    safe = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=1) / count
        var = np.where(finite, (values - mean[:, None]) ** 2, 0.0).sum(axis=1) / count
    return mean, np.sqrt(var)


@styled
def error_vs_noise(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    """Error at the largest depth against the noise, per network.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` (or ``abs_error``) and ≥ 2 ``noise`` levels;
        the abscissa is ``noise_norm`` (‖e‖) when stored, else the noise level.
    fits : xarray.Dataset, optional
        With ``noise_slope`` and ``noise_intercept`` (`stablesweep.analysis.noise_slope`):
        the fitted line is drawn dashed and C_3 given in the legend.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``error_vs_noise__<cell>`` → figure; markers: mean over trials, bars: ± one
        standard deviation. Empty without a noise axis of ≥ 2 levels.
    """
    if "rel_error" not in ds or NOISE not in ds.dims or ds.sizes[NOISE] < 2:
        return {}
    x, y, _ = noise_regression_data(ds)
    y_name = y.attrs.get("long_name", str(y.name))
    colors = network_colors(y[NETWORK].values if NETWORK in y.dims else [])
    figures = {}
    for labels, cell in cell_groups(y, exclude=(NETWORK, NOISE, TRIAL)):
        fig, axes = new_figure(1, 1, width=5.2, height=3.8)
        ax = axes[0, 0]
        networks = cell[NETWORK].values if NETWORK in cell.dims else [None]
        x_cell = select(x, labels)
        for net in networks:
            pick = {NETWORK: net} if net is not None else {}
            yv = cell.sel(pick).transpose(NOISE, ...).values.reshape(cell.sizes[NOISE], -1)
            xv = x_cell.sel(pick).transpose(NOISE, ...).values.reshape(cell.sizes[NOISE], -1)
            x_mean, _ = _trial_stats(xv)
            y_mean, y_std = _trial_stats(yv)
            color = colors.get(net, "k")
            ax.errorbar(x_mean, y_mean, yerr=y_std, fmt="o", color=color, capsize=3,
                        label=str(net or "mean"))
            fit = select(fits, {**labels, **pick}) if fits is not None else None
            if fit is not None and "noise_slope" in fit and np.isfinite(fit["noise_slope"]):
                slope, intercept = float(fit["noise_slope"]), float(fit["noise_intercept"])
                se = float(fit["noise_slope_se"]) if "noise_slope_se" in fit else np.nan
                line = np.linspace(np.nanmin(x_mean), np.nanmax(x_mean), 50)
                text = f"$C_3$ = {slope:.3g}" + (f" ± {se:.2g}" if np.isfinite(se) else "")
                ax.plot(line, intercept + slope * line, "--", color=color,
                        label=f"{net}: fit, {text}")
        ax.set(xlabel=axis_label(x.attrs, str(x.name)),
               ylabel=axis_label({**y.attrs, "long_name": f"{y_name} at the largest depth"},
                                 str(y.name)))
        ax.legend(loc="upper left", framealpha=0.85)
        suptitle(fig, "Error against noise", labels)
        figures[stem("error_vs_noise", labels)] = fig
    return figures
