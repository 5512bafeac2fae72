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

__all__ = [
    "amplification_curves",
    "depth_text",
    "names_amplification",
    "names_panel",
    "own_depth",
    "stability_panel",
]

_FILL = ("full", "none", "left", "bottom")


def _summary(ds: xr.Dataset, fits: xr.Dataset | None) -> xr.Dataset | None:
    """Stored stability summary (in `fits`) or one aggregated from the attack records.

    An older `fits` without the relative curve ``curve_rel_meas_pert_norm`` is replaced by
    the summary of `ds` when `ds` can give it (``signal_norm`` or ``y_norm`` stored).
    """
    if fits is not None and "curve_amplification" in fits and "max_amplification" in fits:
        if "curve_rel_meas_pert_norm" in fits or not (
            "meas_pert_norm" in ds and ("signal_norm" in ds or "y_norm" in ds)
        ):
            return fits
    if "amplification" in ds or ("output_change" in ds and "meas_pert_norm" in ds):
        return stability_summary(ds)
    return None


def own_depth(ds: xr.Dataset | None, net: object, depth: object) -> int | None:
    """The real depth of the sentinel attack depth −1 ("own depth") of `net`, or None."""
    if ds is None or "attacked_depth" not in ds.coords:
        return None
    coord = ds.coords["attacked_depth"]
    try:
        pick = {d: v for d, v in ((NETWORK, net), (ATTACK_DEPTH, depth)) if d in coord.dims}
        value = coord.sel(pick).values
    except (KeyError, IndexError, ValueError):
        return None
    value = np.asarray(value, dtype=float).ravel()
    value = value[np.isfinite(value)]
    return int(value[0]) if value.size else None


def depth_text(ds: xr.Dataset | None, net: object, depth: object) -> str:
    """Reader's text of an attack depth: "depth 40", or "own depth (n = 200)" for −1."""
    if depth is None:
        return ""
    if int(depth) < 0:
        real = own_depth(ds, net, depth)
        return "own depth" + (f" (n = {real})" if real is not None else "")
    return f"depth {int(depth)}"


def _amplification_labels(curve: xr.DataArray) -> list[dict]:
    return cell_labels(curve, exclude=(NETWORK, ATTACK_DEPTH, ATTACK_STEP))


def names_amplification(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the amplification figures, without drawing."""
    if fits is not None and "curve_amplification" in fits and "curve_meas_pert_norm" in fits:
        curve = fits["curve_amplification"]
    elif "meas_pert_norm" in ds and ("amplification" in ds or "output_change" in ds):
        curve = ds["meas_pert_norm"].isel({d: 0 for d in ds["meas_pert_norm"].dims
                                           if d == "trial"}, drop=True)
    else:
        return []
    return [stem("amplification", labels) for labels in _amplification_labels(curve)]


@styled
def amplification_curves(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""Amplification against the relative ‖Ar‖ along the attack, and the worst one per depth.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with momentum-attack records (``amplification`` or
        ``output_change``, and ``meas_pert_norm``, along ``attack_step``); the
        ``attacked_depth`` coordinate names the real depth of attack depth −1.
    fits : xarray.Dataset, optional
        Stored `stablesweep.analysis.stability_summary` (``curve_*``,
        ``max_amplification``); aggregated from `ds` when absent.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``amplification__<cell>`` → left: ‖φ(y+Ar) − φ(y)‖/‖Ar‖ against ‖Ar‖/‖y‖ (or
        ‖Ar‖/‖x‖ when ‖y‖ is not stored; absolute ‖Ar‖ only for stores with neither,
        labelled so), mean over trials, one style per network, marker fill per attack
        depth; right: the largest amplification found against the attacked depth. Each
        network follows its own attack path: points of different networks are at
        different perturbation sizes (use ``worst_case_amplification`` for equal budgets).
    """
    summary = _summary(ds, fits)
    if summary is None or "curve_meas_pert_norm" not in summary:
        return {}
    curve = summary["curve_amplification"]
    styles = network_styles(curve[NETWORK].values if NETWORK in curve.dims else [])
    relative = "curve_rel_meas_pert_norm" in summary
    size_all = summary["curve_rel_meas_pert_norm" if relative else "curve_meas_pert_norm"]
    if relative:
        ref = summary["curve_rel_meas_pert_norm"].attrs.get("reference", "y_norm")
        sym = r"\|y\|" if ref == "y_norm" else r"\|x\|"
        x_label = rf"relative perturbation $\|Ar\|\,/\,{sym}$"
    else:
        x_label = r"perturbation size $\|Ar\|$ (absolute)"
    figures = {}
    for labels in _amplification_labels(curve):
        cell = select(curve, labels)
        size = select(size_all, labels)
        worst = select(summary["max_amplification"], labels)
        fig, axes = new_figure(1, 2, width=4.8, height=3.8)
        left, right = axes[0]
        networks = [str(v) for v in cell[NETWORK].values] if NETWORK in cell.dims else [None]
        depths = list(cell[ATTACK_DEPTH].values) if ATTACK_DEPTH in cell.dims else [None]
        for net in networks:
            style = network_style(styles, net)
            for k, depth in enumerate(depths):
                pick = {d: v for d, v in ((NETWORK, net), (ATTACK_DEPTH, depth)) if v is not None}
                amp, norm = cell.sel(pick).values, size.sel(pick).values
                shown = np.isfinite(amp) & np.isfinite(norm) & (norm > 0) & (amp > 0)
                if shown.any():
                    where = depth_text(ds, net, depth)
                    label = f"{net}" + (f", {where}" if where else "")
                    left.plot(norm[shown], amp[shown], fillstyle=_FILL[k % len(_FILL)],
                              markevery=max(1, int(shown.sum()) // 12), label=label, **style)
            if depths[0] is not None:
                w = worst.sel({NETWORK: net}) if net is not None else worst
                xs = [own_depth(ds, net, d) if int(d) < 0 else int(d) for d in depths]
                xs = np.array([np.nan if v is None else v for v in xs], dtype=float)
                order = np.argsort(xs)
                right.plot(xs[order], np.asarray(w.values, dtype=float)[order],
                           label=f"_{net}", **style)  # same style: one legend entry
        left.set(xscale=scale_for(size.values), yscale=scale_for(cell.values), xlabel=x_label,
                 ylabel=r"amplification $\|\varphi(y+Ar)-\varphi(y)\|\,/\,\|Ar\|$",
                 title="along each network's own attack path")
        right.set(xscale=scale_for(right.get_lines()[0].get_xdata() if right.get_lines()
                                   else np.array([1.0])),
                  yscale=scale_for(worst.values), xlabel="attacked depth n (iterations)",
                  ylabel="largest amplification found", title="worst along the path")
        for ax in (left, right):
            log_ticks(ax)
        legend_outside(fig, [left, right])
        suptitle(fig, "Amplification under the momentum attack (own paths, not equal "
                 "budgets)", labels)
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


def _show(ax, image: np.ndarray | None, vmin: float, vmax: float, cmap: str = "gray"):
    """Draw one image (clipped to [vmin, vmax]) or a 1-D signal; returns the mappable."""
    if image is None:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "not stored", ha="center", va="center", transform=ax.transAxes)
        return None
    if image.ndim == 2:
        mappable = ax.imshow(np.clip(image, vmin, vmax), cmap=cmap, vmin=vmin, vmax=vmax,
                             interpolation="nearest")
        ax.set_axis_off()
        return mappable
    ax.plot(image, color="k", linewidth=1.0)
    ax.set_ylim(vmin, vmin + 1.05 * (vmax - vmin))
    ax.tick_params(labelsize=9)
    return None


def _columns(pert, attacked, truth, output, norms, levels=None):
    """(top image, bottom image, top title, bottom title, difference title) per column.

    Momentum attacks: x + r_j over φ(y + A r_j). Worst-case attacks (``levels``: the
    budgets ε of the kept records): x + A*e over φ(y + e), titled with ε.
    """
    columns = []
    if truth is not None and output is not None:
        columns.append((truth, output, "$x$", r"$\varphi(y)$", None))
    for k in range(len(pert)):
        j = k + 1
        if levels is not None:
            eps = f"$\\varepsilon$ = {float(levels[k]):.0e}"
            columns.append((pert[k], attacked[k], f"$x + A^*e$, {eps}",
                            f"$\\varphi(y + e)$, {eps}",
                            f"$|\\varphi(y + e) - \\varphi(y)|$, {eps}"))
            continue
        size = f"\n$\\|r_{{{j}}}\\|$ = {norms[k]:.3g}" if norms is not None else ""
        columns.append(
            (pert[k], attacked[k], f"$x + r_{{{j}}}${size}", f"$\\varphi(y + A r_{{{j}}})$",
             f"$|\\varphi(y + A r_{{{j}}}) - \\varphi(y)|$")
        )
    return columns


def _scale(truth, output, columns) -> tuple[float, float]:
    """Grey scale of the panel: the true image's range (else φ(y)'s, else the first row's)."""
    for ref in (truth, output, columns[0][0], columns[0][1]):
        if ref is None:
            continue
        finite = np.asarray(ref, dtype=float)[np.isfinite(ref)]
        if finite.size and finite.max() > finite.min():
            return float(finite.min()), float(finite.max())
    return 0.0, 1.0


def names_panel(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the stability panels, without drawing."""
    found = _panel_images(ds)
    if found is None:
        return []
    pert, attacked, image_dims = found
    return [stem("stability_panel", labels)
            for labels in cell_labels(attacked, exclude=(ATTACK_RECORD, *image_dims))]


def _panel_images(ds: xr.Dataset):
    """(perturbed inputs or None, reconstructions, image dims) of the kept examples.

    The reconstructions are required; without stored perturbed inputs (older worst-case
    stores) the panel still shows x, φ(y), the reconstructions and the differences.
    """
    pert, attacked = (_first(ds, n) for n in _EXAMPLES.values())
    if attacked is None or ATTACK_RECORD not in attacked.dims:
        return None
    if pert is not None and pert.dims != attacked.dims:
        pert = None
    image_dims = [d for d in IMAGE_DIMS if d in attacked.dims]
    return (pert, attacked, image_dims) if image_dims else None


@styled
def stability_panel(ds: xr.Dataset, fits: xr.Dataset | None = None) -> dict[str, Figure]:
    r"""The stability test figure: x + r_j above φ(y + A r_j), and |φ(y+Ar_j) − φ(y)| below.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with the kept images over (``example``, ``attack_record``,
        ``row``, ``col``): ``example_perturbed`` (x + r_j; for worst-case attacks the
        stored perturbed input) and ``example_attacked`` (φ(y + A r_j)) — or
        ``example_perturbation`` / ``example_reconstruction`` — optionally
        ``example_truth`` (x) and ``example_output`` (φ(y)), drawn as a first column.
        Extra dims (e.g. ``network``) give more figures; the network of an example is
        its ``example_network`` coordinate otherwise. ‖r_j‖ in the titles comes from
        ``example_pert_norm`` or from ``pert_norm`` at the example's cell and the kept
        steps (``attack_record`` holds the attack steps).
    fits : xarray.Dataset, optional
        Unused; accepted so that every figure function has the same signature.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``stability_panel__example-<i>`` (plus any extra dims) → top row x and x + r_j,
        middle row φ(y) and φ(y + A r_j), all magnitudes on ONE grey scale fixed to the
        true image's range [min |x|, max |x|] (values outside clipped) with its colour
        bar; bottom row the difference |φ(y + A r_j) − φ(y)| on its own scale and colour
        bar (only with ``example_output``).
    """
    found = _panel_images(ds)
    if found is None:
        return {}
    pert, attacked, image_dims = found
    figures = {}
    for labels in cell_labels(attacked, exclude=(ATTACK_RECORD, *image_dims)):
        bottom_cell = select(attacked, labels)
        records = range(bottom_cell.sizes[ATTACK_RECORD])
        if pert is not None:
            cell = select(pert, labels)
            top = [_magnitude(cell.isel({ATTACK_RECORD: k}), image_dims) for k in records]
        else:
            top = [None for _ in records]
        bottom = [_magnitude(bottom_cell.isel({ATTACK_RECORD: k}), image_dims) for k in records]
        truth, output = (
            _magnitude(select(ds[n], labels), image_dims) if n in ds else None
            for n in ("example_truth", "example_output")
        )
        worst_case = ATTACK_STEP not in ds.dims and ATTACK_RECORD in ds.coords
        levels = ds[ATTACK_RECORD].values if worst_case else None
        columns = _columns(top, bottom, truth, output, _record_norms(ds, labels), levels)
        one_d = columns[0][1].ndim == 1
        diffs = None if output is None else [np.abs(b - output) for b in bottom]
        rows = 3 if diffs is not None else 2
        fig, axes = new_figure(rows, len(columns), width=2.4, height=1.9 if one_d else 2.5)
        vmin, vmax = _scale(truth, output, columns)
        mappable = None
        for k, (upper, lower, upper_title, lower_title, _) in enumerate(columns):
            mappable = _show(axes[0, k], upper, vmin, vmax) or mappable
            _show(axes[1, k], lower, vmin, vmax)
            axes[0, k].set_title(upper_title)
            axes[1, k].set_title(lower_title)
        if mappable is not None:
            fig.colorbar(mappable, ax=axes[:2, :], shrink=0.8,
                         label="magnitude (scale of |x|, clipped)")
        if diffs is not None:
            offset = len(columns) - len(diffs)
            dmax = max(float(np.nanmax(d)) for d in diffs) if diffs else 0.0
            dmax = dmax if np.isfinite(dmax) and dmax > 0 else 1.0
            for k in range(offset):
                axes[2, k].set_axis_off()
            diff_map = None
            for k, diff in enumerate(diffs):
                ax = axes[2, offset + k]
                diff_map = _show(ax, diff, 0.0, dmax, cmap="magma") or diff_map
                ax.set_title(columns[offset + k][4])
            if diff_map is not None:
                fig.colorbar(diff_map, ax=axes[2, :], shrink=0.8, label="difference")
        about = _example_labels(ds, labels)
        net = labels.get(NETWORK, about.pop("network", None))
        title = {k: v for k, v in {**labels, **about}.items() if k != NETWORK}
        if title.get("attack_depth") is not None and int(title["attack_depth"]) < 0:
            title["attack_depth"] = depth_text(ds, net, title["attack_depth"])
        suptitle(fig, "Stability test" + (f" — {net}" if net is not None else ""), title)
        figures[stem("stability_panel", labels)] = fig
    return figures
