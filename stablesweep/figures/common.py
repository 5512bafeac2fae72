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
    "cell_labels",
    "cell_title",
    "fit_style",
    "log_ticks",
    "OKABE_ITO",
    "legend_outside",
    "network_colors",
    "network_style",
    "network_styles",
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


def cell_labels(da: xr.DataArray, exclude: Iterable[str]) -> list[dict]:
    """The labels `cell_groups` yields, read from the coordinates only (no data touched)."""
    exclude = set(exclude)
    dims = [d for d in da.dims if d not in exclude]
    out = []
    for index in np.ndindex(*(da.sizes[d] for d in dims)):
        out.append({d: scalar(da[d].values[i]) if d in da.coords else i
                    for d, i in zip(dims, index, strict=True)})
    return out


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


_NO_UNITS = {"", "1", "none", "1/(1)", "count", "dimensionless", "a.u.", "au"}


def axis_label(attrs: dict, fallback: str, width: int = 45) -> str:
    """``long_name [units]`` (units omitted when dimensionless), wrapped to `width`.

    Prefer labels written by the figure (quantity and unit); this is the fallback for
    coordinates the figures do not know. Placeholder units ("none", "1/(1)") never print.
    """
    name = str(attrs.get("long_name", fallback))
    units = str(attrs.get("units", "")).strip()
    label = name if units.lower() in _NO_UNITS else f"{name} [{units}]"
    return textwrap.fill(label, width)


def scale_for(values: np.ndarray) -> str:
    """"log" when the positive finite `values` span a decade or more, else "linear".

    A logarithmic axis over less than a decade has no labelled powers of ten and
    crowded minor labels; a linear one reads better there.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return "log" if values.size and values.max() >= 10 * values.min() else "linear"


#: Okabe & Ito (2008) colour-blind-safe palette, yellow last (weak on white).
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_DASHES = (
    "-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 3)), (0, (4, 1, 4, 4))
)

#: Fixed slot of every built-in network: the same style in every figure of every store.
_KNOWN = ("primal-dual", "firenet", "fista", "ista", "cp-bp", "nesta", "unet", "learned-pd")


def _slots(networks: Sequence) -> dict:
    """Slot of each network: built-ins their fixed one, others the free ones, sorted."""
    names = sorted({str(n) for n in networks})
    slots = {n: _KNOWN.index(n) for n in names if n in _KNOWN}
    free = [k for k in range(len(OKABE_ITO)) if k not in slots.values()]
    for k, name in enumerate(n for n in names if n not in slots):
        slots[name] = free[k] if k < len(free) else len(OKABE_ITO) + k
    return slots


def network_styles(networks: Sequence) -> dict[str, dict]:
    """Matplotlib style (``color``, ``marker``, ``linestyle``) of each network.

    Parameters
    ----------
    networks : sequence
        Network labels (a store's ``network`` coordinate; order irrelevant).

    Returns
    -------
    dict[str, dict]
        Label → ``{"color", "marker", "linestyle"}``; colour from `OKABE_ITO`, and a
        distinct marker and dash pattern per network, so that series stay apart in
        greyscale. Built-in networks keep one slot whatever else the store holds.
    """
    out = {}
    for name, slot in _slots(networks).items():
        out[name] = {
            "color": OKABE_ITO[slot % len(OKABE_ITO)],
            "marker": _MARKERS[slot % len(_MARKERS)],
            "linestyle": _DASHES[slot % len(_DASHES)],
        }
    return out


def network_style(styles: dict, net: object) -> dict:
    """Style of `net` in `styles` (black, circles, solid for an unnamed series)."""
    return styles.get(str(net), {"color": "#000000", "marker": "o", "linestyle": "-"})


def fit_style(style: dict) -> dict:
    """A fit line styled like its data series: same colour and dash, thinner, no marker."""
    return {"color": style["color"], "linestyle": style["linestyle"], "linewidth": 0.9,
            "marker": "None"}


def network_colors(networks: Sequence) -> dict:
    """A fixed colour per network (`network_styles`' colours)."""
    return {k: v["color"] for k, v in network_styles(networks).items()}


def legend_outside(fig: Figure, axes: Sequence | None = None, ncols: int = 2) -> None:
    """One legend of the figure's series below the axes (never over the data).

    Duplicated labels (the same series on several panels) are listed once.
    """
    axes = fig.axes if axes is None else axes
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.startswith("_"):
                seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                   ncols=max(1, min(ncols, len(seen))))


def log_ticks(ax, axis: str = "both") -> None:
    """Log axes: labels at powers of ten; on an axis spanning under ~1.5 decades also at
    2·10^k and 5·10^k (so at least two numbers show), never at the crowded 3, 4, 6…9."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    for which in ("x", "y") if axis == "both" else (axis,):
        target = ax.xaxis if which == "x" else ax.yaxis
        if target.get_scale() != "log":
            continue
        target.set_major_locator(LogLocator(base=10, numticks=6))
        target.set_minor_formatter(FuncFormatter(functools.partial(_minor_label, target)))


def _minor_label(axis, value: float, pos: int | None = None) -> str:
    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and hi / lo < 30 and value > 0):
        return ""
    mantissa = value / 10 ** np.floor(np.log10(value))
    return f"{value:g}" if round(mantissa) in (2, 5) and abs(mantissa - round(mantissa)) < 1e-6 \
        else ""


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
