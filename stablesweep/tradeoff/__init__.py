"""The kernel (accuracy–stability) trade-off experiment (issue 15, item 3; DESIGN.md §3).

If a reconstruction map recovers two images x and x' = x + δ whose difference is nearly
in the kernel of the forward map (‖Aδ‖ = κ‖δ‖, κ ≪ 1), it must amplify the perturbation
e = Aδ by at least (‖δ‖ − 2η)/‖Aδ‖ ≈ 1/κ, η its larger error on the two images. The
experiment trains a U-Net on data with such details (and the same U-Net without them),
once per training seed, and measures, next to FIRENET and FISTA, errors, detail
recovery, the amplification along Aδ, the worst case at the same budget ‖e‖ ≤ ‖Aδ‖ and
that lower bound.

Modules, one concept each:

- :mod:`~stablesweep.tradeoff.config` — the YAML config, validated;
- :mod:`~stablesweep.tradeoff.problem` — the operator (multilevel mask, full centre);
- :mod:`~stablesweep.tradeoff.pairs` — kernel projection, near-kernel details, test pairs;
- :mod:`~stablesweep.tradeoff.training` — the U-Net trained with (or without) details;
- :mod:`~stablesweep.tradeoff.models` — its model files per seed, cached by training hash
  (shipped in ``models/tradeoff-kernel-32``);
- :mod:`~stablesweep.tradeoff.experiment` — the measurements and the run;
- :mod:`~stablesweep.tradeoff.report` — NetCDF, tables and the figure;
- :mod:`~stablesweep.cli.tradeoff` — ``stablesweep tradeoff CONFIG [-o OUTDIR] [--force]``.
"""

from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that importing the
#: package (e.g. for the CLI's parsers) does not import PyTorch.
_EXPORTS = {
    "TradeoffConfig": ".config",
    "TradeoffConfigError": ".config",
    "load_tradeoff_config": ".config",
    "parse_tradeoff_config": ".config",
    "kernel_bound": ".experiment",
    "matched_budget_worst_case": ".experiment",
    "measure_network": ".experiment",
    "obtain_models": ".models",
    "training_hash": ".models",
    "run_experiment": ".experiment",
    "KernelProjector": ".pairs",
    "detail_template": ".pairs",
    "draw_details": ".pairs",
    "make_pairs": ".pairs",
    "near_kernel_detail": ".pairs",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
