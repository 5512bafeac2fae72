"""The layout of a sweep's store: its dimensions, coordinates and chunks.

Dimensions: one per swept problem axis (see :mod:`stablesweep.sweep.config`), then
``network``, ``attack_depth`` (with an attack), ``trial``, ``depth`` (union of all
networks' iterate depths, NaN where a network has no iterate), ``attack_step``
(momentum) or ``noise_level`` (worst-case), and for the kept images ``example``,
``attack_record``, ``row``, ``col``. Problem parameters that are not swept are scalar
coordinates; ``network`` has the non-dimension coordinates ``network_name``,
``network_depth``, ``network_layers`` and ``network_weights`` (where its l1 weights
come from: ``signal``, ``params``, ``uniform``, ``none``); ``example`` has
``example_<axis>``, ``example_network``, ``example_trial`` (and
``example_attack_depth``).

``attack_depth`` holds the given attack depths and/or ``-1`` ("each network's own
depth", :data:`~stablesweep.sweep.config.OWN_DEPTH`); the coordinate ``attacked_depth``
(network, attack_depth) is the depth actually attacked, 0 where the network is not
attacked (its attack variables are NaN there, with ``attack_status`` ``skipped``).

Every data variable (:data:`~stablesweep.sweep.store.variables.VARIABLES`) is chunked with size
The cells are grouped into *blocks* of the cell grid (:attr:`Layout.block`,
:func:`cell_block`), and every data variable is chunked by blocks along the cell axes
(whole along the others): a block's values of a variable are one chunk, one file. One
Dask task computes and writes one block (:mod:`~stablesweep.sweep.run.block`), so no two
tasks ever write the same file, and a sweep of N cells has about N / block files per
variable. The kept example images are chunked one example per chunk. Blocks of one cell
are the layout of stores written before blocks existed.

Why chunks and not Zarr v3 shards of one-cell chunks: each cell is written into its
block's chunk as soon as it is finished (read, modify, write of one file); measured on
16x16 cells with blocks of 16, a cell's write costs 8.9 ms with block-sized chunks
against 15.4 ms through the sharding codec (which decodes and re-encodes every inner
chunk), and readers load whole variables anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from stablesweep.attacks.registry import attack_kind

from ..config.grid import Cell
from ..config.load import PATTERN_AXES, SweepConfig, pattern_label
from .integrity import CHECKSUM
from .provenance import provenance
from .variables import (
    ATTACK,
    ATTACK_DEPTH,
    ATTACK_RECORD,
    COL,
    DEPTH,
    DONE_MEANINGS,
    EXAMPLE,
    NETWORK,
    ROW,
    STR,
    TRIAL,
    variable,
    variable_groups,
)

__all__ = ["BLOCK_ATTR", "FILES_PER_CELL", "MIN_TASKS", "Layout", "cell_block", "stored_block"]

#: Files per cell a block aims at (one chunk file per variable per block).
FILES_PER_CELL = 0.2

#: Blocks a sweep is split into at least, where it has enough cells (parallelism).
MIN_TASKS = 64

#: Store attribute that records the block shape (absent: blocks of one cell).
BLOCK_ATTR = "cell_block"


@dataclass(frozen=True)
class Layout:
    """Dimensions and coordinates of a sweep's store.

    Parameters
    ----------
    cfg : SweepConfig
    depths : tuple of int
        The depth coordinate (union of the networks' iterate depths).
    layers : tuple of int
        Layer count of each network at its full depth.
    """

    cfg: SweepConfig
    depths: tuple[int, ...]
    layers: tuple[int, ...]
    #: cells per block along each cell dim (:attr:`cell_dims`); empty: one cell
    block: tuple[int, ...] = ()

    @property
    def point_dims(self) -> tuple[str, ...]:
        return tuple(self.cfg.axes)

    @property
    def cell_dims(self) -> tuple[str, ...]:
        """Dims of the done marker: point axes, network (, attack_depth)."""
        tail = (ATTACK_DEPTH,) if self.cfg.attack is not None else ()
        return (*self.point_dims, NETWORK, *tail)

    @property
    def cell_shape(self) -> tuple[int, ...]:
        """Size of the cell grid along each of :attr:`cell_dims`."""
        cfg = self.cfg
        tail = (len(cfg.attack.depths),) if cfg.attack is not None else ()
        return (*cfg.grid_shape, len(cfg.networks), *tail)

    @property
    def cell_block(self) -> tuple[int, ...]:
        """The block shape along :attr:`cell_dims` (all ones: one cell per block)."""
        return self.block or (1,) * len(self.cell_dims)

    @property
    def blocked(self) -> bool:
        """Whether blocks hold more than one cell."""
        return math.prod(self.cell_block) > 1

    def block_of(self, cell: Cell) -> tuple[int, ...]:
        """Index of the block that holds ``cell``."""
        return tuple(i // b for i, b in zip(cell.index, self.cell_block, strict=True))

    def cell_arrays(self) -> int:
        """Arrays a cell writes into at most (data variables, checksum, done)."""
        return sum(1 for v in self.variables().values() if v[4] != "examples") + 2

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(row, col)`` of the example images: the largest resolution (1 row in 1-D)."""
        cfg = self.cfg
        side = max(cfg.axes.get("resolution", (cfg.fixed.get("resolution"),)))
        dims = cfg.axes.get("dim", (cfg.fixed.get("dim", 2),))
        return (side if max(dims) == 2 else 1), side

    def groups(self) -> dict[str, tuple[str, ...]]:
        """Variable group -> its leading (cell) dims (:mod:`~stablesweep.sweep.store.variables`:
        the attack's kind and ``attack`` with an attack)."""
        cfg = self.cfg
        groups = {"forward": (*self.point_dims, NETWORK), "problem": self.point_dims}
        if cfg.minimiser is not None:
            groups["minimiser"] = groups["forward"]
        if cfg.attack is not None:
            adims = (*self.point_dims, NETWORK, ATTACK_DEPTH)
            groups[cfg.attack.kind] = adims
            groups[ATTACK] = adims
        if cfg.examples:
            groups["examples"] = (EXAMPLE,)
        return groups

    def variables(self) -> dict[str, tuple[tuple[str, ...], Any, str, str, str, str | None]]:
        """name -> (dims, dtype, units, long_name, group, comment), in schema order."""
        out = {}
        table = variable_groups()
        for group, lead in self.groups().items():
            for row in table[group]:
                if ATTACK_RECORD in row.dims and not self._records():
                    continue
                out[row.name] = ((*lead, *row.dims), row.dtype, row.units, row.long_name,
                                 group, row.comment)
        return out

    def _records(self) -> tuple:
        """The ``attack_record`` coordinate: the records the examples keep."""
        a = self.cfg.attack
        return () if a is None else tuple(attack_kind(a.kind).kept.values(a))

    def coords(self) -> dict[str, Any]:
        cfg = self.cfg
        c: dict[str, Any] = {}
        for name, values in cfg.axes.items():
            c[name] = (name, _coord_values(name, values), {"long_name": _AXIS_DOC[name]})
        for name, value in cfg.fixed.items():
            c[name] = ((), _coord_values(name, [value]).reshape(()),
                       {"long_name": _AXIS_DOC[name]})
        c.update(_sparsity_coords(cfg))
        nets = cfg.networks
        c[NETWORK] = (NETWORK, np.array([n.label for n in nets], dtype=STR),
                        {"long_name": "network (label of the config entry)"})
        c["network_name"] = (NETWORK, np.array([n.name for n in nets], dtype=STR),
                             {"long_name": "network family"})
        c["network_depth"] = (NETWORK, np.array([n.depth for n in nets]),
                              {"long_name": "depth (iterations) of the full network",
                               "units": "1"})
        c["network_layers"] = (NETWORK, np.array(self.layers),
                               {"long_name": "layers of the full network", "units": "1"})
        c["network_weights"] = (NETWORK, np.array(
            [cfg.weights_source(i) for i in range(len(nets))], dtype=STR), {
                "long_name": "source of the l1 weights: signal (w_k = sqrt(s/s_k) from the "
                "sparsity pattern at sparse-in-levels points), params, uniform, none"})
        c[TRIAL] = (TRIAL, np.arange(cfg.trials), {"long_name": "trial (independent draw)"})
        c[DEPTH] = (DEPTH, np.array(self.depths, dtype=np.int64),
                      {"long_name": "depth: number of iterations (operator applications)",
                       "units": "1"})
        if cfg.attack is not None:
            a = cfg.attack
            c[ATTACK_DEPTH] = (ATTACK_DEPTH, np.array(a.depths), {
                "long_name": "depth of the attacked (truncated) network; -1: each network's "
                "own depth (see attacked_depth)", "units": "1"})
            attacked = [[cfg.attacked_depth(n, j)[0] or 0 for j in range(len(a.depths))]
                        for n in range(len(nets))]
            c["attacked_depth"] = (
                (NETWORK, ATTACK_DEPTH), np.array(attacked, dtype=np.int64),
                {"long_name": "depth at which the network is attacked (0: not attacked)",
                 "units": "1"})
            for axis in attack_kind(a.kind).axes:
                c[axis.name] = (axis.name, np.array(axis.values(a)),
                                {"long_name": axis.long_name, "units": axis.units})
        if cfg.examples:
            self._example_coords(c)
        return c

    def _example_coords(self, c: dict) -> None:
        cfg = self.cfg
        ex = cfg.examples
        c[EXAMPLE] = (EXAMPLE, np.arange(len(ex)), {"long_name": "kept example"})
        for i, name in enumerate(cfg.axes):
            values = _coord_values(name, cfg.axes[name])
            c[f"example_{name}"] = (EXAMPLE, values[[e.point[i] for e in ex]],
                                    {"long_name": f"{_AXIS_DOC[name]} of the example"})
        c["example_network"] = (EXAMPLE, np.array(
            [cfg.networks[e.network].label for e in ex], dtype=STR),
            {"long_name": "network of the example"})
        c["example_trial"] = (EXAMPLE, np.array([e.trial for e in ex]),
                              {"long_name": "trial of the example"})
        if cfg.attack is not None:
            c["example_attack_depth"] = (EXAMPLE, np.array(
                [cfg.attack.depths[e.attack_depth] for e in ex]), {
                    "long_name": "attack depth of the example (-1: the network's own depth)",
                    "units": "1"})
        records = self._records()
        if records:
            kept = attack_kind(cfg.attack.kind).kept
            c[ATTACK_RECORD] = (ATTACK_RECORD, np.array(records),
                                {"long_name": kept.long_name, "units": kept.units})
        rows, cols = self.image_shape
        c[ROW] = (ROW, np.arange(rows), {"long_name": "image row (1-D signals: one row)"})
        c[COL] = (COL, np.arange(cols), {"long_name": "image column"})

    def template(self) -> xr.Dataset:
        """The full dataset, lazily filled (NaN / "" / 0), chunked one block per chunk."""
        import dask.array  # only here: reading a store must not pay for importing dask

        coords = self.coords()
        sizes = {dim: len(v[1]) for dim, v in coords.items() if v[0] == dim}
        data_vars = {}
        block = self._dim_block()
        for name, (dims, dtype, units, long_name, _, comment) in self.variables().items():
            shape = tuple(sizes[d] for d in dims)
            chunks = tuple(block.get(d, sizes[d]) for d in dims)
            fill = "" if dtype is STR else np.nan
            attrs = {"long_name": long_name}
            if units is not None:
                attrs["units"] = units
            if comment is not None:
                attrs["comment"] = comment
            data_vars[name] = (dims, dask.array.full(shape, fill, dtype=dtype, chunks=chunks),
                               attrs)
        shape = tuple(sizes[d] for d in self.cell_dims)
        checksum, done = (variable(name) for name in (CHECKSUM, "done"))
        data_vars[CHECKSUM] = (self.cell_dims,
                               dask.array.zeros(shape, dtype=checksum.dtype,
                                                chunks=self.cell_block),
                               {"long_name": checksum.long_name, "units": checksum.units})
        data_vars["done"] = (self.cell_dims,
                             dask.array.zeros(shape, dtype=done.dtype, chunks=self.cell_block),
                             {"units": done.units, "long_name": done.long_name,
                              "flag_values": [0, 1, 2], "flag_meanings": DONE_MEANINGS})
        attrs = provenance(self.cfg)
        if self.blocked:
            attrs[BLOCK_ATTR] = list(self.cell_block)
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    def _dim_block(self) -> dict[str, int]:
        """Block size per cell dim (and 1 per example): a variable's chunks."""
        return {**dict(zip(self.cell_dims, self.cell_block, strict=True)), EXAMPLE: 1}

    def write_template(self, path) -> None:
        """Write the store's metadata and coordinates (no data) at ``path``."""
        import warnings

        ds = self.template()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False)

    def region(self, cell: Cell, group: str) -> dict[str, slice]:
        lead = self.groups()[group]
        index = dict(zip(self.cell_dims, cell.index, strict=True))
        return {d: slice(index[d], index[d] + 1) for d in lead}


def cell_block(cfg: SweepConfig, shape: tuple[int, ...], arrays: int) -> tuple[int, ...]:
    """The block shape of a new store: cells per block along each cell dim.

    A block holds ``cfg.cells_per_block`` cells or, by default,
    ``min(ceil(arrays / FILES_PER_CELL), cells // MIN_TASKS)`` (at least 1): one file per
    array per block gives at most :data:`FILES_PER_CELL` files per cell, and a sweep
    with few cells keeps blocks small (where files do not matter, and the old layout of
    one cell per block stays). The block takes whole cell dims from the last (attack
    depth, network, the last problem axis, ...) while they fit, then splits the next
    into as few equal pieces as keep the target on *average* (the grid's edge blocks
    included), so a block may hold more cells than the target.

    Parameters
    ----------
    cfg : SweepConfig
    shape : tuple of int
        The cell grid's shape (:attr:`Layout.cell_shape`).
    arrays : int
        Arrays a cell writes into (:meth:`Layout.cell_arrays`).
    """
    total = math.prod(shape)
    target = cfg.cells_per_block or max(1, min(math.ceil(arrays / FILES_PER_CELL),
                                               total // MIN_TASKS))
    block = [1] * len(shape)
    cells = 1
    for k in reversed(range(len(shape))):
        if cells * shape[k] <= target:
            block[k] = shape[k]
            cells *= shape[k]
        else:  # pieces of the same size whose average holds at least the target
            pieces = max(1, shape[k] * cells // target)
            block[k] = math.ceil(shape[k] / pieces)
            break
    return tuple(block)


def stored_block(attrs: dict, cell_dims: tuple[str, ...]) -> tuple[int, ...]:
    """The block shape a store was written with (its :data:`BLOCK_ATTR`; all ones when
    absent: the layout of stores written before blocks existed)."""
    block = attrs.get(BLOCK_ATTR)
    if block is None:
        return (1,) * len(cell_dims)
    return tuple(int(b) for b in block)


_AXIS_DOC = {
    "transform": "measurement transform U",
    "resolution": "image side n = 2^r",
    "dim": "image dimension d",
    "wavelet": "wavelet of the sparsifying transform W",
    "scheme": "multilevel sampling scheme",
    "rate": "sampling rate m / N",
    "budgets": "samples per band (comma-separated, band-label order)",
    "signal": "signal kind",
    "sparsity": "local sparsities s_k (comma-separated, per level)",
    "image": "test image",
    "complex": "complex-valued sparse coefficients",
    "details": "small low-contrast details in the ellipse phantoms",
    "mask_from": "model file whose sampling mask every trial measures with",
    "noise": "relative noise level ||e|| / ||A x||",
}


def _sparsity_coords(cfg: SweepConfig) -> dict[str, Any]:
    """Numeric companions of the sparsity labels: total s and the pattern per level.

    The ``sparsity`` axis keeps its labels ("2,4,6,8,8", the cells' keys); next to it
    ``sparsity_total`` (s = Σ_k s_k) and ``sparsity_pattern`` (sparsity, level) let
    ``ds.swap_dims(sparsity="sparsity_total")`` select and plot numerically.
    """
    swept = "sparsity" in cfg.axes
    values = cfg.axes["sparsity"] if swept else [cfg.fixed.get("sparsity")]
    patterns = [tuple(v) if isinstance(v, (tuple, list)) else None for v in values]
    if any(p is None or not all(isinstance(k, (int, np.integer)) for k in p)
           for p in patterns):
        return {}
    width = max(len(p) for p in patterns)
    table = np.zeros((len(patterns), width), dtype=np.int64)
    for i, p in enumerate(patterns):
        table[i, : len(p)] = p
    totals = table.sum(axis=1)
    lead = ("sparsity",) if swept else ()
    if not swept:
        table, totals = table[0], totals.reshape(())
    return {
        "level": ("level", np.arange(1, width + 1, dtype=np.int64),
                  {"long_name": "sparsity level k", "units": "1"}),
        "sparsity_total": (lead, totals,
                           {"long_name": "total sparsity s = sum_k s_k", "units": "1"}),
        "sparsity_pattern": ((*lead, "level"), table,
                             {"long_name": "sparsity s_k in level k (0: no such level)",
                              "units": "1"}),
    }


def _coord_values(name: str, values) -> np.ndarray:
    if name in PATTERN_AXES:
        return np.array([pattern_label(v) for v in values], dtype=STR)
    arr = np.asarray(values)
    if arr.dtype.kind in "UO":
        return arr.astype(STR)
    return arr
