r"""Reconstruction networks: unrolled solvers as :class:`torch.nn.Module` s.

Every network maps measurements ``y`` of shape ``(..., m)`` to an image estimate
``(..., *shape)`` and records the outputs of all its shallower siblings in one pass
(:meth:`~base.IterativeNetwork.iterates`). Depth is the number of iterations (one
``A`` and one ``A^*`` each).

====================  ==============================================================
name                  network
====================  ==============================================================
``"primal-dual"``     ergodic Chambolle–Pock on the weighted square-root LASSO (stable)
``"firenet"``         restarted primal–dual (FIRENET), exponential convergence
``"fista"``           FISTA on the weighted LASSO
``"ista"``            ISTA on the weighted LASSO
``"cp-bp"``           Chambolle–Pock on (quadratically constrained) basis pursuit
``"nesta"``           NESTA (smoothing + continuation) on basis pursuit, needs AA* = I
``"unet"``            trained U-Net post-processing the zero-filled image A*y
``"learned-pd"``      trained unrolled primal–dual / LISTA-style network
``"custom"``          a user's torch module from ``factory="package.module:function"``
====================  ==============================================================

Use :func:`build_network`; :func:`own_problem` and :func:`solve_minimiser`
(:mod:`~stablesweep.networks.minimiser`) give the convex problem an iterative network
solves and its certified minimiser. The registry :data:`NETWORKS` maps names to classes (other
modules may add entries).
"""

from __future__ import annotations

import inspect
from typing import Any

from .core.base import IterativeNetwork, ReconstructionNetwork, operator_norm, resolve_weights
from .core.dense import DenseOperator, dense_matrix
from .core.layer_network import LayerNetwork, evaluate, sqrt_theta
from .cp_bp import ChambollePockBP
from .custom import CustomNetwork
from .firenet import FIRENET
from .fista import FISTA, ISTA
from .learned_pd import LearnedPD
from .minimiser import MinimiserResult, OwnProblem, objective_value, own_problem, solve_minimiser
from .nesta import NESTA
from .primal_dual import PrimalDual
from .unet import UNet

__all__ = [
    "NETWORKS",
    "build_network",
    "trainable_networks",
    "ReconstructionNetwork",
    "IterativeNetwork",
    "PrimalDual",
    "FIRENET",
    "FISTA",
    "ISTA",
    "ChambollePockBP",
    "NESTA",
    "UNet",
    "LearnedPD",
    "CustomNetwork",
    "DenseOperator",
    "dense_matrix",
    "LayerNetwork",
    "evaluate",
    "sqrt_theta",
    "operator_norm",
    "resolve_weights",
    "OwnProblem",
    "MinimiserResult",
    "own_problem",
    "objective_value",
    "solve_minimiser",
]

#: registry: network name -> class (constructor ``cls(A, depth=None, **params)``)
NETWORKS: dict[str, type[ReconstructionNetwork]] = {
    "primal-dual": PrimalDual,
    "firenet": FIRENET,
    "fista": FISTA,
    "ista": ISTA,
    "cp-bp": ChambollePockBP,
    "nesta": NESTA,
    "unet": UNet,
    "learned-pd": LearnedPD,
    "custom": CustomNetwork,
}


def trainable_networks() -> dict[str, type[ReconstructionNetwork]]:
    """The entries of :data:`NETWORKS` marked ``trainable`` (what ``stablesweep train``
    trains), in registry order; entries added at run time count."""
    return {name: cls for name, cls in NETWORKS.items() if getattr(cls, "trainable", False)}


def build_network(
    name: str, A: Any, depth: int | None = None, **params: Any
) -> ReconstructionNetwork:
    r"""Build a network of the registry by name.

    Parameters
    ----------
    name : str
        One of :data:`NETWORKS`.
    A : operator
        Measurement operator (``A(z)``, ``A.adjoint(y)``, ``A.to_image(z)``, ``shape``,
        ``m``, ``dtype``), e.g. :class:`stablesweep.operators.SamplingOperator`.
    depth : int, optional
        Number of iterations (operator applications). For ``"firenet"`` give ``n``
        (restarts) and ``p`` (inner iterations) instead, or ``depth`` with ``p``
        (``n = depth / p``); for ``"primal-dual"`` ``p`` is the depth.
    **params
        Network parameters (see each class), e.g. ``lam``, ``weights`` or ``s``,
        ``tau``, ``sigma``.

    Returns
    -------
    ReconstructionNetwork

    Raises
    ------
    ValueError
        Unknown name (the message lists the allowed ones), unknown parameter, or a bad
        parameter value (checked before any iteration).

    Examples
    --------
    >>> import numpy as np
    >>> from stablesweep.levels import sample_sparse_in_levels
    >>> from stablesweep.operators import SamplingOperator
    >>> from stablesweep.sampling import budgets, multilevel_mask
    >>> shape, s = (16, 16), [1, 2, 3, 4]
    >>> mask = multilevel_mask(shape, "fourier", budgets(shape, "fourier", 100, "theory", s), 0)
    >>> A = SamplingOperator("fourier", mask)
    >>> y = A(sample_sparse_in_levels(shape, s, np.random.default_rng(0)))
    >>> net = build_network("firenet", A, n=20, p=20, s=s, lam=1e-3)
    >>> tuple(net(y).shape)
    (16, 16)
    >>> tuple(net.iterates(y).shape)  # one iterate per restart
    (20, 16, 16)
    """
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; expected one of: {', '.join(NETWORKS)}")
    cls = NETWORKS[name]
    sig = inspect.signature(cls.__init__)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    if not accepts_any:
        allowed = [k for k in sig.parameters if k not in ("self", "A", "depth")]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for network {name!r}; "
                f"expected: {', '.join(allowed)}"
            )
    return cls(A, depth, **params)
