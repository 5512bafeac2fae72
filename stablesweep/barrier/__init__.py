"""The K-digits barrier: computing minimisers to K digits from inexact input.

- :class:`BarrierProblem` — the square-root LASSO family of the impossibility theorem
  (matrices within :math:`2^{-n}` whose minimisers are :math:`\\approx 3\\cdot10^{-K}` apart).
- :func:`run_experiment` — train LISTA networks, run FIRENET, write the table
  (``stablesweep barrier --out results/k-digits/``).
"""

from .experiment import (
    LISTA,
    BarrierConfig,
    load_barrier_config,
    parse_barrier_config,
    run_experiment,
    train_lista,
    write_table,
)
from .problem import BarrierProblem, DenseOperator, other_index

__all__ = [
    "LISTA",
    "BarrierConfig",
    "BarrierProblem",
    "DenseOperator",
    "load_barrier_config",
    "other_index",
    "parse_barrier_config",
    "run_experiment",
    "train_lista",
    "write_table",
]
