r"""Chambolle–Pock on (quadratically constrained) basis pursuit.

.. math::

    \min_z \; \|z\|_{\ell^1_w} \quad\text{s.t.}\quad \|Az - y\|_2 \le \eta,

written as :math:`\min_z g(z) + h(Az)` with :math:`g = \|\cdot\|_{\ell^1_w}` and
:math:`h` the indicator of the ball :math:`B(y, \eta)`. The prox of the constraint
is taken through the dual (Moreau):
:math:`\operatorname{prox}_{\sigma h^*}(u) = u - \sigma P_{B(y,\eta)}(u/\sigma)`, which
with :math:`r = u - \sigma y` is the block soft-thresholding
:math:`\max(0, 1 - \sigma\eta/\|r\|)\, r`. The iteration [1]_ is

.. math::

    x_{k+1} &= S_{\tau w}(x_k - \tau A^*\psi_k), \\
    r_{k+1} &= \psi_k + \sigma A(2x_{k+1} - x_k) - \sigma y, \qquad
    \psi_{k+1} = \max\Bigl(0, 1 - \frac{\sigma\eta}{\|r_{k+1}\|}\Bigr) r_{k+1},

:math:`\tau\sigma\|A\|^2 \le 1`, :math:`x_0 = 0` (or given), :math:`\psi_0 = 0`. The
output after :math:`k` iterations is :math:`W^{-1}x_k` (last iterate, as in the
published stability experiments), or the ergodic average
:math:`W^{-1}\frac1k\sum_{j\le k}x_j` with ``ergodic=True`` (primal–dual gap
:math:`O(1/k)`).

References
----------
.. [1] A. Chambolle, T. Pock, "A first-order primal-dual algorithm for convex problems
   with applications to imaging", J. Math. Imaging Vis. 40 (2011), 120–145.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .core.base import IterativeNetwork, check_int, check_nonnegative
from .core.prox import lerp_, shrink_ball, shrink_ball_, soft_threshold, soft_threshold_
from .primal_dual import step_sizes

__all__ = ["ChambollePockBP", "CPState"]


class CPState(NamedTuple):
    x: torch.Tensor  #: primal iterate x_k, coefficients
    psi: torch.Tensor  #: dual iterate psi_k, measurements
    x_sum: torch.Tensor  #: running sum of x_1..x_k (ergodic output)


class ChambollePockBP(IterativeNetwork):
    r"""Chambolle–Pock network for basis pursuit with noise level :math:`\eta`.

    Parameters
    ----------
    A : operator
    depth : int
        Iterations (default 100).
    eta : float
        Constraint radius :math:`\eta \ge 0` (default 0: equality-constrained BP).
    weights, s : optional
        Weights of shape ``A.shape`` or local sparsities; default uniform.
    tau, sigma : float
        Step sizes, :math:`\tau\sigma\|A\|^2 \le 1` (default 1, 1).
    norm_A : float, optional
        :math:`\|A\|` (default :func:`~stablesweep.networks.core.base.operator_norm`).
    ergodic : bool
        Output the ergodic average instead of the last iterate (default False).

    Notes
    -----
    ``n_layers`` is ``3 depth + 1`` for :math:`\eta > 0` (soft-threshold, squared
    norm, rescaling) and ``depth + 1`` for :math:`\eta = 0` (the dual step is affine).
    """

    name = "cp-bp"

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        eta: float = 0.0,
        weights: Any = None,
        s: Any = None,
        tau: float = 1.0,
        sigma: float = 1.0,
        norm_A: float | None = None,
        ergodic: bool = False,
    ):
        super().__init__(A)
        self._depth = check_int("depth", 100 if depth is None else depth)
        self.eta = check_nonnegative("eta", eta)
        self.norm_A, self.tau, self.sigma = step_sizes(A, tau, sigma, norm_A)
        self.ergodic = bool(ergodic)
        self.set_weights(weights, s)

    @property
    def n_layers(self) -> int:
        return (3 if self.eta > 0 else 1) * self.depth + 1

    def setup(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"thr": self.tau * self.weights.to(y.device), "sigma_y": self.sigma * y,
                "work": self.soft_work(y)}

    def init_state(self, y: torch.Tensor, x0: torch.Tensor | None, ctx: dict) -> CPState:
        x = self.start_point(y, x0)
        return CPState(x=x, psi=torch.zeros_like(y), x_sum=torch.zeros_like(x))

    def step(self, state: CPState, y: torch.Tensor, k: int, ctx: dict) -> CPState:
        A, tau, sigma = self.A, self.tau, self.sigma
        radius = sigma * self.eta
        if torch.is_grad_enabled():
            x = soft_threshold(state.x - tau * A.adjoint(state.psi), ctx["thr"])
            r = state.psi + sigma * A(2.0 * x - state.x) - ctx["sigma_y"]
            x_sum = state.x_sum + x if self.ergodic else state.x_sum
            return CPState(x=x, psi=shrink_ball(r, radius), x_sum=x_sum)
        u = A.adjoint(state.psi)
        x = soft_threshold_(torch.add(state.x, u, alpha=-tau, out=u), ctx["thr"], ctx["work"])
        if self.ergodic:
            state.x_sum.add_(x)
        r = A(lerp_(state.x, x, 2.0, out=state.x))  # A(2 x_{k+1} - x_k)
        r.mul_(sigma).add_(state.psi).sub_(ctx["sigma_y"])
        return CPState(x=x, psi=shrink_ball_(r, radius), x_sum=state.x_sum)

    def output(self, state: CPState, y: torch.Tensor, k: int, ctx: dict) -> torch.Tensor:
        return state.x_sum / k if self.ergodic else state.x
