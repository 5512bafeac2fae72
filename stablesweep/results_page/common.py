"""What every section of the results page shares: the verdicts, :class:`Section`,
number formatting, Markdown tables, reading results and copying figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["CONTRADICTED", "DEMONSTRATED", "NOT_AT_SCALE", "NOT_RUN", "THUMB_SIDE", "Section",
           "copy_figure", "fmt", "load", "open_store", "table"]


DEMONSTRATED, NOT_AT_SCALE, CONTRADICTED, NOT_RUN = (
    "demonstrated", "not at this scale", "contradicted", "not run")

#: Largest side of a figure copied onto the page (pixels).
THUMB_SIDE = 1100


@dataclass
class Section:
    """One claim: its heading, the Markdown body and the verdict."""

    title: str
    claim: str
    verdict: str
    body: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file, caption)


# --------------------------------------------------------------------------- helpers


def fmt(v: object, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "—"
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e4):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def load(path: Path) -> xr.Dataset | None:
    return xr.load_dataset(path) if path.is_file() else None


def open_store(path: Path) -> xr.Dataset | None:
    if not (path / "zarr.json").is_file():
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xr.open_zarr(path, chunks=None)


def copy_figure(src: Path, dest_dir: Path, name: str) -> str | None:
    """A downscaled PNG copy of ``src`` in ``dest_dir``; its name, or None if absent."""
    if not src.is_file():
        return None
    from PIL import Image

    dest_dir.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        scale = THUMB_SIDE / max(im.size)
        if scale < 1:
            im = im.resize((round(im.width * scale), round(im.height * scale)),
                           Image.Resampling.LANCZOS)
        im.save(dest_dir / name, optimize=True)
    return name
