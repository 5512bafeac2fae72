"""Paper-style figures of a sweep, drawn from the stored sweep and analysis datasets.

Every figure function has the signature ``f(ds, fits=None) -> dict[str, Figure]``
(file stem → figure; empty when the dataset lacks its variables), so `make_figures`
can draw all that a dataset supports. Nothing is recomputed from the networks: the
figures read the sweep store (``sweep.zarr``) and the analysis product (``fits.nc``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from .common import save, style
from .depth import error_vs_depth
from .noise import error_vs_noise
from .phase import phase_transition
from .stability import amplification_curves, stability_panel

__all__ = [
    "FIGURES",
    "amplification_curves",
    "error_vs_depth",
    "error_vs_noise",
    "make_figures",
    "phase_transition",
    "stability_panel",
]

#: Every figure type, in the order `make_figures` draws them.
FIGURES: dict[str, Callable[[xr.Dataset, xr.Dataset | None], dict[str, Figure]]] = {
    "error_vs_depth": error_vs_depth,
    "error_vs_noise": error_vs_noise,
    "phase_transition": phase_transition,
    "amplification": amplification_curves,
    "stability_panel": stability_panel,
}


def make_figures(
    ds: xr.Dataset,
    fits: xr.Dataset | None,
    outdir: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Write every figure the datasets support, as ``NAME.png`` and ``NAME.pdf``.

    Parameters
    ----------
    ds : xarray.Dataset
        The sweep dataset (e.g. opened from ``results/<exp>/sweep.zarr``).
    fits : xarray.Dataset or None
        The analysis product (`stablesweep.analysis.analyse`, e.g. ``fits.nc``); adds
        fitted curves and uses the stored recovery and stability summaries.
    outdir : str or pathlib.Path
        Output folder (created if needed).
    formats : sequence of str
        File formats, each a matplotlib format name.

    Returns
    -------
    list[pathlib.Path]
        Written files, in a deterministic order; names ``<figure>__<dim>-<value>_….<fmt>``
        depend only on the figure type and the cell labels.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with style():
        for draw in FIGURES.values():
            figures = draw(ds, fits)
            for name in list(figures):
                paths.extend(save(figures.pop(name), outdir, name, formats))
    return paths
