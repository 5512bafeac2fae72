"""Phase-transition maps: recovery probability over sampling rate × sparsity."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.data import DEPTH, NETWORK, RATE, SCHEME, SPARSITY, TRIAL
from ..analysis.recovery import recovery_probability
from .common import cell_groups, cell_labels, new_figure, stem, styled, suptitle

__all__ = ["names", "phase_transition"]

_ANNOTATE_MAX = 12  # write the probability in each square up to this many per side


def names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of the phase-transition maps, without drawing."""
    if fits is not None and "recovery_probability" in fits:
        prob = fits["recovery_probability"]
    elif "rel_error" in ds:
        prob = ds["rel_error"]
    else:
        return []
    if RATE not in prob.dims or SPARSITY not in prob.dims:
        return []
    exclude = (NETWORK, SCHEME, RATE, SPARSITY, TRIAL, DEPTH)
    return [stem("phase_transition", labels) for labels in cell_labels(prob, exclude)]


def _sparsity_ticks(grid: xr.DataArray) -> list[str]:
    """Total sparsity s, with the per-level pattern when stored (``sparsity_pattern``)."""
    values = [str(v) for v in grid[SPARSITY].values]
    if "sparsity_pattern" in grid.coords and SPARSITY in grid.coords["sparsity_pattern"].dims:
        pattern = grid.coords["sparsity_pattern"].transpose(SPARSITY, ...).values
        values = [f"{v} ({','.join(str(int(p)) for p in row)})"
                  for v, row in zip(values, pattern, strict=True)]
    return values


def _heat_map(ax, grid: xr.DataArray):
    """Draw one (sparsity × rate) map; returns the mappable."""
    values = grid.transpose(SPARSITY, RATE).values.astype(float)
    mesh = ax.pcolormesh(values, vmin=0.0, vmax=1.0, cmap="viridis", edgecolors="face")
    ax.set_xticks(np.arange(grid.sizes[RATE]) + 0.5,
                  [f"{v:g}" if isinstance(v, float) else str(v) for v in grid[RATE].values])
    ax.set_yticks(np.arange(grid.sizes[SPARSITY]) + 0.5, _sparsity_ticks(grid))
    ax.grid(False)
    if max(values.shape) <= _ANNOTATE_MAX:
        for (i, j), p in np.ndenumerate(values):
            if np.isfinite(p):
                ax.text(j + 0.5, i + 0.5, f"{p:.2f}", ha="center", va="center", fontsize=9,
                        color="black" if p > 0.6 else "white")
    return mesh


@styled
def phase_transition(
    ds: xr.Dataset, fits: xr.Dataset | None = None, *, threshold: float = 1e-3
) -> dict[str, Figure]:
    """Heat maps of recovery probability over rate × sparsity, schemes side by side.

    Parameters
    ----------
    ds : xarray.Dataset
        Sweep dataset with ``rate`` and ``sparsity`` axes.
    fits : xarray.Dataset, optional
        With ``recovery_probability`` (as stored by `stablesweep.analysis.analyse`); when
        absent it is computed from `ds` with `threshold`.
    threshold : float
        Recovery threshold used when `fits` lacks the probabilities.

    Returns
    -------
    dict[str, matplotlib.figure.Figure]
        ``phase_transition__<cell>`` → one row per network, one column per sampling
        scheme (e.g. theory-based multilevel against uniform). Empty without both axes.
    """
    if fits is not None and "recovery_probability" in fits:
        prob = fits["recovery_probability"]
    elif "rel_error" in ds:
        prob = recovery_probability(ds, threshold=threshold)["recovery_probability"]
    else:
        return {}
    if RATE not in prob.dims or SPARSITY not in prob.dims:
        return {}
    rate_label = "sampling rate m/N"
    level = prob.attrs.get("threshold", threshold)
    figures = {}
    for labels, cell in cell_groups(prob, exclude=(NETWORK, SCHEME, RATE, SPARSITY)):
        networks = list(cell[NETWORK].values) if NETWORK in cell.dims else [None]
        schemes = list(cell[SCHEME].values) if SCHEME in cell.dims else [None]
        fig, axes = new_figure(len(networks), len(schemes), width=3.8, height=3.2)
        mesh = None
        for (i, net), (j, scheme) in itertools.product(enumerate(networks), enumerate(schemes)):
            pick = {k: v for k, v in ((NETWORK, net), (SCHEME, scheme)) if v is not None}
            ax = axes[i, j]
            mesh = _heat_map(ax, cell.sel(pick))
            ax.set_title(" — ".join(str(v) for v in pick.values()) or "recovery")
            ax.set_xlabel(rate_label)
            ax.set_ylabel("sparsity s (total over levels)")
        fig.colorbar(mesh, ax=axes, label=f"P(relative error < {level:g})", shrink=0.9)
        suptitle(fig, "Recovery probability", labels)
        figures[stem("phase_transition", labels)] = fig
    return figures
