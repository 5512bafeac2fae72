"""Sweep engine overhead and scaling: 1 worker vs 2 workers vs a plain loop.

A sweep of 48 cells (2 transforms x 2 noise levels x 6 rates x 2 networks, 64x64, 2
trials per cell; see ``CONFIG``) whose cells take about ``--cell-seconds`` (default
1 s) each: the FISTA / FIRENET depth is calibrated on two cells first. Then, each timed end to end:

* direct loop: :func:`stablesweep.sweep.cell.run_cell` on every cell, one PyTorch
  thread, no Dask, no store — in this process (imports already done) and in a fresh
  process (Python start and imports included, as a user's own loop would pay);
* ``stablesweep run --workers 1`` / ``--workers 2`` into a fresh store, end to end in a
  fresh process (imports, LocalCluster start, store creation, result writes and the
  final consolidation included).

Prints the wall times, the speed-up (1 worker / 2 workers; target >= 1.7 on 2 cores)
and the overhead of the 1-worker sweep over the direct loops (target <= 10%). It also
prints the CPU time of each mode (this
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from stablesweep._malloc import tune_malloc
from stablesweep.sweep import load_config
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


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of a command in a fresh process (with all its children)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-seconds", type=float, default=1.0)
    parser.add_argument("--cells", type=int, default=48)
    parser.add_argument("--depth", type=int, default=None,
                        help="network depth (default: calibrated to --cell-seconds)")
    parser.add_argument("--direct-only", action="store_true",
                        help="only run the direct loop (used for the fresh-process baseline)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tune_malloc()

    depth = args.depth or calibrate(args.cell_seconds)
    cfg_data = config_with_depth(depth, args.cells)
    cfg = load_config(cfg_data)
    if args.direct_only:
        direct(cfg)
        return
    n = len(cells(cfg))
    print(f"{n} cells, depth {cfg.networks[0].depth}, 2 trials per cell (64x64)")
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")

    rows = {}
    rows["direct loop, in this process"] = direct(cfg)
    rows["direct loop, fresh process"] = run(
        [sys.executable, __file__, "--direct-only", "--depth", str(depth),
         "--cells", str(args.cells)])
    tmp = Path(tempfile.mkdtemp(prefix="stablesweep-bench-"))
    try:
        path = tmp / "bench.yaml"
        path.write_text(yaml.safe_dump(cfg_data))
        for workers in (1, 2):
            rows[f"stablesweep run, {workers} worker{'s' if workers > 1 else ''}"] = run(
                [sys.executable, "-m", "stablesweep.cli", "run", str(path), "--out",
                 str(tmp / f"w{workers}.zarr"), "--workers", str(workers), "--quiet"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:32s} {wall:7.2f} s wall  {cpu:7.2f} s CPU  ({wall / n:.2f} s per cell)")

    inproc, fresh, one, two = rows.values()
    speedup = one[0] / two[0]
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x   (target >= 1.7)  "
          f"{'OK' if speedup >= 1.7 else 'MISSED'}")
    for label, base in (("a fresh-process", fresh), ("an in-process", inproc)):
        wall, cpu = one[0] / base[0] - 1, one[1] / base[1] - 1
        print(f"overhead of the 1-worker sweep over {label} direct loop: "
              f"{100 * wall:.1f}% wall, {100 * cpu:.1f}% CPU   (target <= 10%)  "
              f"{'OK' if wall <= 0.10 else 'MISSED'}")


if __name__ == "__main__":
    main()
