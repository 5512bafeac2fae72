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
    scale_for,
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
        left.set(xscale=scale_for(size.values), yscale=scale_for(cell.values),
                 xlabel=r"perturbation size $\|Ar\|$",
                 ylabel=r"amplification $\|\varphi(y+Ar)-\varphi(y)\|\,/\,\|Ar\|$",
                 title="along the attack")
        right.set(xscale=scale_for(np.asarray(depths, dtype=float)),
                  yscale=scale_for(worst.values), xlabel="attack depth (operator applications)",
                  ylabel="largest amplification found", title="worst case")
        for ax in (left, right):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(framealpha=0.85)
        suptitle(fig, "Amplification under attack", labels)
        figures[stem("amplification", labels)] = fig
    return figures


#: Example images: the store's names first, then the names of the original issue.
_EXAMPLES = {
    "perturbed": ("example_perturbed", "example_perturbation"),
    "attacked": ("example_attacked", "example_reconstruction"),
}


def _first(ds: xr.Dataset, names: tuple[str, ...]) -> xr.DataArray | None:
    return next((ds[n] for n in names if n in ds), None)


def _example_labels(ds: xr.Dataset, labels: dict) -> dict:
    """This example's coordinates stored along ``example``: ``example_<name>`` → name."""
    if EXAMPLE not in labels:
        return {}
    out = {}
    for name, coord in ds.coords.items():
        if coord.dims == (EXAMPLE,) and name != EXAMPLE:
            value = scalar(coord.sel({EXAMPLE: labels[EXAMPLE]}).values[()])
            out[str(name).removeprefix("example_")] = value
    return out


def _record_norms(ds: xr.Dataset, labels: dict) -> np.ndarray | None:
    """‖r_j‖ of an example's kept records: ``example_pert_norm``, else looked up in
    ``pert_norm`` at the example's cell (``example_<dim>`` coordinates) and at the kept
    steps (the ``attack_record`` coordinate); None when neither is possible."""
    if "example_pert_norm" in ds:
        return select(ds["example_pert_norm"], labels).values
    if "pert_norm" not in ds or ATTACK_RECORD not in ds.coords:
        return None
    cell = {**labels, **_example_labels(ds, labels)}
    dims = [d for d in ds["pert_norm"].dims if d != ATTACK_STEP]
    if not all(d in cell for d in dims):
        return None
    try:
        norms = ds["pert_norm"].sel({d: cell[d] for d in dims})
        return norms.sel({ATTACK_STEP: ds[ATTACK_RECORD].values}).values
    except (KeyError, IndexError, ValueError):
        return None


def _magnitude(image: xr.DataArray, image_dims: list[str]) -> np.ndarray:
    """|image| with the image dims in order; a one-row image (1-D signal) as a vector."""
    values = np.abs(image.transpose(*image_dims).values)
    return values[0] if values.ndim == 2 and values.shape[0] == 1 else values


def _show(ax, image: np.ndarray, vmax: float) -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_axis_off()
    else:
        ax.plot(image, color="k", linewidth=1.0)
        ax.set_ylim(0.0, 1.05 * vmax)
        ax.tick_params(labelleft=False)


def _columns(pert, attacked, truth, output, norms):
    """(top image, bottom image, top title, bottom title) of each column of the panel."""
    columns = []
    if truth is not None and output is not None:
        columns.append((truth, output, "$x$", r"$\varphi(y)$"))
    for k in range(len(pert)):
        j = k + 1
        size = f"\n$\\|r_{{{j}}}\\|$ = {norms[k]:.3g}" if norms is not None else ""
        columns.append(
            (pert[k], attacked[k], f"$x + r_{{{j}}}${size}", f"$\\varphi(y + A r_{{{j}}})$")
        )
    return columns


@styled
def stability_panel(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    """The stability test figure: x + r_j above φ(y + A r_j), for growing r_j.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with the kept images over (``example``, ``attack_record``,
        ``row``, ``col``): ``example_perturbed`` (x + r_j) and ``example_attacked``
        (φ(y + A r_j)) — or ``example_perturbation`` / ``example_reconstruction`` —
        optionally ``example_truth`` (x) and ``example_output`` (φ(y)), drawn as a first
        column. Extra dims (e.g. ``network``) give more figures; the network of an
        example is its ``example_network`` coordinate otherwise. ‖r_j‖ in the titles
        comes from ``example_pert_norm`` or from ``pert_norm`` at the example's cell
        and the kept steps (``attack_record`` holds the attack steps).
    fits : xarray.Dataset, optional
        Unused; accepted so that every figure function has the same signature.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``stability_panel__example-<i>`` (plus any extra dims) → top row x + r_j, bottom
        row the network's reconstructions; magnitudes on a grey scale shared by each row.
    """
    pert, attacked = (_first(ds, names) for names in _EXAMPLES.values())
    if pert is None or attacked is None or ATTACK_RECORD not in pert.dims:
        return {}
    image_dims = [d for d in IMAGE_DIMS if d in pert.dims]
    if not image_dims:
        return {}
    figures = {}
    for labels, cell in cell_groups(pert, exclude=(ATTACK_RECORD, *image_dims)):
        records = range(cell.sizes[ATTACK_RECORD])
        top = [_magnitude(cell.isel({ATTACK_RECORD: k}), image_dims) for k in records]
        bottom_cell = select(attacked, labels)
        bottom = [_magnitude(bottom_cell.isel({ATTACK_RECORD: k}), image_dims) for k in records]
        truth, output = (
            _magnitude(select(ds[n], labels), image_dims) if n in ds else None
            for n in ("example_truth", "example_output")
        )
        columns = _columns(top, bottom, truth, output, _record_norms(ds, labels))
        one_d = columns[0][0].ndim == 1
        fig, axes = new_figure(2, len(columns), width=2.5, height=2.0 if one_d else 2.7)
        top_max = max(np.nanmax(c[0]) for c in columns) or 1.0
        bottom_max = max(np.nanmax(c[1]) for c in columns) or 1.0
        for k, (upper, lower, upper_title, lower_title) in enumerate(columns):
            _show(axes[0, k], upper, top_max)
            _show(axes[1, k], lower, bottom_max)
            axes[0, k].set_title(upper_title)
            axes[1, k].set_title(lower_title)
        about = _example_labels(ds, labels)
        net = labels.get(NETWORK, about.pop("network", None))
        title = {k: v for k, v in {**labels, **about}.items() if k != NETWORK}
        suptitle(fig, "Stability test" + (f" — {net}" if net is not None else ""), title)
        figures[stem("stability_panel", labels)] = fig
    return figures
