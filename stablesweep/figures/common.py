"""Shared plumbing of the figures: style, cell iteration, labels, file names, saving.

Figures are built as `matplotlib.figure.Figure` objects without pyplot, so no global
backend or figure registry is touched; saving picks the Agg (PNG) or PDF canvas from
the file format.
"""

from __future__ import annotations

import contextlib
import functools
import re
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.data import scalar

__all__ = [
    "RC",
    "axis_label",
    "cell_groups",
    "cell_title",
    "network_colors",
    "new_figure",
    "save",
    "scale_for",
    "select",
    "stem",
    "style",
    "styled",
    "suptitle",
]

#: Style of every figure: printable sizes (≥ 9 pt), light grid.
RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "savefig.dpi": 150,
}

#: Metadata that would make files differ from run to run.
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None}}


def style() -> contextlib.AbstractContextManager:
    """Context in which figures are both built and saved (matplotlib rc settings `RC`)."""
    return mpl.rc_context(RC)


def styled(draw: Callable) -> Callable:
    """Decorator: build the figures of `draw` under `style`."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with style():
            return draw(*args, **kwargs)

    return wrapper


def new_figure(nrows: int, ncols: int, width: float = 4.2, height: float = 3.4):
    """A constrained-layout figure with an (nrows, ncols) array of axes."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def cell_groups(da: xr.DataArray, exclude: Iterable[str]) -> Iterator[tuple[dict, xr.DataArray]]:
    """Iterate over the cells of `da` along every dimension not in `exclude`.

    Yields ``(labels, sub-array)`` with ``labels = {dim: value}`` in `da`'s dimension
    order; a single empty cell when every dimension is excluded.
    """
    exclude = set(exclude)
    dims = [d for d in da.dims if d not in exclude]
    for index in np.ndindex(*(da.sizes[d] for d in dims)):
        position = dict(zip(dims, index, strict=True))
        labels = {d: scalar(da[d].values[i]) if d in da.coords else i for d, i in position.items()}
        yield labels, da.isel(position)


def select(data: xr.Dataset | xr.DataArray, labels: dict) -> xr.Dataset | xr.DataArray | None:
    """`data` at the labels it has dimensions for; None when a label is missing."""
    try:
        return data.sel({k: v for k, v in labels.items() if k in data.dims})
    except (KeyError, IndexError, ValueError):
        return None


def _format(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


def cell_title(labels: dict, width: int = 90) -> str:
    """``"dim = value, …"``, wrapped to `width` characters between items only."""
    lines: list[str] = []
    for item in (f"{k} = {_format(v)}" for k, v in labels.items()):
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += f", {item}"
        else:
            lines.append(item)
    return ",\n".join(lines)


def suptitle(fig: Figure, title: str, labels: dict) -> None:
    """Figure title: `title`, then the cell labels wrapped to the figure's width."""
    width = max(30, int(9 * fig.get_figwidth()))  # characters of 12 pt text per line
    fig.suptitle(title + (f"\n{cell_title(labels, width)}" if labels else ""))


def stem(name: str, labels: dict) -> str:
    """Deterministic file stem ``name__dim-value_dim-value`` (safe characters only)."""
    if not labels:
        return name
    parts = [f"{k}-{_format(v)}" for k, v in labels.items()]
    return f"{name}__" + re.sub(r"[^A-Za-z0-9.+-]+", "_", "_".join(parts)).strip("_")


def axis_label(attrs: dict, fallback: str, width: int = 45) -> str:
    """``long_name [units]`` (units omitted when dimensionless), wrapped to `width`."""
    name = str(attrs.get("long_name", fallback))
    units = str(attrs.get("units", ""))
    label = name if units in ("", "1", "none", "count") else f"{name} [{units}]"
    return textwrap.fill(label, width)


def scale_for(values: np.ndarray) -> str:
    """"log" when the positive finite `values` span a decade or more, else "linear".

    A logarithmic axis over less than a decade has no labelled powers of ten and
    crowded minor labels; a linear one reads better there.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return "log" if values.size and values.max() >= 10 * values.min() else "linear"


def network_colors(networks: Sequence) -> dict:
    """A fixed colour per network, in the order given (tab10 cycle)."""
    cycle = mpl.colormaps["tab10"].colors
    return {net: cycle[i % len(cycle)] for i, net in enumerate(networks)}


def save(fig: Figure, outdir: Path, name: str, formats: Sequence[str] = ("png", "pdf")) -> list:
    """Write `fig` as ``outdir/name.<format>`` for each format; returns the paths.

    The layout computed for the first format is kept for the others (same placement in
    every format, and the constrained-layout solve, the costly part, runs once).
    """
    paths = []
    for fmt in formats:
        path = Path(outdir) / f"{name}.{fmt}"
        fig.savefig(path, format=fmt, metadata=_METADATA.get(fmt))
        fig.set_layout_engine("none")
        paths.append(path)
    return paths
