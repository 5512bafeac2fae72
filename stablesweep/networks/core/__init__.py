"""What every network family is built from (no family lives here).

- :mod:`.base` — :class:`~.base.ReconstructionNetwork` and
  :class:`~.base.IterativeNetwork` (iterates at every depth, truncation, checkpointed
  segments), operator norms, sparsity weights;
- :mod:`.segments` — checkpointed segments of an unrolled loop (recomputed backward);
- :mod:`.prox` — proximal maps and projections (one soft threshold for all);
- :mod:`.kernels` — fused CPU kernels of the primal–dual fast path (numba);
- :mod:`.dense` — dense matrices of operators and a small dense operator;
- :mod:`.layer_network`, :mod:`.layers` — explicit layer forms: affine maps and
  non-linearities, the primal–dual and FIRENET networks written as layers;
- :mod:`.trained` — the common base of the trained networks (model files, masks).

The families (:mod:`stablesweep.networks.primal_dual`, ``firenet``, ``fista``, ``cp_bp``,
``nesta``, ``unet``, ``learned_pd``, ``custom``) import from here, never the reverse.
"""
