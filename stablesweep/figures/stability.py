"""Stability figures: amplification curves and the perturbation/reconstruction panel."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.data import (
    ATTACK_DEPTH,
    ATTACK_RECORD,
    ATTACK_STEP,
    EXAMPLE,
    IMAGE_DIMS,
    NETWORK,
    scalar,
)
from ..analysis.stability import stability_summary
from .common import (
    cell_groups,
    network_colors,
    new_figure,
    select,
    stem,
    styled,
    suptitle,
)

__all__ = ["amplification_curves", "stability_panel"]

_LINESTYLES = ("-", "--", ":", "-.")


def _summary(ds: xr.Dataset, fits: xr.Dataset | None) -> xr.Dataset | None:
    """Stored stability summary (in `fits`) or one aggregated from the attack records."""
    if fits is not None and "curve_amplification" in fits and "max_amplification" in fits:
        return fits
    if "amplification" in ds or ("output_change" in ds and "meas_pert_norm" in ds):
        return stability_summary(ds)
    return None


@styled
def amplification_curves(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    """Amplification against ‖Ar‖ along the attack, and the worst one against depth.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with attack records (``amplification`` or ``output_change``, and
        ``meas_pert_norm``, along ``attack_step``).
    fits : xarray.Dataset, optional
        Stored `stablesweep.analysis.stability_summary` (``curve_*``,
        ``max_amplification``); aggregated from `ds` when absent.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``amplification__<cell>`` → left: ‖φ(y+Ar) − φ(y)‖/‖Ar‖ against ‖Ar‖ (mean over
        trials), colour per network, line style per attack depth; right: the largest
        amplification found against attack depth.
    """
    summary = _summary(ds, fits)
    if summary is None or "curve_meas_pert_norm" not in summary:
        return {}
    curve = summary["curve_amplification"]
    colors = network_colors(curve[NETWORK].values if NETWORK in curve.dims else [])
    exclude = (NETWORK, ATTACK_DEPTH, ATTACK_STEP)
    figures = {}
    for labels, cell in cell_groups(curve, exclude=exclude):
        size = select(summary["curve_meas_pert_norm"], labels)
        worst = select(summary["max_amplification"], labels)
        fig, axes = new_figure(1, 2, width=4.6, height=3.6)
        left, right = axes[0]
        networks = cell[NETWORK].values if NETWORK in cell.dims else [None]
        depths = cell[ATTACK_DEPTH].values if ATTACK_DEPTH in cell.dims else [None]
        for net in networks:
            color = colors.get(net, "k")
            for k, depth in enumerate(depths):
                pick = {d: v for d, v in ((NETWORK, net), (ATTACK_DEPTH, depth)) if v is not None}
                amp, norm = cell.sel(pick).values, size.sel(pick).values
                shown = np.isfinite(amp) & np.isfinite(norm) & (norm > 0) & (amp > 0)
                if shown.any():
                    label = f"{net}" + (f", depth {depth}" if depth is not None else "")
                    left.plot(norm[shown], amp[shown], _LINESTYLES[k % len(_LINESTYLES)],
                              color=color, marker="o", label=label)
            if depths[0] is not None:
                w = worst.sel({NETWORK: net}) if net is not None else worst
                right.plot(depths, w.values, "o-", color=color, label=str(net))
        left.set(xscale="log", yscale="log", xlabel=r"perturbation size $\|Ar\|$",
                 ylabel=r"amplification $\|\varphi(y+Ar)-\varphi(y)\|\,/\,\|Ar\|$",
                 title="along the attack")
        right.set(yscale="log", xlabel="attack depth (operator applications)",
                  ylabel="largest amplification found", title="worst case")
        if len(depths) > 1 and depths[0] is not None and max(depths) >= 10 * min(depths) > 0:
            right.set_xscale("log")
        for ax in (left, right):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(framealpha=0.85)
        suptitle(fig, "Amplification under attack", labels)
        figures[stem("amplification", labels)] = fig
    return figures


def _example_labels(ds: xr.Dataset, labels: dict) -> dict:
    """Labels of an example: its index plus coordinates stored along ``example``."""
    if EXAMPLE not in labels:
        return {}
    extra = {}
    for name, coord in ds.coords.items():
        if coord.dims == (EXAMPLE,) and name != EXAMPLE:
            extra[str(name)] = scalar(coord.sel({EXAMPLE: labels[EXAMPLE]}).values[()])
    return extra


def _show(ax, image: np.ndarray, vmax: float) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_axis_off()
    else:
        ax.plot(image, color="k", linewidth=1.0)
        ax.set_ylim(0.0, 1.05 * vmax)
        ax.tick_params(labelleft=False)


@styled
def stability_panel(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    """The stability test figure: x + r_j above φ(y + A r_j), for growing r_j.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``example_perturbation`` (x + r_j) and
        ``example_reconstruction`` (φ(y + A r_j)) over (``network``, ``example``,
        ``attack_record``, ``row``, ``col``) — any extra dims give more figures;
        optional ``example_pert_norm`` (‖r_j‖) for the titles.
    fits : xarray.Dataset, optional
        Unused; accepted so that every figure function has the same signature.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``stability_panel__<network, example, …>`` → top row x + r_j, bottom row the
        network's reconstructions, magnitudes on a grey scale shared along each row.
    """
    names = ("example_perturbation", "example_reconstruction")
    if not all(n in ds for n in names) or ATTACK_RECORD not in ds[names[0]].dims:
        return {}
    pert, recon = (ds[n] for n in names)
    norms = ds["example_pert_norm"] if "example_pert_norm" in ds else None
    image_dims = [d for d in IMAGE_DIMS if d in pert.dims]
    if not image_dims:
        return {}
    figures = {}
    for labels, cell in cell_groups(pert, exclude=(ATTACK_RECORD, *image_dims)):
        top = np.abs(cell.transpose(ATTACK_RECORD, *image_dims).values)
        bottom = np.abs(select(recon, labels).transpose(ATTACK_RECORD, *image_dims).values)
        norm = select(norms, labels).values if norms is not None else None
        count = top.shape[0]
        fig, axes = new_figure(2, count, width=2.5, height=2.7 if len(image_dims) == 2 else 2.0)
        top_max, bottom_max = np.nanmax(top) or 1.0, np.nanmax(bottom) or 1.0
        j = 0  # perturbations are numbered r_1, r_2, … skipping an unperturbed record
        for k in range(count):
            _show(axes[0, k], top[k], top_max)
            _show(axes[1, k], bottom[k], bottom_max)
            if norm is not None and norm[k] == 0:
                axes[0, k].set_title("$x$ (unperturbed)")
                axes[1, k].set_title(r"$\varphi(y)$")
                continue
            j += 1
            size = f"\n$\\|r_{{{j}}}\\|$ = {norm[k]:.3g}" if norm is not None else ""
            axes[0, k].set_title(f"$x + r_{{{j}}}${size}")
            axes[1, k].set_title(f"$\\varphi(y + A r_{{{j}}})$")
        net = labels.get(NETWORK)
        title = {**labels, **_example_labels(ds, labels)}
        title.pop(NETWORK, None)
        suptitle(fig, "Stability test" + (f" — {net}" if net is not None else ""), title)
        figures[stem("stability_panel", labels)] = fig
    return figures
