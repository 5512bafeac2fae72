"""Error against the swept relative noise ‖e‖/‖Ax‖ at the largest depth, with the fitted
slope C_3."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.bootstrap import mean_over_trials
from ..analysis.data import NETWORK, NOISE, TRIAL
from ..analysis.noise import noise_regression_data
from .common import (
    cell_labels,
    fit_style,
    legend_outside,
    network_style,
    network_styles,
    new_figure,
    select,
    stem,
    styled,
    suptitle,
)

__all__ = ["error_vs_noise", "names"]

X_LABEL = r"relative noise $\|e\|\,/\,\|Ax\|$ (swept)"
Y_LABELS = {
    "rel_error": r"relative error $\|\varphi(y) - x\|\,/\,\|x\|$" "\nat the largest depth",
    "abs_error": r"error $\|\varphi(y) - x\|$ (absolute)" "\nat the largest depth",
}


def _trial_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and standard deviation over axis 1 (trials), NaN-skipping, no warnings.

    :math:`\bar v = \frac1{|F|}\sum_{t \in F} v_t` and
    :math:`s = \bigl(\frac1{|F|}\sum_{t \in F}(v_t - \bar v)^2\bigr)^{1/2}` over the
    finite trials :math:`F` (NaN where there are none), both by
    :func:`~stablesweep.analysis.bootstrap.mean_over_trials`.
    """
    mean = mean_over_trials(values.T)
    var = mean_over_trials(((values - mean[:, None]) ** 2).T)
    return mean, np.sqrt(var)


def _supported(ds: xr.Dataset) -> bool:
    return "rel_error" in ds and NOISE in ds.dims and ds.sizes[NOISE] >= 2


def names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the noise figures `ds` supports, without drawing."""
    if not _supported(ds):
        return []
    exclude = (NETWORK, NOISE, TRIAL, "depth")
    return [stem("error_vs_noise", labels) for labels in cell_labels(ds["rel_error"], exclude)]


def _add_absolute_axis(ax, noise: np.ndarray, absolute: np.ndarray) -> None:
    """Secondary x-axis with the absolute ‖e‖ when it is proportional to the swept level."""
    keep = np.isfinite(absolute) & (noise > 0)
    if not keep.any():
        return
    ratio = absolute[keep] / noise[keep]
    scale = float(np.mean(ratio))
    if not np.isfinite(scale) or scale <= 0 or np.ptp(ratio) > 0.05 * scale:
        return  # ‖Ax‖ differs between cells: no single absolute axis
    top = ax.secondary_xaxis("top", functions=(lambda v: v * scale, lambda v: v / scale))
    top.set_xlabel(r"absolute noise $\|e\|$ (mean over trials)")


@styled
def error_vs_noise(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""Error at the largest depth against the swept relative noise, per network.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` (or ``abs_error``) and ≥ 2 ``noise`` levels
        (the relative noise ‖e‖/‖Ax‖ the config sweeps: the abscissa); with
        ``noise_norm`` (‖e‖) a secondary top axis shows the absolute noise.
    fits : xarray.Dataset, optional
        With ``noise_slope`` and ``noise_intercept`` (regressed on ‖e‖): the fitted
        line, evaluated at the mean ‖e‖ of each level, drawn like its data, thinner,
        with C_3 in the legend.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``error_vs_noise__<cell>`` → figure; markers: mean over trials, bars: ± one
        standard deviation. Empty without a noise axis of ≥ 2 levels.
    """
    if not _supported(ds):
        return {}
    x, y, _ = noise_regression_data(ds)
    styles = network_styles(y[NETWORK].values if NETWORK in y.dims else [])
    y_label = Y_LABELS.get(str(y.name), Y_LABELS["rel_error"])
    figures = {}
    for labels in cell_labels(ds["rel_error"], (NETWORK, NOISE, TRIAL, "depth")):
        cell = select(y, labels)
        fig, axes = new_figure(1, 1, width=5.4, height=4.2)
        ax = axes[0, 0]
        networks = [str(v) for v in cell[NETWORK].values] if NETWORK in cell.dims else [None]
        x_cell = select(x, labels)
        noise = cell[NOISE].values.astype(float)
        absolute = None
        for net in networks:
            pick = {NETWORK: net} if net is not None else {}
            yv = cell.sel(pick).transpose(NOISE, ...).values.reshape(cell.sizes[NOISE], -1)
            xv = x_cell.sel(pick).transpose(NOISE, ...).values.reshape(cell.sizes[NOISE], -1)
            x_abs, _ = _trial_stats(xv.astype(float))
            absolute = x_abs if absolute is None else absolute
            y_mean, y_std = _trial_stats(yv)
            style = network_style(styles, net)
            ax.errorbar(noise, y_mean, yerr=y_std, capsize=3, label=str(net or "mean"),
                        **style)
            fit = select(fits, {**labels, **pick}) if fits is not None else None
            if fit is not None and "noise_slope" in fit and np.isfinite(fit["noise_slope"]):
                slope, intercept = float(fit["noise_slope"]), float(fit["noise_intercept"])
                se = float(fit["noise_slope_se"]) if "noise_slope_se" in fit else np.nan
                text = f"$C_3$ = {slope:.3g}" + (f" ± {se:.2g}" if np.isfinite(se) else "")
                ax.plot(noise, intercept + slope * x_abs, label=f"{net}: linear fit, {text}",
                        **fit_style(style))
        if x.name == "noise_norm" and absolute is not None:
            _add_absolute_axis(ax, noise, absolute)
        ax.set(xlabel=X_LABEL, ylabel=y_label)
        legend_outside(fig, [ax])
        suptitle(fig, "Error against noise", labels)
        figures[stem("error_vs_noise", labels)] = fig
    return figures
