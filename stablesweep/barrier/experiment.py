r"""The K-digits experiment: trained LISTA networks and FIRENET on inexact input.

For every :math:`(K, n)` of the grid (:mod:`stablesweep.barrier.problem`):

1. train a LISTA network (``layers`` layers) on ``train`` samples :math:`(y_i, x_i^{(j)})`
   of the problem with head index :math:`j` (validation ``validation`` samples) — the
   training data are exact for :math:`A_j`, which is within :math:`2^{-n}` of
   :math:`A_{j'}`;
2. test it on ``test`` unseen samples of the problem with the other index :math:`j'`
   (the same measurements :math:`y`, since :math:`\|a\|` does not depend on the index,
   but the minimiser :math:`x^{(j')}`), and report the mean distance
   :math:`\|\Psi(y) - x^{(j')}\|_2` to the true minimiser;
3. run FIRENET (``p`` inner iterations, ``n`` restarts, :math:`\delta`) on the matrix
   it is given, :math:`A_j`, with :math:`L_A = \|A_j\|_2`, and report the same distance.

Next to them the table lists :math:`10^{-K}`, :math:`\|A_j - A_{j'}\|_2` and
:math:`2^{-n}`, the distance between the two minimisers, and the distances to the
minimiser of the problem each method was given (:math:`x^{(j)}`). Neither method can
have :math:`K` correct digits on both problems: the inputs agree to :math:`2^{-n}` while
the minimisers are :math:`\approx 3\cdot 10^{-K}` apart.

The parts: :mod:`~stablesweep.barrier.config` (the config), :mod:`~stablesweep.barrier.lista`
(LISTA and its training), :mod:`~stablesweep.barrier.table` (the table files) and
:mod:`~stablesweep.barrier.problem` (the problems); this module runs the grid.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import (
    DEFAULTS,
    QUICK,
    BarrierConfig,
    load_barrier_config,
    parse_barrier_config,
    parse_number,
)
from .lista import LISTA, experiment_seeds, train_lista
from .problem import BarrierProblem
from .table import COLUMNS, write_table

__all__ = [
    "COLUMNS",
    "DEFAULTS",
    "LISTA",
    "QUICK",
    "BarrierConfig",
    "load_barrier_config",
    "parse_barrier_config",
    "run_experiment",
    "train_lista",
    "write_table",
]


def _firenet(problem: BarrierProblem, cfg: BarrierConfig, y: torch.Tensor) -> np.ndarray:
    from stablesweep.networks import build_network

    A = problem.operator()
    L = A.norm()
    fc = cfg.firenet
    lam = parse_number("problem.lam", cfg.data["problem"]["lam"])
    net = build_network("firenet", A, n=int(fc["n"]), p=int(fc["p"]), lam=lam,
                        delta=parse_number("firenet.delta", fc["delta"]), tau=1.0 / L,
                        sigma=1.0 / L, L_A=L)
    with torch.no_grad():
        return net(y).numpy()


def run_experiment(
    cfg: BarrierConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Run the K-digits experiment and write the table.

    Parameters
    ----------
    cfg : BarrierConfig
    out : path-like
        Output folder: ``table.csv``, ``table.md``, ``table.html``, ``summary.json`` and
        ``models/lista-K<K>-n<n>.pt`` (reused by a rerun with the same settings).
    progress : bool
        tqdm progress bar over all LISTA optimizer steps.
    log : callable or None
        One line per grid point.

    Returns
    -------
    list of dict
        One row per :math:`(K, n)` (the CSV columns, see :data:`COLUMNS`).
    """
    say = log or (lambda _m: None)
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    lc = cfg.lista
    steps = math.ceil(int(lc["train"]) / int(lc["batch_size"])) * int(lc["epochs"])
    grid = [(K, n) for K in cfg.Ks for n in cfg.ns]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps * len(grid), desc="k-digits LISTA", unit="step",
                   dynamic_ncols=True)
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    sparsity = int(cfg.data["problem"]["sparsity"])
    try:
        for K, n in grid:
            P = cfg.problem(K, n)
            Q = P.other()
            res = train_lista(P, cfg, path=out / "models" / f"lista-K{K}-n{n}.pt",
                              progress=(lambda k: bar.update(k)) if bar is not None else None)
            if res.loaded and bar is not None:
                bar.update(steps)
            tails = P.sample_tails(int(lc["test"]),
                                   np.random.default_rng(experiment_seeds(cfg.seed, K, n)["test"]),
                                   sparsity)
            y = torch.from_numpy(Q.measurements(tails))
            assert np.allclose(y.numpy(), P.measurements(tails), rtol=0, atol=1e-12)
            x_true, x_given = Q.minimisers(tails), P.minimisers(tails)
            with torch.no_grad():
                lista_out = res.net(y).numpy()
            t0 = time.perf_counter()
            fire_out = _firenet(P, cfg, y)
            fire_s = time.perf_counter() - t0

            def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                return np.linalg.norm(a - b, axis=1)

            row = {
                "K": K, "n": n, "j": P.j, "j_other": Q.j,
                "ten_to_minus_K": 10.0 ** (-K),
                "two_to_minus_n": 2.0 ** (-n),
                "matrix_distance": float(np.linalg.norm(P.matrix - Q.matrix, 2)),
                "minimiser_distance": float(np.linalg.norm(x_true[0] - x_given[0])),
                "lista_error": float(dist(lista_out, x_true).mean()),
                "lista_error_max": float(dist(lista_out, x_true).max()),
                "lista_error_own": float(dist(lista_out, x_given).mean()),
                "firenet_error": float(dist(fire_out, x_true).mean()),
                "firenet_error_max": float(dist(fire_out, x_true).max()),
                "firenet_error_own": float(dist(fire_out, x_given).mean()),
                "lista_train_seconds": res.seconds,
                "firenet_seconds": fire_s,
            }
            row["lista_k_digits"] = bool(row["lista_error_max"] < 10.0 ** (-K))
            row["firenet_k_digits"] = bool(row["firenet_error_max"] < 10.0 ** (-K))
            rows.append(row)
            say(f"[k-digits] K={K} n={n}: LISTA {row['lista_error']:.3e} "
                f"(own problem {row['lista_error_own']:.3e}), FIRENET "
                f"{row['firenet_error']:.3e}, 10^-K = {10.0 ** (-K):.0e}, "
                f"||A_j - A_j'|| = {row['matrix_distance']:.2e}"
                + (" (loaded)" if res.loaded else f", trained in {res.seconds:.1f} s"))
    finally:
        if bar is not None:
            bar.close()
    write_table(rows, out)
    summary = {"config": cfg.data, "config_hash": cfg.hash, "rows": rows,
               "seconds": time.perf_counter() - t_all}
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "summary.json")
    return rows
