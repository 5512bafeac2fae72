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
    "figure_names",
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


def _figure_type(name: str) -> str:
    kind = name.split("__", 1)[0]
    if kind not in FIGURES:
        raise ValueError(
            f"figure {name!r}: unknown figure type {kind!r}; expected a name starting "
            f"with one of: {', '.join(FIGURES)}"
        )
    return kind


def figure_names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
    """File stems of every figure the datasets support (figures built, not rendered)."""
    names: list[str] = []
    with style():
        for draw in FIGURES.values():
            figures = draw(ds, fits)
            names.extend(figures)
            figures.clear()
    return names


def make_figures(
    ds: xr.Dataset,
    fits: xr.Dataset | None,
    outdir: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
    only: Sequence[str] | None = None,
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
    only : sequence of str, optional
        Write just these figures (file stems as returned by :func:`figure_names`);
        only their figure types are drawn. An unknown name raises ``ValueError``
        listing the names the datasets support.

    Returns
    -------
    list[pathlib.Path]
        Written files, in a deterministic order; names ``<figure>__<dim>-<value>_….<fmt>``
        depend only on the figure type and the cell labels.
    """
    outdir = Path(outdir)
    wanted = None if only is None else list(dict.fromkeys(only))
    kinds = FIGURES if wanted is None else {_figure_type(n): None for n in wanted}
    figures: dict[str, Figure] = {}
    paths: list[Path] = []
    with style():
        for kind in kinds:
            drawn = FIGURES[kind](ds, fits)
            if wanted is None:
                outdir.mkdir(parents=True, exist_ok=True)
                for name in list(drawn):
                    paths.extend(save(drawn.pop(name), outdir, name, formats))
            else:
                figures.update(drawn)
        if wanted is not None:
            missing = [n for n in wanted if n not in figures]
            if missing:
                raise ValueError(
                    f"figure(s) {', '.join(map(repr, missing))} not supported by this "
                    f"dataset; available: {', '.join(figures) or '(none of these types)'}"
                )
            outdir.mkdir(parents=True, exist_ok=True)
            for name in wanted:
                paths.extend(save(figures[name], outdir, name, formats))
    return paths
