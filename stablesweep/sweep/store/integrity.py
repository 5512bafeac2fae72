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

The rest of the store is metadata and coordinates, fixed by the config:
:func:`metadata_damage` compares every such file with the store's template (what
:func:`~stablesweep.sweep.store.create_store` wrote) and :func:`repair_metadata` writes
the damaged ones again, byte for byte. The root ``zarr.json`` also holds the run's
provenance, which no config can restore: a copy of it (:data:`ROOT_BACKUP`, refreshed
whenever the root changes) stands in for a root that is missing or unreadable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..config.grid import Cell, cell_box
from .variables import attack_groups

__all__ = ["CHECKSUM", "ROOT_BACKUP", "VerifyReport", "backup_root", "cell_checksum",
           "cell_groups", "mark_pending", "metadata_damage", "repair_metadata",
           "repair_store_metadata", "stored_attributes", "stored_config_hash", "verify_cells"]

#: Copy of the store's root metadata (attributes, provenance, consolidated metadata).
ROOT_BACKUP = ".zarr.json.backup"

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
        out += [g for g in attack_groups() if g in groups]
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
    metadata : dict of str to str
        Damaged metadata and coordinate files (see :func:`metadata_damage`; filled in
        by callers that check them).
    """

    checked: int = 0
    damaged: list[tuple[Cell, str]] = field(default_factory=list)
    verifiable: bool = True
    metadata: dict[str, str] = field(default_factory=dict)


def verify_cells(path: str | Path, layout: Any, cells: Sequence[Cell]) -> VerifyReport:
    """Read every done cell of ``cells`` back and compare it with its checksum.

    The store is read one block at a time (each array's chunk of the block: the memory
    of one block, whatever the size of the store).

    Parameters
    ----------
    path : path
        The store.
    layout : Layout
        Its layout (``groups()``, ``variables()``, ``cell_dims``, ``block_of``).
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
    for name, (_, _, _, _, group, _) in layout.variables().items():
        if name in root:
            members.setdefault(group, []).append(name)
    arrays = {name: root[name] for names in members.values() for name in names}
    blocks: dict[tuple[int, ...], list[Cell]] = {}
    for cell in cells:
        if done[cell.index] != 0:
            blocks.setdefault(layout.block_of(cell), []).append(cell)
    report = VerifyReport()
    for block_cells in blocks.values():
        slabs = _BlockSlabs(arrays, layout.cell_dims, block_cells)
        for cell in block_cells:
            report.checked += 1
            problem = _cell_problem(cell, groups, members, layout.cell_dims, slabs,
                                    int(sums[cell.index]))
            if problem:
                report.damaged.append((cell, problem))
    return report


class _BlockSlabs:
    """Each array's values over the box of one block's cells, read once, on demand
    (None where a chunk cannot be read: then cell by cell)."""

    def __init__(self, arrays: Mapping[str, Any], cell_dims: Sequence[str],
                 cells: Sequence[Cell]):
        self.arrays = arrays
        low, high = cell_box(cells)
        self.low = dict(zip(cell_dims, low, strict=True))
        self.high = dict(zip(cell_dims, high, strict=True))
        self.cache: dict[str, np.ndarray | None] = {}

    def value(self, name: str, dims: Sequence[str], index: tuple[int, ...]) -> np.ndarray:
        if name not in self.cache:
            box = tuple(slice(int(self.low[d]), int(self.high[d])) for d in dims)
            try:
                self.cache[name] = np.asarray(self.arrays[name][box])
            except Exception:  # a damaged chunk: read this array cell by cell
                self.cache[name] = None
        slab = self.cache[name]
        if slab is None:
            return np.asarray(self.arrays[name][index])
        return slab[tuple(i - int(self.low[d]) for d, i in zip(dims, index, strict=True))]


def _cell_problem(cell: Cell, groups: Mapping[str, tuple[str, ...]],
                  members: Mapping[str, list[str]], cell_dims: Sequence[str],
                  slabs: _BlockSlabs, checksum: int) -> str:
    """What is wrong with a done cell ("" when its values match ``checksum``)."""
    position = dict(zip(cell_dims, cell.index, strict=True))
    triples = []
    for group in cell_groups(cell, groups):
        dims = groups[group]
        index = tuple(position[d] for d in dims)
        for name in members.get(group, []):
            try:
                value = slabs.value(name, dims, index)
            except Exception as err:
                return f"{name}: unreadable ({type(err).__name__})"
            triples.append((name, index, value))
    if cell_checksum(triples) == checksum:
        return ""
    return ("no checksum recorded" if checksum == 0
            else "values differ from their checksum (a chunk deleted or changed)")


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


# --------------------------------------------------------------------------- metadata


def backup_root(path: str | Path) -> None:
    """Copy the root ``zarr.json`` to :data:`ROOT_BACKUP` (atomically)."""
    path = Path(path)
    tmp = path / (ROOT_BACKUP + ".tmp")
    shutil.copyfile(path / "zarr.json", tmp)
    tmp.replace(path / ROOT_BACKUP)


def _readable_json(file: Path) -> bool:
    try:
        json.loads(file.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def metadata_damage(path: str | Path, layout: Any) -> dict[str, str]:
    """Files of the store's metadata and coordinates that are missing or changed.

    Parameters
    ----------
    path : path
        The store.
    layout : Layout
        Its layout (the template it was created from).

    Returns
    -------
    dict of str to str
        Relative file name → what is wrong (``zarr.json`` is the root: missing or
        unreadable; the others must equal the template's bytes). A variable whose folder
        is absent and which the consolidated metadata does not list is not damage: the
        store was written by an older stablesweep that did not have it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        return _damage(Path(path), _write_template(layout, Path(tmp)))


def _damage(path: Path, template: Path) -> dict[str, str]:
    """:func:`metadata_damage` of ``path`` against a written ``template``."""
    damage = {}
    if not _readable_json(path / "zarr.json"):
        damage["zarr.json"] = "root metadata missing or unreadable"
    listed = _consolidated_names(path)
    for file in sorted(template.rglob("*")):
        name = file.relative_to(template).as_posix()
        if not file.is_file() or name == "zarr.json":
            continue
        array = name.split("/")[0]
        if not (path / array).exists() and array not in listed:
            continue  # a variable the stablesweep that wrote this store did not have
        target = path / name
        if not target.is_file():
            damage[name] = "missing"
        elif target.read_bytes() != file.read_bytes():
            damage[name] = "changed"
    return damage


def _consolidated_names(path: Path) -> set[str]:
    """Arrays listed in the consolidated metadata of the root (or of its backup)."""
    for file in (path / "zarr.json", path / ROOT_BACKUP):
        try:
            meta = json.loads(file.read_bytes())["consolidated_metadata"]["metadata"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return set(meta)
    return set()


def repair_metadata(path: str | Path, layout: Any) -> dict[str, str]:
    """Rewrite the damaged metadata and coordinate files (see :func:`metadata_damage`).

    Returns what was repaired. Raises ``ValueError`` when the root metadata is damaged
    and its backup is missing or unreadable (the run's provenance is then lost).
    """
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        template = _write_template(layout, Path(tmp))
        damage = _damage(path, template)
        if "zarr.json" in damage:
            backup = path / ROOT_BACKUP
            if not _readable_json(backup):
                raise ValueError(_lost_root(path))
            shutil.copyfile(backup, path / "zarr.json")
        for name in damage:
            if name != "zarr.json":
                (path / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(template / name, path / name)
    return damage


def stored_attributes(path: str | Path) -> dict[str, Any] | None:
    """The store's attributes from its root metadata, or from the backup when the root
    is unreadable (None: neither can be read)."""
    path = Path(path)
    for file in (path / "zarr.json", path / ROOT_BACKUP):
        try:
            attrs = json.loads(file.read_bytes())["attributes"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(attrs, dict):
            return attrs
    return None


def stored_config_hash(path: str | Path) -> str | None:
    """The ``config_hash`` of :func:`stored_attributes` (None: unreadable or absent)."""
    return (stored_attributes(path) or {}).get("config_hash")


def repair_store_metadata(path: str | Path, config_hash: str, layout_factory) -> dict[str, str]:
    """Repair the metadata of the store at ``path`` if it belongs to ``config_hash``.

    A store of another config (or none at all) is left alone: opening it reports why.
    ``layout_factory()`` builds the layout (only when the store is there and ours).
    Returns what was repaired (see :func:`repair_metadata`).
    """
    path = Path(path)
    if not path.is_dir():
        return {}
    have = stored_config_hash(path)
    if have is None and (path / "done").is_dir():  # a sweep store that lost its root
        raise ValueError(_lost_root(path))
    if have != config_hash:
        return {}
    return repair_metadata(path, layout_factory())


def _lost_root(path: Path) -> str:
    return (f"the root metadata of store {str(path)!r} (zarr.json: the config and the "
            f"run's provenance) is damaged and has no readable backup ({ROOT_BACKUP}); it "
            "cannot be repaired. Move the store aside and run again into a new one")


def _write_template(layout: Any, folder: Path) -> Path:
    """The store as created (metadata and coordinates, no cell written), in ``folder``."""
    out = folder / "template.zarr"
    layout.write_template(out)
    return out
