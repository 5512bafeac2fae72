"""Error against depth, with the fitted convergence models overlaid."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.data import DEPTH, NETWORK, TRIAL, valid
from ..analysis.fits import evaluate, mean_over_trials
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

__all__ = ["error_vs_depth"]

#: Per model: variable of the rate in the fits dataset, parameter name, symbol, formula.
_RATE_VARIABLE = {
    "power_law": ("gamma", "gamma", r"$\gamma$", r"$\varepsilon + C n^{-\gamma}$"),
    "exponential": ("exp_rate", "c", "$c$", r"$\varepsilon + C e^{-cn}$"),
}


def _fitted_curve(fits: xr.Dataset, labels: dict, n: np.ndarray):
    """(curve, legend text) of the selected model in the cell, or None."""
    if fits is None or "selected_model" not in fits:
        return None
    cell = select(fits, labels)
    if cell is None:
        return None
    model = str(cell["selected_model"].values)
    if model not in _RATE_VARIABLE:
        return None
    name, key, symbol, form = _RATE_VARIABLE[model]
    by_model = cell.sel(fit_model=model)
    params = {"eps": float(by_model["eps"]), "C": float(by_model["C"]), key: float(cell[name])}
    if not np.all(np.isfinite(list(params.values()))):
        return None
    return evaluate(model, n, params), f"fit {form}, {symbol} = {params[key]:.3g}"


def _draw_cell(axes, cell: xr.DataArray, labels: dict, fits, eps_theory, colors) -> None:
    depth = cell[DEPTH].values.astype(float)
    networks = cell[NETWORK].values if NETWORK in cell.dims else [None]
    for net in networks:
        err = cell.sel({NETWORK: net}) if net is not None else cell
        values = err.transpose(TRIAL, DEPTH).values if TRIAL in err.dims else err.values[None]
        mean = mean_over_trials(values)
        lo, hi = np.fmin.reduce(values, axis=0), np.fmax.reduce(values, axis=0)
        shown = np.isfinite(mean) & (mean > 0) & (depth > 0)
        if not shown.any():
            continue
        color = colors.get(net, "k")
        style = "o-" if shown.sum() <= 30 else "-"
        grid = np.geomspace(depth[shown].min(), depth[shown].max(), 200)
        net_labels = {**labels, NETWORK: net} if net is not None else labels
        fit = _fitted_curve(fits, net_labels, grid)
        for ax in axes:
            ax.plot(depth[shown], mean[shown], style, color=color, label=str(net or "mean"))
            if values.shape[0] > 1:
                ax.fill_between(depth[shown], lo[shown], hi[shown], color=color, alpha=0.2,
                                linewidth=0)
            if fit is not None:
                ax.plot(grid, fit[0], "--", color="k", linewidth=1.0, zorder=3,
                        label=f"{net}: {fit[1]}")
    if eps_theory is not None and np.isfinite(eps_theory) and eps_theory > 0:
        for ax in axes:
            ax.axhline(eps_theory, color="0.4", linestyle=":", linewidth=1.2,
                       label=r"theory $\varepsilon = \sigma_{s,M}(Wx)_{\ell^1_w}/\sqrt{sr}$")


@styled
def error_vs_depth(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    """Mean error against depth per network, one figure per remaining cell.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` over ``depth`` (``trial``, ``network`` and
        ``status`` optional; non-ok runs are left out).
    fits : xarray.Dataset, optional
        Output of `stablesweep.analysis.fit_rates` / `analyse`: the selected model of
        each cell is drawn dashed; its ``eps_theory`` dotted.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``error_vs_depth__<cell>`` → figure with a log–log panel (algebraic rates are
        straight lines) and a semi-log panel (exponential rates are straight lines);
        line: mean over trials; band: range over trials. Empty without ``rel_error``.
    """
    if "rel_error" not in ds or DEPTH not in ds["rel_error"].dims:
        return {}
    err = valid(ds, "rel_error")
    colors = network_colors(err[NETWORK].values if NETWORK in err.dims else [])
    y_label = axis_label(ds["rel_error"].attrs, "relative error")
    x_label = axis_label(ds[DEPTH].attrs, "depth n")
    figures = {}
    for labels, cell in cell_groups(err, exclude=(NETWORK, TRIAL, DEPTH)):
        fig, axes = new_figure(1, 2, width=4.6, height=3.6)
        eps_theory = None
        if fits is not None and "eps_theory" in fits:
            theory = select(fits["eps_theory"], labels)
            if theory is not None:
                eps_theory = float(np.nanmean(theory.values)) if theory.notnull().any() else None
        _draw_cell(axes[0], cell, labels, fits, eps_theory, colors)
        log_ax, semi_ax = axes[0]
        log_ax.set(xscale="log", yscale="log", title="log–log", xlabel=x_label, ylabel=y_label)
        semi_ax.set(yscale="log", title="semi-log", xlabel=x_label, ylabel="relative error [1]")
        handles, names = semi_ax.get_legend_handles_labels()
        if handles:
            fig.legend(handles, names, loc="outside lower center", ncols=min(3, len(handles)))
        suptitle(fig, "Error against depth", labels)
        figures[stem("error_vs_depth", labels)] = fig
    return figures
