"""Sweep engine overhead and scaling: 1 worker vs 2 workers vs a plain loop.

A sweep of 48 cells (2 transforms x 2 noise levels x 6 rates x 2 networks, 64x64, 2
trials per cell; see ``CONFIG``) whose cells take about ``--cell-seconds`` (default
1 s) each: the FISTA / FIRENET depth is calibrated on 8 cells spread over the grid.
Then, in each of ``--rounds`` rounds (default 3; the order of the modes rotates from
round to round), each mode is timed end to end:

* direct loop: :func:`stablesweep.sweep.run.cell.run_cell` on every cell, one PyTorch
  thread, no Dask, no store — in a fresh process (Python start and imports included,
  as a user's own script pays) and, for information, in this process (imports done);
* ``stablesweep run --workers 1`` / ``--workers 2`` into a fresh store, end to end in a
  fresh process (imports, LocalCluster start, store creation, result writes and the
  final consolidation included).

``--tiny`` measures instead what the store and the scheduling cost per cell, on cells
that cost almost nothing (16x16, depth 10, 1 trial; ``--cells``, default 1000): a plain
loop of ``run_cell`` in this process, and :func:`run_sweep` with 1 and 2 workers (the
modes rotate over the rounds). Per cell it reports the client's CPU time (this process:
the client and the LocalCluster's scheduler) while the cells run, the time in the cells
and in writing them on the workers, cells/s, files per cell, and that the stores of 1
and 2 workers are equal. ``--files N`` also runs an N-cell tiny sweep once (2 workers)
and counts its files (target: at most 0.2 per cell at 10,000 cells).

The ratios are taken within each round, between runs minutes apart, and the median
over the rounds is compared with the targets (the range is printed too): the speed-up
(1 worker / 2 workers; target >= 1.7 on 2 cores) and the overhead of the 1-worker sweep
over the fresh-process direct loop (target <= 10%; over the in-process loop for
information). On this 2-core virtual machine the same loop's wall time varies by up to
10% from one run to the next, which is why a single round is not enough. CPU times
(this process plus its finished child processes, i.e. the Dask workers) are printed
for every run.

Run: ``.venv/bin/python benchmarks/sweep.py [--cell-seconds 1.0] [--cells 48]
[--rounds 3]`` or ``.venv/bin/python benchmarks/sweep.py --tiny [--cells 1000]
[--files 10000]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from stablesweep._malloc import tune_malloc
from stablesweep.sweep import load_config
from stablesweep.sweep.config.grid import cells
from stablesweep.sweep.run.cell import run_cell
from stablesweep.sweep.run.execute import make_layout, make_task

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


#: Cells that cost almost nothing: what the store and the scheduling cost shows.
TINY_CONFIG = {
    "experiment": "bench-tiny",
    "seed": 0,
    "trials": 1,
    "problem": {
        "transform": ["fourier", "walsh"],
        "resolution": 16,
        "sampling": {"scheme": "uniform", "rate": [0.5]},
        "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
        "noise": [0.0],
    },
    "networks": [
        {"name": "fista", "depth": 10, "params": {"lam": 1.0e-3}},
        {"name": "firenet", "depth": 10, "params": {"lam": 1.0e-3, "p": 5}},
    ],
}


def tiny_config(n_cells: int) -> dict:
    """:data:`TINY_CONFIG` with about ``n_cells`` cells (2 transforms x 2 networks x
    rates x noise levels)."""
    cfg = copy.deepcopy(TINY_CONFIG)
    per = max(1, n_cells // 4)
    rates = max(d for d in range(1, 51) if per % d == 0 and d * d <= per)
    noises = per // rates
    cfg["problem"]["sampling"]["rate"] = [round(0.2 + 0.01 * i, 2) for i in range(rates)]
    cfg["problem"]["noise"] = [round(1e-4 * i, 4) for i in range(noises)]
    return cfg


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


def direct(cfg, half: int | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of run_cell on every cell (or every other one: ``half``)."""
    layout = make_layout(cfg)
    todo = cells(cfg) if half is None else cells(cfg)[half::2]
    start, cpu = time.perf_counter(), cpu_seconds()
    for cell in todo:
        run_cell(make_task(layout, cell))
    return time.perf_counter() - start, cpu_seconds() - cpu


def _timed_cell(task) -> float:
    """run_cell in a Dask worker, timed there."""
    start = time.perf_counter()
    run_cell(task)
    return time.perf_counter() - start


def decomposition(cfg_data: dict, n_cells: int, tmp: Path) -> None:
    """The 1-worker overhead from parts each measured side by side (minutes-long swings
    of this machine's speed cancel out).

    * per cell: every third cell run here and then in a 1-worker LocalCluster, one after
      the other (submit, compute, result, and the store write the sweep does);
    * fixed: ``stablesweep run --workers 1`` and the fresh-process direct loop on the
      same 48 cells at depth 5 (the cells cost nothing), alternated three times; their
      difference is what starting the cluster, creating and consolidating the store
      and the client's imports cost.
    """
    from stablesweep.sweep.run.block import run_block
    from stablesweep.sweep.run.execute import connect
    from stablesweep.sweep.store import open_or_create

    cfg = load_config(cfg_data)
    layout = make_layout(cfg)
    sample = cells(cfg)[::3]
    store = tmp / "decomposition.zarr"
    open_or_create(store, lambda: layout, cfg)
    local = remote = 0.0
    warm = {cell.network: cell for cell in reversed(sample)}.values()  # one per network
    with connect(1) as client:
        for cell in warm:  # first calls: imports, compiled kernels, cached matrices
            run_cell(make_task(layout, cell))
            client.submit(_timed_cell, make_task(layout, cell), pure=False).result()
        for cell in sample:
            task = make_task(layout, cell)
            start = time.perf_counter()
            run_cell(task)
            local += time.perf_counter() - start
            start = time.perf_counter()  # a one-cell task: the worker writes the cell
            client.submit(run_block, str(store), layout, [cell], "bench", pure=False).result()
            remote += time.perf_counter() - start
    per_cell = (remote - local) / len(sample)

    tiny = config_with_depth(5, n_cells)
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    fixed = []
    for r in range(3):
        base = run([sys.executable, __file__, "--direct-only", "--depth", "5",
                    "--cells", str(n_cells)])[0]
        sweep = run([sys.executable, "-m", "stablesweep.cli", "run", str(path), "--out",
                     str(tmp / f"tiny-{r}.zarr"), "--workers", "1", "--quiet"])[0]
        fixed.append(sweep - base)
    fixed_s = statistics.median(fixed)
    n = len(cells(cfg))
    loop = local / len(sample) * n
    total = fixed_s + per_cell * n
    print(f"side by side: a cell {1e3 * local / len(sample):.0f} ms here, "
          f"{1e3 * per_cell:+.1f} ms through the worker and the store write "
          f"({len(sample)} cells); fixed cost of the sweep command "
          f"{fixed_s:.2f} s (rounds: {min(fixed):.2f}-{max(fixed):.2f})")
    print(f"overhead of the 1-worker sweep from these parts: ({fixed_s:.2f} s + {n} x "
          f"{1e3 * per_cell:.1f} ms) / {loop:.1f} s = {100 * total / loop:.1f}%   "
          f"(target <= 10)  {'OK' if total / loop <= 0.10 else 'MISSED'}")


def calibrate(target: float, n_cells: int) -> int:
    """Depth at which the mean cell of the sweep takes ``target`` seconds.

    Times 8 cells spread over the grid (both networks, both transforms, several rates
    and noise levels) at a trial depth, assumes the cost is affine in the depth, and
    checks the result once.
    """
    depths, means = [], []
    for depth in (100, 200):
        depths.append(depth)
        means.append(_mean_cell_seconds(depth, n_cells))
    slope = (means[1] - means[0]) / (depths[1] - depths[0])
    depth = int(depths[1] + (target - means[1]) / slope)
    for _ in range(2):
        mean = _mean_cell_seconds(depth, n_cells)
        if abs(mean - target) <= 0.05 * target:
            break
        depth = int(depth + (target - mean) / slope)
    return max(5, depth)


def _mean_cell_seconds(depth: int, n_cells: int) -> float:
    cfg = load_config(config_with_depth(depth, n_cells))
    layout = make_layout(cfg)
    every = cells(cfg)
    sample = every[:: max(1, len(every) // 8)][:8]
    run_cell(make_task(layout, sample[0]))  # warm-up
    start = time.perf_counter()
    for cell in sample:
        run_cell(make_task(layout, cell))
    return (time.perf_counter() - start) / len(sample)


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of a command in a fresh process (with all its children)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start, cpu_seconds() - cpu


MODES = ("direct loop, fresh process", "direct loop, in this process",
         "stablesweep run, 1 worker", "stablesweep run, 2 workers",
         "2 direct loops side by side")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-seconds", type=float, default=1.0)
    parser.add_argument("--cells", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--depth", type=int, default=None,
                        help="network depth (default: calibrated to --cell-seconds)")
    parser.add_argument("--direct-only", action="store_true",
                        help="only run the direct loop (used for the fresh-process baseline)")
    parser.add_argument("--half", type=int, choices=(0, 1), default=None,
                        help="with --direct-only: every other cell, from this one")
    parser.add_argument("--no-decomposition", action="store_true",
                        help="skip the side-by-side decomposition of the overhead")
    parser.add_argument("--tiny", action="store_true",
                        help="per-cell costs of the store and the scheduling on tiny cells")
    parser.add_argument("--files", type=int, default=0,
                        help="with --tiny: also count the files of a sweep of this many cells")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tune_malloc()
    if args.tiny:
        tiny(1000 if args.cells == 48 else args.cells, args.rounds, args.files)
        return

    depth = args.depth or calibrate(args.cell_seconds, args.cells)
    cfg_data = config_with_depth(depth, args.cells)
    cfg = load_config(cfg_data)
    if args.direct_only:
        direct(cfg, args.half)
        return
    n = len(cells(cfg))
    print(f"{n} cells, depth {cfg.networks[0].depth}, 2 trials per cell (64x64), "
          f"{args.rounds} round{'s' if args.rounds > 1 else ''}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")

    tmp = Path(tempfile.mkdtemp(prefix="stablesweep-bench-"))
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg_data))

    direct_cmd = [sys.executable, __file__, "--direct-only", "--depth", str(depth),
                  "--cells", str(args.cells)]

    def measure(mode: str, r: int) -> tuple[float, float]:
        if mode == "direct loop, in this process":
            return direct(cfg)
        if mode == "direct loop, fresh process":
            return run(direct_cmd)
        if mode == "2 direct loops side by side":  # the machine's own 2-core scaling
            start, cpu = time.perf_counter(), cpu_seconds()
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            procs = [subprocess.Popen([*direct_cmd, "--half", str(h)], env=env)
                     for h in (0, 1)]
            for proc in procs:
                if proc.wait() != 0:
                    raise subprocess.CalledProcessError(proc.returncode, proc.args)
            return time.perf_counter() - start, cpu_seconds() - cpu
        workers = 1 if "1 worker" in mode else 2
        return run([sys.executable, "-m", "stablesweep.cli", "run", str(path), "--out",
                    str(tmp / f"w{workers}-{r}.zarr"), "--workers", str(workers), "--quiet"])

    rounds: list[dict[str, tuple[float, float]]] = []
    try:
        for r in range(args.rounds):
            order = MODES[r % len(MODES):] + MODES[: r % len(MODES)]
            rounds.append({mode: measure(mode, r) for mode in order})
            print(f"round {r + 1}: " + ", ".join(
                f"{mode.replace('stablesweep run, ', '')} {rounds[-1][mode][0]:.1f} s"
                for mode in MODES), flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        report(rounds, n)
        if not args.no_decomposition:
            decomposition(cfg_data, args.cells, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def store_files(store: Path) -> int:
    return sum(1 for p in store.rglob("*") if p.is_file())


def summarise(rounds: list[dict[str, dict[str, float]]], names: list[str], n: int,
              tmp: Path) -> None:
    """Medians over the rounds of the ``--tiny`` modes, the targets, store equality."""
    import numpy as np
    import xarray as xr

    med = {m: {k: statistics.median(rd[m][k] for rd in rounds) for k in rounds[0][m]}
           for m in names}
    plain = med[names[0]]["wall"] / n
    print(f"plain loop: {1e3 * plain:.2f} ms per cell ({n / med[names[0]]['wall']:.0f} "
          "cells/s)")
    print(f"{'':22s} {'cells/s':>8s} {'cells/s':>8s} {'client':>8s} {'capacity':>9s} "
          f"{'cell':>7s} {'write':>7s} {'files':>6s}")
    print(f"{'':22s} {'(cells)':>8s} {'(e2e)':>8s} {'ms/cell':>8s} {'cells/s':>9s} "
          f"{'ms':>7s} {'ms':>7s} {'/cell':>6s}")
    for m in names[1:]:
        d = med[m]
        print(f"{m:22s} {n / d['work']:8.0f} {n / d['wall']:8.0f} "
              f"{1e3 * d['client'] / n:8.3f} {n / d['client']:9.0f} "
              f"{1e3 * d['cells'] / n:7.2f} {1e3 * d['write'] / n:7.2f} {d['files']:6.2f}")
    client = med[names[2]]["client"] / n
    print(f"client time per cell with 2 workers: {1e3 * client:.3f} ms, capacity "
          f"{1 / client:.0f} cells/s   (target <= 1 ms, >= 1000 cells/s)  "
          f"{'OK' if client <= 1e-3 else 'MISSED'}")
    one, two = (med[m]["work"] for m in names[1:])
    gains = [rd[names[1]]["work"] / rd[names[2]]["work"] for rd in rounds]
    print(f"2 workers / 1 worker, cells phase: {one / two:.2f}x faster (rounds "
          f"{min(gains):.2f}-{max(gains):.2f}); end to end "
          f"{med[names[1]]['wall'] / med[names[2]]['wall']:.2f}x   (target > 1)  "
          f"{'OK' if one > two else 'MISSED'}")
    a, b = (xr.open_zarr(tmp / f"w{w}-0.zarr") for w in (1, 2))
    for name in a.data_vars:
        if name not in ("wall_time", "checksum"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    print("stores of 1 and 2 workers: equal (every variable but the wall times)")


def tiny(n_cells: int, n_rounds: int, files_cells: int) -> None:
    """The ``--tiny`` benchmark (see the module docstring)."""
    import numpy as np

    from stablesweep.sweep import run_sweep

    cfg = load_config(tiny_config(n_cells))
    layout = make_layout(cfg)
    every = cells(cfg)
    n = len(every)
    print(f"{n} tiny cells (16x16, depth 10, 1 trial), blocks of "
          f"{int(np.prod(layout.cell_block))} cells ({layout.cell_block}), {n_rounds} rounds; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    tmp = Path(tempfile.mkdtemp(prefix="stablesweep-tiny-"))
    for cell in every[:4]:  # warm-up: imports, cached operators
        run_cell(make_task(layout, cell))

    def loop() -> dict[str, float]:
        start = time.perf_counter()
        for cell in every:
            run_cell(make_task(layout, cell))
        return {"wall": time.perf_counter() - start}

    def sweep(workers: int, r: int) -> dict[str, float]:
        out = tmp / f"w{workers}-{r}.zarr"
        s = run_sweep(cfg, out, workers=workers, progress=False)
        assert s.computed == n and s.lost == 0, s
        return {"wall": s.seconds, "work": s.work_seconds, "client": s.client_cpu_seconds,
                "cells": s.cell_seconds, "write": s.write_seconds,
                "files": store_files(out) / n}

    modes = {"plain loop (this process)": loop,
             "run_sweep, 1 worker": lambda r: sweep(1, r),
             "run_sweep, 2 workers": lambda r: sweep(2, r)}
    names = list(modes)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        if n_rounds == 0:  # only the file count (--files)
            names, rounds = [], []
        for r in range(n_rounds):
            order = names[r % 3:] + names[: r % 3]
            rounds.append({m: (modes[m]() if m.startswith("plain") else modes[m](r))
                           for m in order})
        if rounds:
            summarise(rounds, names, n, tmp)
        if files_cells:
            big = load_config(tiny_config(files_cells))
            nb = len(cells(big))
            s = run_sweep(big, tmp / "files.zarr", workers=2, progress=False)
            per = store_files(tmp / "files.zarr") / nb
            blk = make_layout(big, tmp / "files.zarr").cell_block
            print(f"{nb} cells, 2 workers, blocks of {int(np.prod(blk))}: {s.seconds:.1f} s "
                  f"({nb / s.work_seconds:.0f} cells/s), {per:.3f} files per cell, client "
                  f"{1e3 * s.client_cpu_seconds / nb:.3f} ms per cell   (target <= 0.2 "
                  f"files per cell)  {'OK' if per <= 0.2 else 'MISSED'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(rounds: list[dict[str, tuple[float, float]]], n: int) -> None:
    """Medians over the rounds, and the ratios taken within each round."""
    print(f"{'':32s} {'wall [s], median (min-max)':>28s} {'CPU [s], median':>16s}"
          f" {'per cell':>9s}")
    for mode in MODES:
        wall = [rd[mode][0] for rd in rounds]
        cpu = [rd[mode][1] for rd in rounds]
        print(f"{mode:32s} {statistics.median(wall):12.2f} ({min(wall):6.2f}-{max(wall):6.2f})"
              f" {statistics.median(cpu):16.2f} {statistics.median(wall) / n:8.2f}s")

    def ratio_line(label: str, values: list[float], target: str, ok: bool) -> None:
        spread = f" (rounds: {min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
        print(f"{label}: {statistics.median(values):.2f}{spread}   (target {target})  "
              f"{'OK' if ok else 'MISSED'}")

    one, two = "stablesweep run, 1 worker", "stablesweep run, 2 workers"
    speedups = [rd[one][0] / rd[two][0] for rd in rounds]
    ratio_line("speed-up 1 -> 2 workers", speedups, ">= 1.7", statistics.median(speedups) >= 1.7)
    ceiling = [rd[MODES[0]][0] / rd[MODES[4]][0] for rd in rounds]
    spread = f" (rounds: {min(ceiling):.2f}-{max(ceiling):.2f})" if len(ceiling) > 1 else ""
    print(f"the machine's own scaling, 1 direct loop / 2 side by side: "
          f"{statistics.median(ceiling):.2f}{spread}   (information: the ceiling of the above)")
    for label, base, verdict in (("a fresh-process", MODES[0], True),
                                 ("an in-process", MODES[1], False)):
        over = [100 * (rd[one][0] / rd[base][0] - 1) for rd in rounds]
        over_cpu = statistics.median(100 * (rd[one][1] / rd[base][1] - 1) for rd in rounds)
        med = statistics.median(over)
        text = (f"overhead of the 1-worker sweep over {label} direct loop [%]: {med:.1f} "
                f"wall (rounds: {min(over):.1f} to {max(over):.1f}), {over_cpu:.1f} CPU")
        if verdict:
            print(f"{text}   (target <= 10)  {'OK' if med <= 10 else 'MISSED'}")
        else:
            print(f"{text}   (information: the sweep pays its imports, this loop does not)")


if __name__ == "__main__":
    main()
