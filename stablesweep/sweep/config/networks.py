"""A config's network entries built at a grid point: parameters, the network, a probe.

:func:`network_params` adds the point's sparsity pattern as ``s`` (or ``weights``)
where the config's rule says so (see "Sparsity weights" in
:mod:`stablesweep.sweep.config`); :func:`build_network` builds an entry for an
operator through :func:`stablesweep.networks.build_network`; :func:`probe_network`
learns an entry's iterate depths and layers without random draws (for the store's
depth axis and the preflight checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .network_info import sparsity_parameter
from .problem import fixed_mask
from .specs import NetworkSpec

__all__ = ["build_network", "network_params", "probe_network"]


def network_params(spec: NetworkSpec, point: Mapping[str, Any] | None,
                   A: Any = None) -> dict[str, Any]:
    """The network's parameters at a grid point: ``params``, plus the sparsity weights.

    At a point whose signal is ``sparse-in-levels`` with a sparsity pattern, a network
    that takes ``s`` (:func:`~stablesweep.sweep.config.network_info.sparsity_parameter`) and sets
    neither ``s`` nor ``weights`` gets ``s`` = the pattern (weights
    ``w_k = sqrt(s / s_k)``); one that takes only ``weights`` gets that weight map
    (:func:`stablesweep.levels.weight_map` on ``A``). ``params: {s: null}`` keeps the
    uniform weights.
    """
    params = dict(spec.params)
    if (point is None or point.get("signal") != "sparse-in-levels"
            or point.get("sparsity") is None or "s" in params or "weights" in params):
        return params
    name = sparsity_parameter(spec.name, spec.factory)
    s = [int(k) for k in point["sparsity"]]
    if name == "s":
        params["s"] = s
    elif name == "weights" and A is not None:
        from stablesweep.levels import weight_map

        params["weights"] = weight_map(tuple(A.shape), s, levels=getattr(A, "levels", None))
    return params


def build_network(spec: NetworkSpec, A: Any, depth: int | None = None,
                  point: Mapping[str, Any] | None = None):
    """Build a network entry for operator ``A`` (``depth`` defaults to the entry's).

    Every network, ``name: custom`` included, goes through
    :func:`stablesweep.networks.build_network`: a custom ``factory`` is wrapped in
    :class:`~stablesweep.networks.CustomNetwork` (called as ``factory(A, depth=depth,
    **params)`` and probed once), so a plain module mapping y to x works everywhere —
    error at its depth, attacks, examples. With the grid
    ``point``, the parameters are :func:`network_params` (sparsity weights from the
    signal); without it, the entry's ``params`` as they are.
    """
    depth = spec.depth if depth is None else depth
    params = network_params(spec, point, A)
    from stablesweep.networks import build_network as build

    if spec.name == "custom":
        return build("custom", A, depth=depth, factory=spec.factory, **params)
    return build(spec.name, A, depth=depth, **params)


def probe_network(spec: NetworkSpec, point: Mapping[str, Any]) -> tuple[list[int], int]:
    """``(iterate_depths, n_layers)`` of a network at its full depth.

    Built on an operator of the grid point without random draws: the fixed mask of
    ``mask_from`` when given (trained networks refuse any other), else a fully sampled
    one. A network that cannot be built here (its cells will record the error) is
    assumed to have an iterate at every depth ``1..depth``, with ``n_layers = -1``.
    """
    from stablesweep import operators

    n, d = int(point["resolution"]), int(point.get("dim", 2))
    try:
        if point.get("mask_from") is not None:
            mask = fixed_mask(point["mask_from"])
        else:
            mask = np.ones((n,) * d, dtype=bool)
        A = operators.SamplingOperator(point["transform"], mask,
                                       wavelet=point.get("wavelet", "haar"))
        net = build_network(spec, A, point=point)
        return [int(k) for k in net.iterate_depths], int(net.n_layers)
    except Exception:
        return list(range(1, spec.depth + 1)), -1
