"""Integrity of a sweep store: a checksum per cell, verified before it is trusted.

A cell's ``done`` marker says that its values were written, not that they are still
there: a deleted chunk reads back as the fill value (NaN), a truncated one fails to
decompress. So each cell also gets a checksum — BLAKE2b (64 bits) over the name, the
position and the bytes of every value in the cell's regions of the store (the forward,
minimiser, problem and attack groups it writes; kept example images are not covered) —
written with the values and before the marker. :func:`verify_cells` reads every done
cell back and recomputes it: a cell whose data is missing, unreadable or different is
*damaged*; :func:`mark_pending` resets its marker so that ``stablesweep run`` computes it
again (the recomputed values are bit-identical: a cell depends only on its task).

Stores written before checksums existed have no ``checksum`` array and cannot be
verified (:func:`verify_cells` says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .grid import Cell

__all__ = ["CHECKSUM", "VerifyReport", "cell_checksum", "cell_groups", "mark_pending",
           "verify_cells"]

#: Name of the per-cell checksum array (int64 over the cell dims; 0: none written).
CHECKSUM = "checksum"


def cell_groups(cell: Cell, groups: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The variable groups whose regions ``cell`` writes (``groups``: the layout's)."""
    out = []
    if cell.runs_forward:
        out += [g for g in ("forward", "minimiser") if g in groups]
        if cell.network == 0 and "problem" in groups:
            out.append("problem")
    if cell.attack_depth is not None:
        out += [g for g in ("momentum", "worst-case", "attack") if g in groups]
    return out


def _value_bytes(value: np.ndarray) -> bytes:
    if value.dtype.kind in "TUSO":  # strings: their text, NUL-separated
        return "\x00".join(map(str, value.ravel())).encode()
    if value.dtype.kind == "f":  # one NaN bit pattern: an all-NaN chunk reads back as fill
        value = np.where(np.isnan(value), np.nan, value)
    return np.ascontiguousarray(value).tobytes()


def cell_checksum(values: Iterable[tuple[str, tuple[int, ...], np.ndarray]]) -> int:
    """BLAKE2b-64 of ``(name, index, value)`` triples in name order, as a non-zero int64."""
    h = hashlib.blake2b(digest_size=8)
    for name, index, value in sorted(values, key=lambda t: t[0]):
        h.update(name.encode() + b"\x00" + repr(tuple(int(i) for i in index)).encode())
        h.update(_value_bytes(np.asarray(value)))
    digest = int.from_bytes(h.digest(), "little", signed=True)
    return digest or 1  # 0 is the fill value: "no checksum"


@dataclass
class VerifyReport:
    """What :func:`verify_cells` found.

    Attributes
    ----------
    checked : int
        Done cells read back.
    damaged : list of (Cell, str)
        Cells whose data is missing, unreadable or changed, with the reason.
    verifiable : bool
        False for a store without checksums (written before they existed).
    """

    checked: int = 0
    damaged: list[tuple[Cell, str]] = field(default_factory=list)
    verifiable: bool = True


def verify_cells(path: str | Path, layout: Any, cells: Sequence[Cell]) -> VerifyReport:
    """Read every done cell of ``cells`` back and compare it with its checksum.

    Parameters
    ----------
    path : path
        The store.
    layout : Layout
        Its layout (``groups()``, ``variables()``, ``cell_dims``).
    cells : sequence of Cell
        The sweep's cells.
    """
    root = zarr.open_group(str(path), mode="r")
    if CHECKSUM not in root:
        return VerifyReport(verifiable=False)
    done = np.asarray(root["done"][...])
    sums = np.asarray(root[CHECKSUM][...])
    groups = layout.groups()
    members: dict[str, list[str]] = {}
    for name, (_, _, _, _, group) in layout.variables().items():
        if name in root:
            members.setdefault(group, []).append(name)
    arrays = {name: root[name] for names in members.values() for name in names}
    cache: dict[str, np.ndarray | None] = {}

    def whole(name: str) -> np.ndarray | None:
        if name not in cache:
            try:
                cache[name] = np.asarray(arrays[name][...])
            except Exception:  # a damaged chunk: read this array cell by cell
                cache[name] = None
        return cache[name]

    report = VerifyReport()
    for cell in cells:
        if done[cell.index] == 0:
            continue
        report.checked += 1
        position = dict(zip(layout.cell_dims, cell.index, strict=True))
        triples, problem = [], ""
        for group in cell_groups(cell, groups):
            index = tuple(position[d] for d in groups[group])
            for name in members.get(group, []):
                data = whole(name)
                try:
                    value = data[index] if data is not None else np.asarray(arrays[name][index])
                except Exception as err:
                    problem = f"{name}: unreadable ({type(err).__name__})"
                    break
                triples.append((name, index, value))
            if problem:
                break
        if not problem and cell_checksum(triples) != int(sums[cell.index]):
            problem = ("no checksum recorded" if int(sums[cell.index]) == 0
                       else "values differ from their checksum (a chunk deleted or changed)")
        if problem:
            report.damaged.append((cell, problem))
    return report


def mark_pending(path: str | Path, cells: Iterable[Cell]) -> int:
    """Reset the ``done`` marker (and checksum) of ``cells`` to 0; returns how many."""
    root = zarr.open_group(str(path), mode="r+")
    n = 0
    for cell in cells:
        root["done"][cell.index] = 0
        if CHECKSUM in root:
            root[CHECKSUM][cell.index] = 0
        n += 1
    return n
