"""The ``minimiser`` option of a cell: each network against its own certified minimiser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..config.problem import Problem

__all__ = ["minimiser_metrics"]


def minimiser_metrics(settings: Mapping[str, Any], prob: Problem, net: Any, its: torch.Tensor,
                      idx: np.ndarray, t: int, v: dict) -> None:
    """Trial ``t``'s optimisation error against the network's own minimiser, its
    recovery error, the objective and its gap along the depths ``idx``, and the gap's
    theorem bound, into the cell's arrays ``v`` (the ``minimiser`` group).

    ``settings`` are :func:`stablesweep.networks.solve_minimiser`'s (``tol``,
    ``max_iter``); ``its`` the network's iterates. Networks without an own convex
    problem (trained, custom) keep NaN.
    """
    from stablesweep.networks import own_problem, solve_minimiser
    from stablesweep.networks.minimiser import gap_bound, objective_values

    problem = own_problem(net)
    if problem is None:
        return
    sol = solve_minimiser(problem, prob.A, prob.y, **settings)
    x_norm = float(torch.linalg.vector_norm(prob.x))
    x_hat = sol.x_hat.to(its.dtype)
    dims = tuple(range(-prob.A.d, 0))
    v["opt_error"][t, idx] = (torch.linalg.vector_norm(its - x_hat, dim=dims) / x_norm).numpy()
    v["recovery_error"][t] = float(torch.linalg.vector_norm(x_hat - prob.x)) / x_norm
    v["minimiser_objective"][t] = float(np.asarray(sol.objective))
    v["minimiser_certificate"][t] = float(np.asarray(sol.certificate))
    objective = objective_values(problem, prob.A, its, prob.y)
    v["objective"][t, idx] = np.where(np.isfinite(objective), objective, np.nan)
    v["objective_gap"][t, idx] = v["objective"][t, idx] - float(np.asarray(sol.objective))
    bound = gap_bound(net, prob.A, sol.z_hat, net.iterate_depths)
    if bound is not None:
        v["gap_bound"][t, idx] = bound
