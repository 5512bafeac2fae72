r"""The objective gap against depth, with the theorem's bound on it.

The quantity the O(1/n) theorems bound (:mod:`stablesweep.analysis.bounds`): the gap
:math:`f(\phi_n(y)) - f(\hat z)` of each network in its own convex problem, and the
bound ``gap_bound`` of the theorem (ergodic primal–dual :math:`C/n`, FISTA
:math:`C/(n+1)^2`) in the same colour, dashed. The right panel shows the ratio gap ÷
bound: below 1 everywhere means the theorem holds; flat means the rate is the theorem's.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.data import DEPTH, NETWORK, TRIAL, valid
from .common import (
    cell_groups,
    cell_labels,
    fit_style,
    legend_outside,
    log_ticks,
    network_style,
    network_styles,
    new_figure,
    select,
    stem,
    styled,
    suptitle,
)

__all__ = ["KIND", "names", "objective_gap_vs_depth"]

KIND = "objective_gap_vs_depth"
X_LABEL = "depth n (iterations)"


def _has(ds: xr.Dataset) -> bool:
    return ("objective_gap" in ds and DEPTH in ds["objective_gap"].dims
            and bool(ds["objective_gap"].notnull().any()))


def names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the gap figures `ds` supports, without drawing."""
    if not _has(ds):
        return []
    return [stem(KIND, labels)
            for labels in cell_labels(ds["objective_gap"], exclude=(NETWORK, TRIAL, DEPTH))]


def _trial_mean(da: xr.DataArray) -> np.ndarray:
    values = da.transpose(TRIAL, DEPTH).values if TRIAL in da.dims else da.values[None]
    ok = np.isfinite(values).all(axis=0)
    return np.where(ok, np.where(np.isfinite(values), values, 0.0).mean(axis=0), np.nan)


@styled
def objective_gap_vs_depth(ds: xr.Dataset, fits: xr.Dataset | None = None
                           ) -> dict[str, Figure]:
    r"""Objective gap f(φ_n(y)) − f(x̂) against depth, the theorem's bound and their ratio.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``objective_gap`` (cells, trial, depth) and optionally
        ``gap_bound`` (the ``minimiser`` option); networks without a convex problem of
        their own (all NaN) are left out.
    fits : xarray.Dataset, optional
        With ``gap_gamma`` (:func:`stablesweep.analysis.convergence_bounds`): the
        fitted rate goes into the legend of each network with a gap theorem; the others
        say "no gap theorem" (FIRENET's restarts target x, not x̂).

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``objective_gap_vs_depth__<cell>`` → a log–log panel of the mean gap over trials
        (solid) and the bound (dashed, same colour) and a panel of the largest ratio
        gap ÷ bound over trials (log x). Empty without ``objective_gap``.
    """
    if not _has(ds):
        return {}
    gap_all = valid(ds, "objective_gap")
    bound_all = valid(ds, "gap_bound") if "gap_bound" in ds else None
    nets = [n for n in gap_all[NETWORK].values] if NETWORK in gap_all.dims else [None]
    styles = network_styles(nets if nets != [None] else [])
    figures = {}
    for labels, cell in cell_groups(gap_all, exclude=(NETWORK, TRIAL, DEPTH)):
        fig, axes = new_figure(1, 2, width=4.6, height=4.6)
        ax, ratio_ax = axes[0]
        n = cell[DEPTH].values.astype(float)
        for net in nets:
            gap = cell.sel({NETWORK: net}) if net is not None else cell
            mean = _trial_mean(gap)
            shown = np.isfinite(mean) & (mean > 0) & (n > 0)
            if not shown.any():
                continue
            style = network_style(styles, net)
            label = str(net or "gap")
            pick = {**labels, NETWORK: net} if net is not None else labels
            bound = select(bound_all, pick) if bound_all is not None else None
            has_bound = bound is not None and bool(bound.notnull().any())
            if fits is not None and "gap_gamma" in fits and has_bound:
                gamma = select(fits["gap_gamma"], pick)
                if gamma is not None and np.isfinite(float(gamma.mean())):
                    label += rf" ($\gamma$ = {float(gamma.mean()):.3g})"
            elif not has_bound:
                label += " (no gap theorem)"
            every = max(1, int(shown.sum()) // 15)
            ax.plot(n[shown], mean[shown], markevery=every, label=label, **style)
            if not has_bound:
                continue
            b = _trial_mean(bound)
            ax.plot(n[shown], b[shown], label=f"{net}: theorem's bound", **fit_style(style))
            ratio = (gap / bound)
            worst = (ratio.max(TRIAL) if TRIAL in ratio.dims else ratio).values
            ok = np.isfinite(worst) & (n > 0)
            ratio_ax.plot(n[ok], worst[ok], markevery=every, **style)
        ratio_ax.axhline(1.0, color="k", linestyle=(0, (1, 1)), linewidth=1.2,
                         label="bound (ratio 1)")
        ax.set(xscale="log", yscale="log", title="gap and bound", xlabel=X_LABEL,
               ylabel="objective gap\n" r"$f(\varphi_n(y)) - f(\hat z)$")
        ratio_ax.set(xscale="log", title="gap ÷ bound (largest over trials)", xlabel=X_LABEL,
                     ylabel="gap ÷ theorem's bound", ylim=(0, None))
        log_ticks(ax)
        log_ticks(ratio_ax, "x")
        legend_outside(fig, [ax, ratio_ax])
        suptitle(fig, "Objective gap against depth", labels)
        figures[stem(KIND, labels)] = fig
    return figures
