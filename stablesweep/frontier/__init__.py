"""The accuracy–stability frontier (issue 23; DESIGN.md §3): how the way a network is
trained moves it between recovering near-kernel details and amplifying perturbations.

Trained networks (U-Net, learned primal–dual) are trained over a grid — the share of
training images carrying a near-kernel detail, the training noise, the seed — and, for
the visibility sweep, over the details' visibility κ. Each is measured on the same test
pairs :math:`(x, x + \\delta)`, :math:`\\|A\\delta\\| = \\kappa\\|\\delta\\|`, next to
FIRENET, FISTA, the primal–dual network and zero-filling: clean error (relative, PSNR,
SSIM), detail recovery, amplification along :math:`A\\delta` and the converged worst case
at the matched budget, the kernel lower bound, and the worst-case error at the
published budgets :math:`\\|e\\| \\le \\eta\\|y\\|` (Genzel et al., TPAMI 2022;
Gottschling et al., SIAM Review 2025).

Modules, one concept each:

- :mod:`~stablesweep.frontier.config` — the YAML config and the models it names;
- :mod:`~stablesweep.frontier.models` — model files cached by training hash (shipped in
  ``models/<name>``);
- :mod:`~stablesweep.frontier.measure` — the measurements of one model (one workflow job);
- :mod:`~stablesweep.frontier.collect` — the per-model files stacked into ``frontier.nc``;
- :mod:`~stablesweep.frontier.analysis` — the frontier table, the 1/κ slope, the
  robustness table and the verdicts;
- :mod:`~stablesweep.frontier.figures` — the frontier, robustness and visibility figures;
- :mod:`~stablesweep.frontier.report` — ``frontier.md``, the figures, the verdict attrs;
- :mod:`~stablesweep.frontier.estimate` — the cost of a config (``--dry-run``);
- :mod:`~stablesweep.cli.frontier` — ``stablesweep frontier {train,measure,collect,run}``;
  ``workflow/rules/frontier.smk`` runs one job per model.
"""

from stablesweep._lazy import lazy_exports

_EXPORTS = {
    "FrontierConfig": ".config",
    "FrontierConfigError": ".config",
    "ModelSpec": ".config",
    "load_frontier_config": ".config",
    "model_specs": ".config",
    "parse_frontier_config": ".config",
    "reference_specs": ".config",
    "obtain_model": ".models",
    "training_hash": ".models",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
