"""Error against depth (with the fitted rate models) and the optimisation error against
depth (distance to the minimiser of each network's own problem, with C/n^γ or C e^{−cn})."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.bootstrap import mean_over_trials
from ..analysis.data import DEPTH, NETWORK, TRIAL, valid
from ..analysis.fits import evaluate
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

__all__ = ["error_vs_depth", "names", "opt_error_vs_depth"]

#: Per model: variable of the rate in the fits dataset, parameter name, symbol, formula.
_RATE_VARIABLE = {
    "power_law": ("gamma", "gamma", r"$\gamma$", r"$\varepsilon + C n^{-\gamma}$"),
    "exponential": ("exp_rate", "c", "$c$", r"$\varepsilon + C e^{-cn}$"),
}
#: The same for the optimisation error (no floor).
_OPT_VARIABLE = {
    "power_law": ("opt_gamma", "gamma", r"$\gamma$", r"$C n^{-\gamma}$"),
    "exponential": ("opt_c", "c", "$c$", r"$C e^{-cn}$"),
}
X_LABEL = "depth n (iterations)"
REL_LABEL = "relative error\n" r"$\|\varphi_n(y) - x\|\,/\,\|x\|$"
OPT_LABEL = "optimisation error\n" r"$\|\varphi_n(y) - \hat x\|\,/\,\|x\|$"
THEORY = r"theory $\varepsilon = \sigma_{s,M}/(\sqrt{s}\sqrt{r}\,\|x\|)$ (relative)"


def _flag(cell: xr.Dataset, name: str, model: str) -> str:
    """The fit's flag (empty when reportable or not stored)."""
    if name not in cell:
        return ""
    flag = cell[name]
    if "fit_model" in flag.dims:
        flag = flag.sel(fit_model=model)
    value = flag.values[()] if flag.ndim == 0 else next(iter(flag.values.ravel()), "")
    return "" if value is None else str(value).strip()


def _fitted_curve(fits, labels: dict, n: np.ndarray, table: dict, selected: str, eps: bool,
                  flag_name: str):
    """(curve or None, legend text) of the selected model in the cell, or None."""
    if fits is None or selected not in fits:
        return None
    cell = select(fits, labels)
    if cell is None:
        return None
    model = str(cell[selected].values[()]) if cell[selected].ndim == 0 else ""
    if model not in table:
        return None
    flag = _flag(cell, flag_name, model)
    if flag:
        return None, f"fit flagged: {flag}"
    name, key, symbol, form = table[model]
    by_model = cell.sel(fit_model=model) if "fit_model" in cell.dims else cell
    prefix = "opt_" if flag_name.startswith("opt_") else ""
    params = {"eps": float(by_model["eps"]) if eps else 0.0,
              "C": float(by_model[prefix + "C"]), key: float(cell[name])}
    if not np.all(np.isfinite(list(params.values()))):
        return None
    return evaluate(model, n, params), f"fit {form}, {symbol} = {params[key]:.3g}"


def _networks(da: xr.DataArray) -> list:
    return [str(v) for v in da[NETWORK].values] if NETWORK in da.dims else [None]


def _draw_series(axes, cell: xr.DataArray, labels: dict, fits, styles, *, table, selected,
                 eps: bool, flag_name: str) -> None:
    depth = cell[DEPTH].values.astype(float)
    for net in _networks(cell):
        err = cell.sel({NETWORK: net}) if net is not None else cell
        values = err.transpose(TRIAL, DEPTH).values if TRIAL in err.dims else err.values[None]
        mean = mean_over_trials(values)
        lo, hi = np.fmin.reduce(values, axis=0), np.fmax.reduce(values, axis=0)
        shown = np.isfinite(mean) & (mean > 0) & (depth > 0)
        if not shown.any():
            continue
        style = network_style(styles, net)
        every = max(1, int(shown.sum()) // 15)
        grid = np.geomspace(depth[shown].min(), depth[shown].max(), 200)
        net_labels = {**labels, NETWORK: net} if net is not None else labels
        fit = _fitted_curve(fits, net_labels, grid, table, selected, eps, flag_name)
        for ax in axes:
            ax.plot(depth[shown], mean[shown], markevery=every, label=str(net or "mean"),
                    **style)
            if values.shape[0] > 1:
                ax.fill_between(depth[shown], lo[shown], hi[shown], color=style["color"],
                                alpha=0.15, linewidth=0)
            if fit is not None and fit[0] is not None:
                ax.plot(grid, fit[0], zorder=3, label=f"{net}: {fit[1]}", **fit_style(style))
            elif fit is not None:  # flagged: a legend entry only, nothing drawn
                ax.plot([], [], label=f"{net}: {fit[1]}", **fit_style(style))


def _mean_value(da: xr.DataArray | None) -> float | None:
    if da is None or not bool(da.notnull().any()):
        return None
    value = float(np.nanmean(da.values))
    return value if np.isfinite(value) and value > 0 else None


def theory_rel(ds: xr.Dataset, fits: xr.Dataset | None, labels: dict) -> float | None:
    """The theory's ε in relative units in the cell: ``eps_theory_rel`` of the fits, else
    mean over trials of ``sigma_theory / signal_norm`` from the store; None otherwise
    (an absolute ε is never drawn on a relative axis)."""
    if fits is not None and "eps_theory_rel" in fits:
        value = _mean_value(select(fits["eps_theory_rel"], labels))
        if value is not None:
            return value
    if "sigma_theory" in ds and "signal_norm" in ds:
        return _mean_value(select(ds["sigma_theory"] / ds["signal_norm"], labels))
    return None


def _cells(ds: xr.Dataset, name: str):
    return cell_groups(valid(ds, name), exclude=(NETWORK, TRIAL, DEPTH))


def _has(ds: xr.Dataset, name: str) -> bool:
    return name in ds and DEPTH in ds[name].dims and bool(ds[name].notnull().any())


def names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the depth figures `ds` supports, without drawing."""
    out = []
    for var, kind in (("rel_error", "error_vs_depth"), ("opt_error", "opt_error_vs_depth")):
        if _has(ds, var):
            out += [stem(kind, labels)
                    for labels in cell_labels(ds[var], exclude=(NETWORK, TRIAL, DEPTH))]
    return out


@styled
def error_vs_depth(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""Mean relative error against depth per network, one figure per remaining cell.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rel_error`` = ‖φ_n(y) − x‖/‖x‖ over ``depth`` (``trial``,
        ``network`` and ``status`` optional; non-ok runs are left out).
    fits : xarray.Dataset, optional
        Output of `stablesweep.analysis.analyse`: the selected model ε + C n^{−γ} or
        ε + C e^{−cn} of each cell is drawn in its network's colour and dash, thinner
        (not drawn, legend "fit flagged: …", where ``fit_flag`` is set); the theory's
        ε = σ_{s,M}/(√s √r) in relative units (``eps_theory_rel``, else
        ``sigma_theory/signal_norm`` from `ds`) as a grey horizontal line.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``error_vs_depth__<cell>`` → log–log panel (algebraic rates are straight lines)
        and semi-log panel (exponential rates are straight lines); line: mean over trials;
        band: range over trials. Empty without ``rel_error``.
    """
    return _depth_figures(ds, fits, "rel_error", "error_vs_depth", table=_RATE_VARIABLE,
                          selected="selected_model", eps=True, flag_name="fit_flag",
                          y_label=REL_LABEL, title="Relative error against depth")


def _depth_figures(ds: xr.Dataset, fits: xr.Dataset | None, var: str, kind: str, *, table,
                   selected: str, eps: bool, flag_name: str, y_label: str, title: str,
                   extra=None) -> dict[str, Figure]:
    """One log–log + semi-log figure per cell of ``ds[var]``: the series with their fits
    (:func:`_draw_series`), ``extra(axes, ds, fits, cell, labels, styles)`` when given,
    the theory's ε, axes, legend and title (:func:`_finish`)."""
    if not _has(ds, var):
        return {}
    styles = network_styles(_networks(ds[var]) if NETWORK in ds.dims else [])
    figures = {}
    for labels, cell in _cells(ds, var):
        fig, axes = new_figure(1, 2, width=4.6, height=4.6)
        _draw_series(axes[0], cell, labels, fits, styles, table=table, selected=selected,
                     eps=eps, flag_name=flag_name)
        if extra is not None:
            extra(axes[0], ds, fits, cell, labels, styles)
        _finish(fig, axes[0], theory_rel(ds, fits, labels), y_label, title, labels)
        figures[stem(kind, labels)] = fig
    return figures


def _finish(fig: Figure, axes, eps: float | None, y_label: str, title: str,
            labels: dict) -> None:
    """The theory's ε line (when known), log–log and semi-log axes, legend and title."""
    if eps is not None:
        for ax in axes:
            ax.axhline(eps, color="0.35", linestyle=(0, (1, 1)), linewidth=1.4,
                       label=f"{THEORY} = {eps:.3g}")
    log_ax, semi_ax = axes
    log_ax.set(xscale="log", yscale="log", title="log–log", xlabel=X_LABEL, ylabel=y_label)
    semi_ax.set(yscale="log", title="semi-log", xlabel=X_LABEL, ylabel=y_label)
    for ax in axes:
        log_ticks(ax)
    legend_outside(fig, axes)
    suptitle(fig, title, labels)


@styled
def opt_error_vs_depth(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""Optimisation error ‖φ_n(y) − x̂‖/‖x‖ against depth, with its rate fit and floor.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``opt_error`` (cells, trial, depth), x̂ the minimiser of the
        network's own problem; optional ``recovery_error`` = ‖x̂ − x‖/‖x‖.
    fits : xarray.Dataset, optional
        With ``opt_model``, ``opt_C`` (fit_model), ``opt_gamma``, ``opt_c`` and
        ``opt_fit_flag``: the selected C n^{−γ} or C e^{−cn} (no floor) drawn like its
        data, or "fit flagged: <reason>" in the legend; ``recovery_floor`` and
        ``eps_theory_rel`` as horizontal lines.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``opt_error_vs_depth__<cell>`` → log–log and semi-log panels. The recovery
        floor (mean ‖x̂ − x‖/‖x‖, from the fits or the store) is a dashed line in the
        network's colour; the theory's ε a grey dotted line. Empty without ``opt_error``.
    """
    return _depth_figures(ds, fits, "opt_error", "opt_error_vs_depth", table=_OPT_VARIABLE,
                          selected="opt_model", eps=False, flag_name="opt_fit_flag",
                          y_label=OPT_LABEL, title="Distance to the minimiser against depth",
                          extra=_recovery_floors)


def _recovery_floors(axes, ds: xr.Dataset, fits, cell: xr.DataArray, labels: dict,
                     styles) -> None:
    """Dashed recovery-floor lines, one per distinct floor (networks sharing a minimiser
    share a line), in the network's colour (black when shared)."""
    floors: list[tuple[float, list]] = []
    for net in _networks(cell):
        pick = {**labels, NETWORK: net} if net is not None else labels
        floor = None
        if fits is not None and "recovery_floor" in fits:
            floor = _mean_value(select(fits["recovery_floor"], pick))
        if floor is None and "recovery_error" in ds:
            floor = _mean_value(select(valid(ds, "recovery_error"), pick))
        if floor is None:
            continue
        same = [f for f in floors if abs(f[0] - floor) <= 0.01 * abs(floor)]
        if same:
            same[0][1].append(net)
        else:
            floors.append((floor, [net]))
    for floor, nets in floors:
        color = network_style(styles, nets[0])["color"] if len(nets) == 1 else "k"
        every = len(floors) == 1 and len(nets) == len(_networks(cell))
        who = "" if every else ", ".join(str(n) for n in nets if n is not None)
        for ax in axes:
            ax.axhline(floor, color=color, linestyle=(0, (6, 3)), linewidth=0.9,
                       label=rf"recovery floor $\|\hat x - x\|/\|x\|$ = {floor:.3g}"
                             + (f" ({who})" if who else ""))
