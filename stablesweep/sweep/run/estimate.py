"""What a sweep will cost, before it runs: the figures ``stablesweep run --dry-run`` prints.

The cost of a cell is counted in *network layers* (one iteration of an iterative
network, or one whole forward pass of a trained one) and converted to seconds by
timing a few layers of every network on this machine, at the grid's largest
resolution:

* the forward cell of a network of depth ``n`` runs ``trials · n`` layers;
* every trial of every cell draws its problem (mask, signal, measurements; timed);
* an attack cell at depth ``a`` runs, per trial, ``3 · a`` layer-equivalents per
  gradient step (a forward pass and its backward pass, about twice as dear), as many
  steps as its kind's cost model says
  (:attr:`~stablesweep.attacks.kind.AttackKind.passes`): ``steps + 1`` for the
  momentum attack, ``budgets · (restarts · (steps + 1) + 1)`` for the worst-case attack
  (``steps`` is its cap: an upper bound where the stopping rule ends the ascent
  earlier), plus ``jacobian_iters + 1`` Jacobian products (default 100, Lanczos) when
  it starts from the Jacobian's top singular vector.

With ``minimiser: true`` every trial of a forward cell also solves its network's own
problem; one solve is timed (it stops at its certificate, so other trials vary). The
timings run on trial 0 of the grid point with the largest resolution. Peak memory
per worker is this process's footprint with the networks built (what a worker holds
before its first cell) plus :func:`~stablesweep.sweep.config.cell_memory_bytes`.

The figures are estimates, meant to tell an hour from a week before the first cell
runs: the timing runs a handful of layers on one problem, and cells also compute image
metrics and examples (for tiny cells the real time can be twice the estimate; measured
on ``quick``: 25 s against 13 s estimated for 18 of its cells).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.grid import Cell, cells
from ..config.load import SweepConfig, cell_memory_bytes

#: A worker's time to write one finished cell into the store (values, checksum, marker:
#: 9-15 ms measured by ``benchmarks/sweep.py --tiny`` on 16x16 cells).
WRITE_SECONDS = 0.012

__all__ = ["SweepEstimate", "estimate_sweep", "layers_per_trial"]

#: Layers timed per network (fewer when the network is shallower).
TIMED_LAYERS = 4


@dataclass
class SweepEstimate:
    """The cost of a sweep's cells (see the module docstring for the model).

    Attributes
    ----------
    cells, done, failed, pending : int
        Cells of the grid; done (``failed``: done with a failed trial) in the store;
        still to compute.
    trials : int
        Trials per cell.
    workers : int
        Worker processes the estimate of the wall time assumes.
    cpu_seconds : float
        Estimated CPU time of the pending cells (one core each).
    seconds_per_layer : dict of str to float
        Measured time of one layer of each network (by label).
    peak_memory_bytes : int
        Estimated peak memory of one worker.
    seconds_per_solve : dict of str to float
        Measured time of one minimiser solve per network (``minimiser: true``; 0 for a
        network without an own problem), counted once per trial of a forward cell.
    """

    cells: int
    done: int
    failed: int
    pending: int
    trials: int
    workers: int
    cpu_seconds: float
    seconds_per_layer: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    seconds_per_solve: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The estimate as the lines ``stablesweep run --dry-run`` prints."""
        wall = self.cpu_seconds / max(self.workers, 1)
        out = [
            f"cells:        {self.cells} ({self.done} done, {self.failed} of them with a "
            f"failed trial; {self.pending} to compute), {self.trials} trials each",
            f"CPU time:     about {_duration(self.cpu_seconds)} for the {self.pending} cells "
            f"to compute; about {_duration(wall)} of wall time on {self.workers} "
            f"worker{'s' if self.workers != 1 else ''}",
            f"memory:       about {self.peak_memory_bytes / 2**30:.2f} GiB peak per worker",
        ]
        if self.seconds_per_layer:
            timed = ", ".join(f"{k} {1e3 * v:.3g} ms"
                              for k, v in self.seconds_per_layer.items())
            out.append(f"one layer:    {timed} (timed here, at the largest resolution)")
        if self.seconds_per_solve:
            timed = ", ".join(f"{k} {v:.3g} s" for k, v in self.seconds_per_solve.items())
            out.append(f"minimiser:    {timed} per solve (timed here on trial 0; the "
                       "solve stops at its certificate, so other trials vary)")
        return out


def layers_per_trial(cfg: SweepConfig, cell: Cell, attack_depth: int | None) -> int:
    """Network layers one trial of ``cell`` runs (the module docstring's count).

    ``attack_depth`` is the depth the cell's attack runs at (``None``: no attack there).
    """
    spec = cfg.networks[cell.network]
    # a trained network's "layer" is its whole forward pass (it has one depth)
    layers = (spec.depth if spec.algorithmic else 1) if cell.runs_forward else 0
    attack = cfg.attack
    if attack is None or attack_depth is None:
        return layers
    depth = attack_depth if spec.algorithmic else 1
    from stablesweep.attacks.registry import attack_kind

    passes = attack_kind(attack.kind).passes(attack)
    return layers + 3 * depth * passes


def _timings(cfg: SweepConfig) -> tuple[dict[str, float], dict[str, float], float]:
    """Seconds per layer of each network, per minimiser solve (``minimiser: true``; by
    network) and per drawn problem (mask, signal, measurements).

    Timed on trial 0 of the grid point with the largest resolution (a real problem of
    the sweep: its mask, signal and noise).
    """
    from ..config.problem import draw_problem, fixed_mask

    index = [0] * len(cfg.axes)
    for i, (name, values) in enumerate(cfg.axes.items()):
        if name == "resolution":
            index[i] = int(np.argmax([int(v) for v in values]))
    point = cfg.point(tuple(index))
    mask = fixed_mask(point["mask_from"]) if point.get("mask_from") is not None else None
    start = time.perf_counter()
    problem = draw_problem(point, cfg.seed, 0, mask)
    draw = time.perf_counter() - start
    layers = {spec.label: _seconds_per_layer(spec, problem.A, problem.y, point)
              for spec in cfg.networks}
    solves = {}
    if cfg.minimiser is not None:
        solves = {spec.label: _seconds_per_solve(spec, problem, point, cfg.minimiser)
                  for spec in cfg.networks}
    return layers, solves, draw


def _seconds_per_solve(spec, problem, point, settings) -> float:
    """Time of one minimiser solve of the network's own problem (0: it has none)."""
    from stablesweep.networks import own_problem, solve_minimiser

    from ..config.networks import build_network

    try:
        own = own_problem(build_network(spec, problem.A, point=point))
        if own is None:
            return 0.0
        # first call: compiled kernels, cached matrices
        solve_minimiser(own, problem.A, problem.y, **{**settings, "max_iter": 20})
        start = time.perf_counter()
        solve_minimiser(own, problem.A, problem.y, **settings)
        return time.perf_counter() - start
    except Exception:  # noqa: BLE001 - the cells will record why
        return float("nan")


def _seconds_per_layer(spec, A, y, point) -> float:
    """One layer's time (NaN when the network cannot be built: validation said why)."""
    import torch

    from ..config.networks import build_network

    if not spec.algorithmic:
        candidates = [spec.depth]
    else:  # a few layers, or the smallest depth the network takes (FIRENET: p)
        candidates = [min(spec.depth, TIMED_LAYERS), spec.params.get("p"), spec.depth]
    for k in dict.fromkeys(c for c in candidates if isinstance(c, int) and c > 0):
        try:
            net = build_network(spec, A, depth=k, point=point)
            with torch.no_grad():
                net(y)  # first call: compiled kernels, cached matrices
                start = time.perf_counter()
                net(y)
                seconds = time.perf_counter() - start
        except Exception:  # noqa: BLE001 - not at this depth; try the next
            continue
        return seconds / (k if spec.algorithmic else 1)
    return float("nan")


def estimate_sweep(cfg: SweepConfig, store: str | Path | None = None,
                   workers: int | None = None) -> SweepEstimate:
    """Estimate the cost of running ``cfg`` (into ``store``, counting its done cells).

    Parameters
    ----------
    cfg : SweepConfig
        A validated config.
    store : path, optional
        The result store; when it exists (and belongs to ``cfg``), its done cells are
        not counted.
    workers : int, optional
        Workers of the wall-time estimate (default: what ``stablesweep run`` starts,
        :func:`~stablesweep.sweep.run.cluster.default_workers`).

    Returns
    -------
    SweepEstimate
        Nothing is computed or written.
    """
    import psutil

    from ..store.dataset import read_done
    from .cluster import default_workers

    all_cells = cells(cfg)
    done = np.zeros(0, dtype=np.int8)
    if store is not None and Path(store, "zarr.json").is_file():
        done = read_done(store)
    marks = [int(done[c.index]) if done.size else 0 for c in all_cells]
    pending = [c for c, m in zip(all_cells, marks, strict=True) if not m]
    per_layer, per_solve, per_draw = _timings(cfg) if pending else ({}, {}, 0.0)
    seconds = 0.0
    for cell, mark in zip(all_cells, marks, strict=True):
        if mark:
            continue
        spec = cfg.networks[cell.network]
        depth = (cfg.attacked_depth(cell.network, cell.attack_depth)[0]
                 if cfg.attack is not None and cell.attack_depth is not None else None)
        layer = per_layer[spec.label]
        seconds += cfg.trials * layers_per_trial(cfg, cell, depth) * (
            layer if np.isfinite(layer) else 0.0)
        seconds += cfg.trials * per_draw  # every cell draws its trials' problems
        seconds += WRITE_SECONDS  # its worker writes it into the store
        solve = per_solve.get(spec.label, 0.0)
        if cell.runs_forward and np.isfinite(solve):
            seconds += cfg.trials * solve
    rss = psutil.Process().memory_info().rss
    return SweepEstimate(
        cells=len(all_cells), done=sum(m > 0 for m in marks), failed=sum(m == 2 for m in marks),
        pending=sum(m == 0 for m in marks), trials=cfg.trials,
        workers=workers or default_workers(), cpu_seconds=seconds,
        seconds_per_layer=per_layer, peak_memory_bytes=int(rss + cell_memory_bytes(cfg)),
        seconds_per_solve=per_solve,
    )


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "an unknown time"
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"
