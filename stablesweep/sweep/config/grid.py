"""Cells of a sweep and the seeds derived from their coordinates.

A *cell* is one grid point x one network (x one attack depth, when an attack is
configured); the trials run inside the cell. Cells are the unit of work of the Dask
executor and of the resume bookkeeping (the ``done`` marker of the store).

Seeds
    Every random stream of a trial is seeded from the *values* of the coordinates it
    depends on (never from indices, worker, order or global state)::

        SeedSequence([global seed, trial, *sha256(canonical JSON of {stream, coords})])

    The streams and their coordinates:

    ``mask``
        transform, resolution, dim, scheme, rate, budgets, sparsity (the theory budget
        uses it); a mask read from a model file (``sampling.mask_from``) is fixed and
        uses no randomness;
    ``signal``
        resolution, dim, wavelet, signal, sparsity, image, complex;
    ``noise``
        all problem coordinates except ``mask_from`` and ``details``;
    ``attack``
        the noise stream's coordinates, the network label and the depth actually
        attacked (for the ``-1`` "own depth" entry: the network's depth).

    So the mask and the signal of a trial are the same for every network and every
    noise level (paired comparisons), and adding a value to an axis changes no other
    cell's numbers. ``mask_from`` (a path: moving the file changes no numbers) and
    ``details`` are left out of every stream: an ellipse phantom with details is the
    one without plus the details (:func:`stablesweep.signals.ellipse_phantom`), and
    its noise and attack start are drawn from the same seeds; configs without these
    keys keep the seeds they had before the keys existed. Attacking a network at the
    same depth gives the same numbers whether that depth was given in
    ``attack.depths`` or is its own depth.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .axes import AXIS_NAMES
from .specs import SweepConfig, canonical_json

#: Problem coordinates that seed no random stream (see the module docstring).
SEED_NEUTRAL = ("mask_from", "details")
_SEEDED = tuple(name for name in AXIS_NAMES if name not in SEED_NEUTRAL)

__all__ = ["Cell", "STREAM_KEYS", "cell_box", "cells", "stream_seed", "torch_seed"]

#: The problem coordinates each random stream depends on.
STREAM_KEYS: dict[str, tuple[str, ...]] = {
    "mask": ("transform", "resolution", "dim", "scheme", "rate", "budgets", "sparsity"),
    "signal": ("resolution", "dim", "wavelet", "signal", "sparsity", "image", "complex"),
    "noise": _SEEDED,
    "attack": _SEEDED,
}


@dataclass(frozen=True)
class Cell:
    """One unit of work: a grid point, a network and (optionally) an attack depth.

    Attributes
    ----------
    point : tuple of int
        Index along each swept problem axis (in ``SweepConfig.axes`` order).
    network : int
        Index into ``SweepConfig.networks``.
    attack_depth : int or None
        Index into ``SweepConfig.attack.depths`` (None without an attack). The depth
        actually attacked (or none: skipped) is
        :meth:`SweepConfig.attacked_depth(network, attack_depth)
        <stablesweep.sweep.config.SweepConfig.attacked_depth>`.
    """

    point: tuple[int, ...]
    network: int
    attack_depth: int | None = None

    @property
    def index(self) -> tuple[int, ...]:
        """Position in the ``done`` marker array (point axes, network[, attack_depth])."""
        tail = () if self.attack_depth is None else (self.attack_depth,)
        return (*self.point, self.network, *tail)

    @property
    def key(self) -> str:
        """A stable name, e.g. ``cell-0.1-2-0`` (also the Dask task key prefix)."""
        return "cell-" + "-".join([".".join(map(str, self.point)) or "0", str(self.network),
                                   "" if self.attack_depth is None else str(self.attack_depth)]
                                  ).rstrip("-")

    @property
    def runs_forward(self) -> bool:
        """Whether this cell records the un-attacked metrics (rel_error, residual, ...).

        With an attack, the cell at the first entry of the attack-depth axis does (also
        when the network is skipped there); the others only attack.
        """
        return self.attack_depth in (None, 0)


def cells(cfg: SweepConfig) -> list[Cell]:
    """All cells of a sweep, in C order of (point axes, network, attack depth)."""
    depths: list[int | None] = (
        list(range(len(cfg.attack.depths))) if cfg.attack is not None else [None]
    )
    points = itertools.product(*(range(len(v)) for v in cfg.axes.values()))
    return [
        Cell(tuple(p), n, a)
        for p, n, a in itertools.product(points, range(len(cfg.networks)), depths)
    ]


def cell_box(cells: list[Cell]) -> tuple[np.ndarray, np.ndarray]:
    """The smallest box of the cell grid that holds ``cells``: ``(low, high)`` indices
    along the ``done`` marker's dims (``high`` exclusive)."""
    index = np.array([c.index for c in cells])
    return index.min(axis=0), index.max(axis=0) + 1


def stream_seed(
    seed: int, trial: int, stream: str, coords: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> np.random.SeedSequence:
    """Seed of one random stream of one trial.

    Parameters
    ----------
    seed : int
        Global seed of the config.
    trial : int
        Trial index.
    stream : {"mask", "signal", "noise", "attack"}
        Which stream (see the module docstring for the coordinates each uses).
    coords : mapping
        All problem parameters of the grid point (only the stream's keys are used).
    extra : mapping, optional
        More coordinates (the attack stream's network label and attacked depth).

    Returns
    -------
    numpy.random.SeedSequence
    """
    keys = STREAM_KEYS[stream]
    payload = {"stream": stream, **{k: _plain(coords[k]) for k in keys if k in coords}}
    if extra:
        payload.update({k: _plain(v) for k, v in extra.items()})
    digest = hashlib.sha256(canonical_json(payload).encode()).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.SeedSequence([int(seed), int(trial), *words])


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def torch_seed(seq: np.random.SeedSequence) -> int:
    """A 63-bit integer seed for a :class:`torch.Generator` from a seed sequence."""
    hi, lo = (int(w) for w in seq.generate_state(2, dtype=np.uint32))
    return (hi & 0x7FFFFFFF) << 32 | lo
