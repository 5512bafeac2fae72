r"""ISTA and FISTA on the weighted LASSO.

.. math::

    \min_z \; F(z) = \lambda\|z\|_{\ell^1_w} + \tfrac12\|Az - y\|_2^2,
    \qquad L = \|A\|^2 \text{ (Lipschitz constant of the smooth part's gradient)}.

ISTA (proximal gradient, step :math:`1/L`):

.. math:: x_{k+1} = S_{\lambda w/L}\bigl(x_k - \tfrac1L A^*(Ax_k - y)\bigr),

with :math:`F(x_k) - F^* \le L\|x_0 - z^*\|^2/(2k)`. FISTA [1]_ adds momentum,

.. math::

    x_{k+1} &= S_{\lambda w/L}\bigl(v_k - \tfrac1L A^*(Av_k - y)\bigr), \qquad
    t_{k+1} = \tfrac12\bigl(1 + \sqrt{1 + 4t_k^2}\bigr), \\
    v_{k+1} &= x_{k+1} + \frac{t_k - 1}{t_{k+1}}(x_{k+1} - x_k),

:math:`t_0 = 1`, :math:`v_0 = x_0`, with :math:`F(x_k) - F^* \le 2L\|x_0 - z^*\|^2/(k+1)^2`.
The output after :math:`k` iterations is :math:`W^{-1}x_k`. The :math:`t_k` do not
depend on the data (they are precomputed).

References
----------
.. [1] A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for
   linear inverse problems", SIAM J. Imaging Sci. 2 (2009), 183–202.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import torch

from .core.base import IterativeNetwork, check_int, check_positive, operator_norm, resolve_weights
from .core.prox import lerp_, soft_threshold, soft_threshold_

__all__ = ["FISTA", "ISTA", "FistaState", "IstaState", "prox_grad", "next_t"]

#: default λ of the LASSO
DEFAULT_LAM = 1e-3


class IstaState(NamedTuple):
    x: torch.Tensor  #: iterate x_k, coefficients (..., *shape)


class FistaState(NamedTuple):
    x: torch.Tensor  #: iterate x_k
    v: torch.Tensor  #: extrapolated point v_k


def next_t(t: float) -> float:
    r"""FISTA's :math:`t_{k+1} = \tfrac12\bigl(1 + \sqrt{1 + 4t_k^2}\bigr)`."""
    return 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))


def prox_grad(
    A: Any, v: torch.Tensor, y: torch.Tensor, L: float, thr: torch.Tensor, work: Any = None
) -> torch.Tensor:
    r"""One proximal-gradient step :math:`S_{t}\bigl(v - \tfrac1L A^*(Av - y)\bigr)`.

    Parameters
    ----------
    A : operator
    v : torch.Tensor, shape (..., *shape)
        The point; left untouched (the result is a fresh tensor).
    y : torch.Tensor, shape (..., m)
    L : float
        Step :math:`1/L`.
    thr : torch.Tensor, broadcastable to ``v``
        Thresholds :math:`t = \lambda w / L`.
    work : SoftThresholdWork, optional
        Scratch buffers; used on the no-grad path only.

    Notes
    -----
    Out of place (differentiable) with gradients enabled or without ``work``; the
    networks' no-grad fast path (``work`` given) works in place on the fresh
    :math:`A^*(Av - y)`. The networks and the converged LASSO solver of
    :mod:`~stablesweep.networks.minimiser` both step through here.
    """
    if torch.is_grad_enabled() or work is None:
        return soft_threshold(v - A.adjoint(A(v) - y) / L, thr)
    u = A.adjoint(A(v).sub_(y))
    u = torch.add(v, u, alpha=-1.0 / L, out=u)
    return soft_threshold_(u, thr, work)


class _LassoNetwork(IterativeNetwork):
    r"""Common part of ISTA and FISTA (parameters as :class:`FISTA`): the weighted LASSO,
    its step :math:`1/L` and thresholds :math:`\lambda w/L`, the proximal-gradient step."""

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        lam: float = DEFAULT_LAM,
        weights: Any = None,
        s: Any = None,
        L: float | None = None,
    ):
        super().__init__(A)
        self._depth = check_int("depth", 100 if depth is None else depth)
        self.lam = check_positive("lam", lam)
        self.L = operator_norm(A) ** 2 if L is None else check_positive("L", L)
        self.register_buffer("weights", resolve_weights(A, weights, s))

    @property
    def n_layers(self) -> int:
        return self.depth + 1

    def setup(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"thr": (self.lam / self.L) * self.weights.to(y.device),
                "work": self.soft_work(y)}

    def _prox_grad(self, v: torch.Tensor, y: torch.Tensor, ctx: dict) -> torch.Tensor:
        """:func:`prox_grad` with this network's step and thresholds."""
        return prox_grad(self.A, v, y, self.L, ctx["thr"], ctx["work"])

    def output(self, state: NamedTuple, y: torch.Tensor, k: int, ctx: dict) -> torch.Tensor:
        return state.x


class ISTA(_LassoNetwork):
    r"""ISTA network: ``depth`` proximal-gradient steps on the weighted LASSO.

    Parameters as :class:`FISTA`.
    """

    name = "ista"

    def init_state(self, y: torch.Tensor, x0: torch.Tensor | None, ctx: dict) -> IstaState:
        return IstaState(x=self.start_point(y, x0))

    def step(self, state: IstaState, y: torch.Tensor, k: int, ctx: dict) -> IstaState:
        return IstaState(x=self._prox_grad(state.x, y, ctx))


class FISTA(_LassoNetwork):
    r"""FISTA network: ``depth`` accelerated proximal-gradient steps on the weighted LASSO.

    Parameters
    ----------
    A : operator
    depth : int
        Iterations (default 100).
    lam : float
        :math:`\lambda > 0` (default ``1e-3``).
    weights, s : optional
        Weights of shape ``A.shape`` or local sparsities; default uniform.
    L : float, optional
        Step :math:`1/L`; default :math:`\|A\|^2`.

    Attributes
    ----------
    momentum : list of float
        The factors :math:`(t_k - 1)/t_{k+1}`, :math:`k = 0, \dots, \text{depth} - 1`
        (they do not depend on the data).
    """

    name = "fista"

    @functools.cached_property
    def momentum(self) -> list[float]:
        t = [1.0]
        for _ in range(self.depth):
            t.append(next_t(t[-1]))
        return [(t[k] - 1.0) / t[k + 1] for k in range(self.depth)]

    def init_state(self, y: torch.Tensor, x0: torch.Tensor | None, ctx: dict) -> FistaState:
        x = self.start_point(y, x0)
        return FistaState(x=x, v=x.clone())

    def step(self, state: FistaState, y: torch.Tensor, k: int, ctx: dict) -> FistaState:
        x_new = self._prox_grad(state.v, y, ctx)
        beta = self.momentum[k]
        if torch.is_grad_enabled():
            v = x_new + beta * (x_new - state.x)
        else:
            v = lerp_(x_new, state.x, -beta, out=state.x)  # x_new + beta (x_new - x)
        return FistaState(x=x_new, v=v)
