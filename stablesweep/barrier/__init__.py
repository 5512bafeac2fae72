"""The K-digits barrier: computing minimisers to K digits from inexact input.

- :class:`BarrierProblem` — the square-root LASSO family of the impossibility theorem
  (matrices within :math:`2^{-n}` whose minimisers are :math:`\\approx 3\\cdot10^{-K}` apart).
- :func:`load_barrier_config` — the config (:mod:`~stablesweep.barrier.config`);
- :func:`run_experiment` — train LISTA networks (:mod:`~stablesweep.barrier.lista`), run
  FIRENET, write the table (:mod:`~stablesweep.barrier.table`)
  (``stablesweep barrier --out results/k-digits/``).
"""


from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that importing
#: the package (e.g. for the CLI's parsers) does not import PyTorch.
_EXPORTS = {
    "LISTA": ".lista",
    "BarrierConfig": ".config",
    "BarrierConfigError": ".config",
    "load_barrier_config": ".config",
    "parse_barrier_config": ".config",
    "run_experiment": ".experiment",
    "train_lista": ".lista",
    "write_table": ".table",
    "BarrierProblem": ".problem",
    "DenseOperator": ".problem",
    "other_index": ".problem",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "LISTA",
    "BarrierConfig",
    "BarrierConfigError",
    "BarrierProblem",
    "DenseOperator",
    "load_barrier_config",
    "other_index",
    "parse_barrier_config",
    "run_experiment",
    "train_lista",
    "write_table",
]
