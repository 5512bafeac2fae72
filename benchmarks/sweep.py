"""Sweep engine overhead and scaling: 1 worker vs 2 workers vs a plain loop.

A sweep of 48 cells (2 transforms x 2 noise levels x 6 rates x 2 networks, 64x64, 2
trials per cell; see ``CONFIG``) whose cells take about ``--cell-seconds`` (default
1 s) each: the FISTA / FIRENET depth is calibrated on two cells first. Then, each timed end to end:

* ``direct``: :func:`stablesweep.sweep.cell.run_cell` on every cell in a loop, in this
  process, one PyTorch thread (no Dask, no store);
* ``1 worker`` / ``2 workers``: ``run_sweep`` into a fresh store (LocalCluster start,
  store creation, result writes and the final consolidation included).

Prints the wall times, the speed-up (1 worker / 2 workers; target >= 1.7 on 2 cores)
and the overhead of the 1-worker sweep over the direct loop (target <= 10%), with the
client's share (cluster start, writes). It also prints the CPU time of each mode (this
process plus its finished child processes, i.e. the Dask workers), whose ratio is the
overhead in work done and does not depend on other load on the machine; wall-clock
figures need an otherwise idle machine (the load average is printed).

Run: ``.venv/bin/python benchmarks/sweep.py [--cell-seconds 1.0] [--cells 48]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import torch

from stablesweep.sweep import load_config, run_sweep
from stablesweep.sweep.cell import run_cell
from stablesweep.sweep.execute import make_layout, make_task
from stablesweep.sweep.grid import cells

CONFIG = {
    "experiment": "bench",
    "seed": 0,
    "trials": 2,
    "problem": {
        "transform": ["fourier", "walsh"],
        "resolution": 64,
        "sampling": {"scheme": "uniform", "rate": [0.2, 0.3, 0.4]},
        "signal": {"kind": "sparse-in-levels", "sparsity": [2, 4, 8, 8, 8, 8]},
        "noise": [0.0, 0.01],
    },
    "networks": [
        {"name": "fista", "depth": 100, "params": {"lam": 1.0e-3}},
        {"name": "firenet", "depth": 100, "params": {"lam": 1.0e-3, "p": 5}},
    ],
}


def config_with_depth(depth: int, n_cells: int) -> dict:
    cfg = copy.deepcopy(CONFIG)
    p = 5
    depth = max(p, depth - depth % p)
    for net in cfg["networks"]:
        net["depth"] = depth
    rates = max(1, n_cells // (2 * 2 * len(cfg["networks"])))
    cfg["problem"]["sampling"]["rate"] = [round(0.2 + 0.02 * i, 2) for i in range(rates)]
    return cfg


def cpu_seconds() -> float:
    """CPU time of this process and of its terminated, waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def direct(cfg) -> tuple[float, float]:
    layout = make_layout(cfg)
    start, cpu = time.perf_counter(), cpu_seconds()
    for cell in cells(cfg):
        run_cell(make_task(layout, cell))
    return time.perf_counter() - start, cpu_seconds() - cpu


def calibrate(target: float) -> int:
    depth = 100
    for _ in range(3):
        cfg = load_config(config_with_depth(depth, 16))
        layout = make_layout(cfg)
        run_cell(make_task(layout, cells(cfg)[0]))  # warm-up
        t = min(_time_cell(cfg, layout) for _ in range(2))
        new = int(depth * target / t)
        if abs(new - depth) < 0.1 * depth:
            return new
        depth = new
    return depth


def _time_cell(cfg, layout) -> float:
    start = time.perf_counter()
    for cell in cells(cfg)[:2]:  # a fista and a firenet cell
        run_cell(make_task(layout, cell))
    return (time.perf_counter() - start) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-seconds", type=float, default=1.0)
    parser.add_argument("--cells", type=int, default=48)
    parser.add_argument("--depth", type=int, default=None,
                        help="network depth (default: calibrated to --cell-seconds)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    depth = args.depth or calibrate(args.cell_seconds)
    cfg = load_config(config_with_depth(depth, args.cells))
    n = len(cells(cfg))
    print(f"{n} cells, depth {cfg.networks[0].depth}, 2 trials per cell (64x64)")

    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")
    t_direct, c_direct = direct(cfg)
    print(f"direct loop:  {t_direct:7.2f} s wall, {c_direct:7.2f} s CPU  "
          f"({t_direct / n:.2f} s per cell)")
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="stablesweep-bench-"))
    try:
        for workers in (1, 2):
            store = tmp / f"w{workers}.zarr"
            start, cpu = time.perf_counter(), cpu_seconds()
            s = run_sweep(cfg, store, workers=workers, progress=False)
            results[workers] = (time.perf_counter() - start, cpu_seconds() - cpu)
            print(f"{workers} worker{'s' if workers > 1 else ' '}:    "
                  f"{results[workers][0]:7.2f} s wall, {results[workers][1]:7.2f} s CPU  "
                  f"(cluster start {s.connect_seconds:.2f} s, writes {s.write_seconds:.2f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    t1, t2 = results[1][0], results[2][0]
    speedup = t1 / t2
    overhead = t1 / t_direct - 1
    for workers in (1, 2):
        print(f"CPU overhead of the {workers}-worker sweep over the direct loop: "
              f"{100 * (results[workers][1] / c_direct - 1):.1f}%")
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x   (target >= 1.7)  "
          f"{'OK' if speedup >= 1.7 else 'MISSED'}")
    print(f"overhead of the 1-worker sweep over the direct loop: {100 * overhead:.1f}%   "
          f"(target <= 10%)  {'OK' if overhead <= 0.10 else 'MISSED'}")


if __name__ == "__main__":
    main()
