"""Paper-style figures of a sweep, drawn from the stored sweep and analysis datasets.

Every figure function has the signature ``f(ds, fits=None) -> dict[str, Figure]``
(file stem → figure; empty when the dataset lacks its variables), so `make_figures`
can draw all that a dataset supports; `NAMES` lists the file stems of each type from
the coordinates alone (`figure_names` draws nothing). One style everywhere
(`common.network_styles`): Okabe–Ito colours, a marker and a dash pattern per network,
fit lines like their data (thinner, no marker), legends outside the axes.
Nothing is recomputed from the networks: the figures read the sweep store
(``sweep.zarr``) and the analysis product (``fits.nc``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from . import depth, gap, noise, phase, stability, worst_case
from .common import save, style
from .depth import error_vs_depth, opt_error_vs_depth
from .gap import objective_gap_vs_depth
from .noise import error_vs_noise
from .phase import phase_transition
from .stability import amplification_curves, stability_panel
from .worst_case import attack_convergence, worst_case_amplification
from .worst_case import worst_case as worst_case_errors

__all__ = [
    "FIGURES",
    "NAMES",
    "amplification_curves",
    "attack_convergence",
    "error_vs_depth",
    "error_vs_noise",
    "figure_names",
    "make_figures",
    "objective_gap_vs_depth",
    "opt_error_vs_depth",
    "phase_transition",
    "stability_panel",
    "worst_case_amplification",
    "worst_case_errors",
]

#: Every figure type, in the order `make_figures` draws them.
FIGURES: dict[str, Callable[[xr.Dataset, xr.Dataset | None], dict[str, Figure]]] = {
    "error_vs_depth": error_vs_depth,
    "opt_error_vs_depth": opt_error_vs_depth,
    "objective_gap_vs_depth": objective_gap_vs_depth,
    "error_vs_noise": error_vs_noise,
    "phase_transition": phase_transition,
    "amplification": amplification_curves,
    "stability_panel": stability_panel,
    "worst_case": worst_case_errors,
    "worst_case_amplification": worst_case_amplification,
    "attack_convergence": attack_convergence,
}


def _only(kind: str, lister: Callable) -> Callable[[xr.Dataset, xr.Dataset | None], list[str]]:
    def names(ds: xr.Dataset, fits: xr.Dataset | None = None) -> list[str]:
        return [n for n in lister(ds, fits) if n.split("__", 1)[0] == kind]

    return names


#: Per figure type: its file stems from the datasets' coordinates, without drawing.
NAMES: dict[str, Callable[[xr.Dataset, xr.Dataset | None], list[str]]] = {
    "error_vs_depth": _only("error_vs_depth", depth.names),
    "opt_error_vs_depth": _only("opt_error_vs_depth", depth.names),
    "objective_gap_vs_depth": gap.names,
    "error_vs_noise": noise.names,
    "phase_transition": phase.names,
    "amplification": stability.names_amplification,
    "stability_panel": stability.names_panel,
    "worst_case": _only("worst_case", worst_case.names),
    "worst_case_amplification": _only("worst_case_amplification", worst_case.names),
    "attack_convergence": _only("attack_convergence", worst_case.names),
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
    """File stems of every figure the datasets support, in `make_figures`' order.

    Read from the variables present and their coordinates (`NAMES`): nothing is drawn.
    """
    return [name for lister in NAMES.values() for name in lister(ds, fits)]


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
