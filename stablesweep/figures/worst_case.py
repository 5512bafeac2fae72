"""Worst-case bounded-noise attack figures: error and amplification against the budget ε
(equal budgets for every network), and the convergence of the attacks."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from stablesweep.sweep.store.variables import ATTACK_ITER, NOISE_LEVEL

from ..analysis.data import ATTACK_DEPTH, ATTACK_STEP, NETWORK, TRIAL, valid
from .common import (
    cell_labels,
    legend_outside,
    log_ticks,
    network_style,
    network_styles,
    new_figure,
    scale_for,
    select,
    stem,
    styled,
    suptitle,
)
from .stability import depth_text

__all__ = [
    "attack_convergence",
    "names",
    "worst_case",
    "worst_case_amplification",
]

LEVEL = NOISE_LEVEL  # the budget ε (attack.budget)
ITER = ATTACK_ITER
BUDGET = r"budget $\varepsilon = \|e\|\,/\,\|y\|$"
_FILL = ("full", "left", "bottom", "right")
#: The worst-case attack's objective (``attack.params.objective``) in formula form.
_OBJECTIVES = {"error": r"$\|\varphi(y+e) - x\|$", "change": r"$\|\varphi(y+e) - \varphi(y)\|$"}


def _objective(ds: xr.Dataset) -> str:
    """The maximised quantity of the sweep's worst-case attack, from its stored config."""
    try:
        import yaml

        params = yaml.safe_load(ds.attrs.get("config", "")).get("attack", {}).get("params", {})
        return _OBJECTIVES[params.get("objective", "error")]
    except Exception:  # no or unreadable config: say both
        return " or ".join(_OBJECTIVES.values())


def _mean_trials(da: xr.DataArray) -> xr.DataArray:
    return da.mean(TRIAL, skipna=True) if TRIAL in da.dims else da


def _max_trials(da: xr.DataArray) -> xr.DataArray:
    return da.max(TRIAL, skipna=True) if TRIAL in da.dims else da


def _relative(ds: xr.Dataset, name: str) -> xr.DataArray | None:
    """Mean over trials of ``name / signal_norm``; None without both."""
    if name not in ds or "signal_norm" not in ds:
        return None
    norm = ds["signal_norm"]
    return _mean_trials(valid(ds, name) / norm.where(norm > 0))


def _errors(ds: xr.Dataset, fits: xr.Dataset | None):
    """(worst, random) relative errors over (cells, network, attack_depth, noise_level)."""
    if fits is not None and "wc_rel_error" in fits and "wc_random_rel_error" in fits:
        return fits["wc_rel_error"], fits["wc_random_rel_error"]
    worst, rand = _relative(ds, "worst_case_error"), _relative(ds, "random_noise_error")
    if worst is None or rand is None:
        return None, None
    return worst, rand


def _amplification(ds: xr.Dataset, fits: xr.Dataset | None) -> xr.DataArray | None:
    """Largest amplification over trials, over (cells, network, attack_depth, noise_level)."""
    if fits is not None and "wc_amplification" in fits:
        return fits["wc_amplification"]
    if "worst_case_amplification" in ds:
        return _max_trials(valid(ds, "worst_case_amplification"))
    if "worst_case_change" in ds and "worst_case_pert_norm" in ds:
        pert = ds["worst_case_pert_norm"]
        return _max_trials(valid(ds, "worst_case_change") / pert.where(pert > 0))
    return None


def _sigma(ds: xr.Dataset, fits: xr.Dataset | None) -> xr.DataArray | None:
    """σ_max of the Jacobian, largest over trials — the ε → 0 limit of the largest
    amplification over trials drawn next to it (each trial's amplification tends to its
    own σ_max); the fits' trial mean only for a store without it."""
    if "jacobian_sigma_max" in ds:
        return _max_trials(valid(ds, "jacobian_sigma_max"))
    if fits is not None and "wc_jacobian_sigma_max" in fits:
        return fits["wc_jacobian_sigma_max"]
    return None


def _trace(ds: xr.Dataset):
    """(objective over step, step dim, y label, kind) of the attacks, or None."""
    if "worst_case_trace" in ds and ITER in ds["worst_case_trace"].dims:
        trace = valid(ds, "worst_case_trace")
        if "signal_norm" in ds:
            norm = ds["signal_norm"]
            trace = trace / norm.where(norm > 0)
            label = f"best {_objective(ds)} so far / " r"$\|x\|$"
        else:
            label = f"best {_objective(ds)} so far"
        return _mean_trials(trace), ITER, label, "worst-case ascent"
    if "attack_objective" in ds and ATTACK_STEP in ds["attack_objective"].dims:
        return (_mean_trials(valid(ds, "attack_objective")), ATTACK_STEP,
                "objective\n" r"$Q(r) = \frac{1}{2}\|\varphi(y+Ar) - x\|^2 - "
                r"\frac{\lambda}{2}\|r\|^2$", "momentum attack")
    return None


def _cells(da: xr.DataArray, *extra: str) -> list[dict]:
    return cell_labels(da, exclude=(NETWORK, ATTACK_DEPTH, LEVEL, TRIAL, *extra))


def _exists(da: xr.DataArray | None) -> bool:
    return da is not None and LEVEL in da.dims


def names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the worst-case figures `ds`/`fits` support, without drawing."""
    out = []
    for kind, da in (
        ("worst_case", _names_source(ds, fits, "wc_rel_error", "worst_case_error")),
        ("worst_case_amplification", _names_source(ds, fits, "wc_amplification",
                                                   "worst_case_amplification",
                                                   "worst_case_change")),
    ):
        if _exists(da):
            out += [stem(kind, labels) for labels in _cells(da)]
    for name, step in (("worst_case_trace", ITER), ("attack_objective", ATTACK_STEP)):
        if name in ds and step in ds[name].dims:
            out += [stem("attack_convergence", labels)
                    for labels in _cells(ds[name], step)]
            break
    return out


def _names_source(ds, fits, fit_name, *store_names):
    if fits is not None and fit_name in fits:
        return fits[fit_name]
    if fit_name == "wc_rel_error" and not ("random_noise_error" in ds and "signal_norm" in ds):
        return None
    return next((ds[n] for n in store_names if n in ds), None)


def _series(cell: xr.DataArray) -> list[tuple[str | None, object]]:
    nets = [str(v) for v in cell[NETWORK].values] if NETWORK in cell.dims else [None]
    depths = list(cell[ATTACK_DEPTH].values) if ATTACK_DEPTH in cell.dims else [None]
    return [(n, d) for n in nets for d in depths]


def _stop(ds: xr.Dataset, pick: dict, level) -> tuple[int | None, bool]:
    """(last step run, whether any start hit the cap) of a worst-case series: the most
    ``worst_case_steps`` over trials and ``worst_case_hit_cap``; (None, False) when not
    stored."""
    if "worst_case_steps" not in ds or level is None:
        return None, False
    where = {**pick, LEVEL: level}
    steps = select(ds["worst_case_steps"], where)
    if steps is None or not bool(steps.notnull().any()):
        return None, False
    capped = select(ds["worst_case_hit_cap"], where) if "worst_case_hit_cap" in ds else None
    hit = capped is not None and bool((capped.fillna(0) > 0).any())
    return int(np.nanmax(steps.values)), hit


def _pick(net, depth) -> dict:
    return {k: v for k, v in ((NETWORK, net), (ATTACK_DEPTH, depth)) if v is not None}


def _label(ds, net, depth, multi_depth: bool) -> str:
    text = str(net or "network")
    return text + (f", {depth_text(ds, net, depth)}" if multi_depth and depth is not None else "")


@styled
def worst_case(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""Worst-case against random-noise relative error per network, against the budget ε.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``worst_case_error`` = ‖φ(y + e*) − x‖ and
        ``random_noise_error`` = ‖φ(y + e) − x‖ (random e of the same norm) over
        ``noise_level`` = ε = ‖e‖/‖y‖, and ``signal_norm`` ‖x‖.
    fits : xarray.Dataset, optional
        With ``wc_rel_error`` and ``wc_random_rel_error`` (mean over trials of the
        errors / ‖x‖), used instead of `ds`.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``worst_case__<cell>`` → one log–log panel per network: worst-case relative error
        (filled markers, the network's line) and random noise of the same norm (open
        markers, thin dotted), mean over trials. Empty without the variables.
    """
    worst_all, rand_all = _errors(ds, fits)
    if not _exists(worst_all):
        return {}
    styles = network_styles(worst_all[NETWORK].values if NETWORK in worst_all.dims else [])
    figures = {}
    for labels in _cells(worst_all):
        worst, rand = select(worst_all, labels), select(rand_all, labels)
        nets = [str(v) for v in worst[NETWORK].values] if NETWORK in worst.dims else [None]
        multi = ATTACK_DEPTH in worst.dims and worst.sizes[ATTACK_DEPTH] > 1
        ncols = min(3, len(nets))
        nrows = -(-len(nets) // ncols)
        fig, axes = new_figure(nrows, ncols, width=3.6, height=3.2)
        eps = worst[LEVEL].values.astype(float)
        for ax, net in zip(axes.ravel(), nets, strict=False):
            style = network_style(styles, net)
            depths = list(worst[ATTACK_DEPTH].values) if ATTACK_DEPTH in worst.dims else [None]
            for k, depth in enumerate(depths):
                pick = _pick(net, depth)
                w = worst.sel(pick).transpose(LEVEL).values
                r = rand.sel(pick).transpose(LEVEL).values
                where = f", {depth_text(ds, net, depth)}" if multi else ""
                ax.plot(eps, w, fillstyle=_FILL[k % len(_FILL)],
                        label=f"worst case{where}", **style)
                ax.plot(eps, r, color=style["color"], marker=style["marker"], fillstyle="none",
                        linestyle=":", linewidth=0.9, label=f"random noise, same norm{where}")
            ax.set(xscale="log", yscale=scale_for(np.r_[worst.values.ravel(),
                                                         rand.values.ravel()]),
                   title=str(net or ""), xlabel=BUDGET,
                   ylabel=r"relative error $\|\varphi(y+e) - x\|\,/\,\|x\|$")
            log_ticks(ax)
            ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.28), frameon=False)
        for ax in axes.ravel()[len(nets):]:
            ax.set_axis_off()
        suptitle(fig, "Worst-case against random noise at equal budgets", labels)
        figures[stem("worst_case", labels)] = fig
    return figures


@styled
def worst_case_amplification(ds: xr.Dataset, fits: xr.Dataset | None = None
                             ) -> dict[str, Figure]:
    r"""Amplification ‖φ(y+e*) − φ(y)‖/‖e*‖ of every network against the budget ε, one axis.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``worst_case_amplification`` (or ``worst_case_change`` and
        ``worst_case_pert_norm``) over ``noise_level``; optional ``jacobian_sigma_max``.
    fits : xarray.Dataset, optional
        With ``wc_amplification`` (largest over trials) and ``wc_jacobian_sigma_max``.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``worst_case_amplification__<cell>`` → all networks on one log–log axis, largest
        amplification over trials at each ε (equal budgets: comparable point by point);
        the Jacobian's σ_max (largest over trials: the ε → 0 limit of the curve) as a
        star left of the smallest ε.
    """
    amp_all = _amplification(ds, fits)
    if not _exists(amp_all):
        return {}
    sigma_all = _sigma(ds, fits)
    styles = network_styles(amp_all[NETWORK].values if NETWORK in amp_all.dims else [])
    figures = {}
    for labels in _cells(amp_all):
        amp = select(amp_all, labels)
        sigma = select(sigma_all, labels) if sigma_all is not None else None
        fig, axes = new_figure(1, 1, width=5.6, height=4.4)
        ax = axes[0, 0]
        eps = amp[LEVEL].values.astype(float)
        left = float(np.nanmin(eps[eps > 0])) / 3 if (eps > 0).any() else 1e-4
        multi = ATTACK_DEPTH in amp.dims and amp.sizes[ATTACK_DEPTH] > 1
        marked = False
        for k, (net, depth) in enumerate(_series(amp)):
            style = network_style(styles, net)
            values = amp.sel(_pick(net, depth)).transpose(LEVEL).values
            ax.plot(eps, values, fillstyle=_FILL[k % len(_FILL)] if multi else "full",
                    label=_label(ds, net, depth, multi), **style)
            if sigma is not None:
                s = sigma.sel({d: v for d, v in _pick(net, depth).items() if d in sigma.dims})
                s = float(np.nanmean(s.values)) if bool(s.notnull().any()) else np.nan
                if np.isfinite(s) and s > 0:
                    ax.plot([left], [s], marker="*", markersize=11, color=style["color"],
                            linestyle="None", markeredgecolor="k", markeredgewidth=0.5)
                    marked = True
        if marked:
            ax.plot([], [], marker="*", markersize=11, color="w", markeredgecolor="k",
                    linestyle="None",
                    label=r"Jacobian $\sigma_{\max}$ at $y$ ($\varepsilon \to 0$), max over "
                          "trials")
        ax.set(xscale="log", yscale=scale_for(amp.values), xlabel=BUDGET,
               ylabel=r"amplification $\|\varphi(y+e^*) - \varphi(y)\|\,/\,\|e^*\|$"
               "\n(max over trials)")
        log_ticks(ax)
        legend_outside(fig, [ax])
        suptitle(fig, "Worst-case amplification at equal budgets", labels)
        figures[stem("worst_case_amplification", labels)] = fig
    return figures


@styled
def attack_convergence(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""The attacks' objective against the ascent step, so a reader sees they converged.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``worst_case_trace`` (cells, network, attack_depth, trial,
        noise_level, attack_iter): best objective found up to each step (divided by ‖x‖
        when ``signal_norm`` is stored); else the momentum attack's ``attack_objective``
        over ``attack_step``.
    fits : xarray.Dataset, optional
        Unused; accepted so that every figure function has the same signature.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``attack_convergence__<cell>`` → one panel per budget ε (worst-case) or one panel
        (momentum), a line per network: mean over trials against the step. With
        ``worst_case_steps`` each line ends at the last step its attack ran (the most over
        trials), marked | where the stopping rule ended it and X where a start hit the
        step cap (not converged).
    """
    found = _trace(ds)
    if found is None:
        return {}
    trace_all, step, y_label, kind = found
    styles = network_styles(trace_all[NETWORK].values if NETWORK in trace_all.dims else [])
    figures = {}
    for labels in _cells(trace_all, step):
        trace = select(trace_all, labels)
        levels = list(trace[LEVEL].values) if LEVEL in trace.dims else [None]
        ncols = min(3, len(levels))
        nrows = -(-len(levels) // ncols)
        single = ncols == 1
        fig, axes = new_figure(nrows, ncols, width=5.8 if single else 3.8,
                               height=4.2 if single else 3.2)
        multi = ATTACK_DEPTH in trace.dims and trace.sizes[ATTACK_DEPTH] > 1
        steps = trace[step].values.astype(float)
        for ax, level in zip(axes.ravel(), levels, strict=False):
            sub = trace.sel({LEVEL: level}) if level is not None else trace
            for k, (net, depth) in enumerate(_series(sub)):
                style = network_style(styles, net)
                values = sub.sel(_pick(net, depth)).transpose(step).values
                stop, capped = _stop(ds, {**labels, **_pick(net, depth)}, level)
                if stop is not None:  # the flat padding after the stop is not drawn
                    values = np.where(steps <= stop, values, np.nan)
                ax.plot(steps, values, markevery=max(1, len(steps) // 10),
                        fillstyle=_FILL[k % len(_FILL)] if multi else "full",
                        label=_label(ds, net, depth, multi), **style)
                if stop is not None and 0 <= stop < len(values):
                    ax.plot([steps[stop]], [values[stop]], linestyle="none",
                            marker="X" if capped else "|", markersize=11 if capped else 14,
                            color=style["color"], markeredgewidth=2,
                            label="step cap hit (not converged)" if capped
                            else "stopped by the rule")
            positive = sub.values[np.isfinite(sub.values)]
            ax.set(yscale="log" if positive.size and positive.min() > 0
                   and scale_for(positive) == "log" else "linear",
                   xlabel="attack step", title=rf"$\varepsilon$ = {level:g}" if level is not None
                   else "")
        for ax in axes[:, 0]:  # one y label per row: long labels would run into the panels
            ax.set_ylabel(y_label)
            log_ticks(ax)
        for ax in axes.ravel()[len(levels):]:
            ax.set_axis_off()
        legend_outside(fig, list(axes.ravel()[:len(levels)]))
        suptitle(fig, f"Convergence of the {kind} (mean over trials)", labels)
        figures[stem("attack_convergence", labels)] = fig
    return figures
