r"""The stable network: ergodic primal–dual iterations on the weighted square-root LASSO.

Chambolle–Pock on

.. math::

    \min_z \; \lambda\|z\|_{\ell^1_w} + \|Az - y\|_2

(primal :math:`g(z) = \lambda\|z\|_{\ell^1_w}`, :math:`h(v) = \|v - y\|_2`, whose
conjugate's prox is :math:`\operatorname{prox}_{\sigma h^*}(u) = P_{B_1}(u - \sigma y)`):

.. math::

    x_{k+1} &= S_{\tau\lambda w}(x_k - \tau A^*\psi_k), \\
    \psi_{k+1} &= P_{B_1}\bigl(\psi_k + \sigma A(2x_{k+1} - x_k) - \sigma y\bigr), \\
    \hat z_p &= \frac1p \sum_{k=1}^{p} x_k \quad\text{(ergodic average, } x_0 \text{ excluded)},

with :math:`\psi_0 = 0`, :math:`x_0 = 0` (or given) and :math:`\tau\sigma\|A\|^2 \le 1`.
The output is the image :math:`W^{-1}\hat z_p`. The primal–dual gap of the ergodic
average decays like :math:`1/p` [1]_, and under the robust null space property in
levels so does the error to the signal [2]_.

References
----------
.. [1] A. Chambolle, T. Pock, "On the ergodic convergence rates of a first-order
   primal–dual algorithm", Math. Program. 159 (2016), 253–287.
.. [2] M. J. Colbrook, V. Antun, A. C. Hansen, "The difficulty of computing stable and
   accurate neural networks: On the barriers of deep learning and Smale's 18th
   problem", PNAS 119 (2022), e2107151119.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from .core import kernels
from .core.base import IterativeNetwork, check_int, check_positive, operator_norm
from .core.prox import lerp_, norm_last, project_ball, soft_threshold, soft_threshold_

__all__ = [
    "PrimalDual",
    "PrimalDualState",
    "primal_dual_step",
    "check_step_sizes",
    "step_sizes",
    "default_lam",
]



def default_lam(m: int, s: Sequence[int] | None = None) -> float:
    r"""Default :math:`\lambda` of the square-root LASSO: :math:`\frac{1}{4\sqrt{r s}}`.

    With local sparsities ``s`` (``r = len(s)`` levels, :math:`s = \sum_k s_k`, weights
    :math:`\sqrt{s/s_k}`), :math:`\lambda = 1/(4\sqrt{rs})`, the theory's scaling
    :math:`\lambda \asymp 1/\sqrt{rs}` (for :math:`(s,M)`-sparse :math:`z`,
    :math:`\|z\|_{\ell^1_w} \le \sqrt{rs}\,\|z\|_2`) with a constant that recovers
    sparse signals on the 16×16 reference problems (about twice as large returns
    nearly 0). Without ``s`` (uniform weights), :math:`\lambda = 1/(4\sqrt m)`, i.e.
    the same rule with :math:`r = 1` and :math:`s = m`.
    """
    if s is None:
        return 0.25 / math.sqrt(m)
    s = [int(v) for v in s]
    return 0.25 / math.sqrt(len(s) * max(sum(s), 1))


class PrimalDualState(NamedTuple):
    """State of the ergodic primal–dual iteration."""

    x: torch.Tensor  #: primal iterate x_k, coefficients (..., *shape)
    psi: torch.Tensor  #: dual iterate psi_k, measurements (..., m)
    x_sum: torch.Tensor  #: running sum x_1 + ... + x_k


def check_step_sizes(tau: object, sigma: object, norm_A: float) -> tuple[float, float]:
    r"""Validate :math:`\tau, \sigma > 0` and :math:`\tau\sigma\|A\|^2 \le 1`."""
    tau = check_positive("tau", tau)
    sigma = check_positive("sigma", sigma)
    if tau * sigma * norm_A**2 > 1.0 + 1e-9:
        raise ValueError(
            f"tau*sigma*||A||^2 = {tau}*{sigma}*{norm_A:.6g}^2 = {tau * sigma * norm_A**2:.6g} "
            "is not allowed; expected tau*sigma*||A||^2 <= 1"
        )
    return tau, sigma


def step_sizes(
    A: Any, tau: object, sigma: object, norm_A: object = None, name: str = "norm_A"
) -> tuple[float, float, float]:
    r""":math:`(\|A\|, \tau, \sigma)` of a Chambolle–Pock network, checked.

    Parameters
    ----------
    A : operator
    tau, sigma : float
        Step sizes; :func:`check_step_sizes` requires :math:`\tau\sigma\|A\|^2 \le 1`.
    norm_A : float, optional
        :math:`\|A\|` (or an upper bound); default
        :func:`~stablesweep.networks.core.base.operator_norm`.
    name : str
        What ``norm_A`` is called in error messages (``"L_A"`` for FIRENET).

    Returns
    -------
    norm, tau, sigma : float
    """
    norm = operator_norm(A) if norm_A is None else check_positive(name, norm_A)
    return (norm, *check_step_sizes(tau, sigma, norm))


def primal_dual_step(
    A: Any,
    x: torch.Tensor,
    psi: torch.Tensor,
    sigma_y: torch.Tensor,
    thr: torch.Tensor,
    tau: float,
    sigma: float,
    work: Any = None,
    x_sum: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One Chambolle–Pock step on the weighted square-root LASSO.

    .. math::

        x^+ = S_{t}(x - \tau A^*\psi), \qquad
        \psi^+ = P_{B_1}(\psi + \sigma A(2x^+ - x) - \sigma y)

    Parameters
    ----------
    A : operator
    x : torch.Tensor, shape (..., *shape)
    psi : torch.Tensor, shape (..., m)
    sigma_y : torch.Tensor, shape (..., m)
        :math:`\sigma y` (precomputed).
    thr : torch.Tensor, broadcastable to ``x``
        Thresholds :math:`t = \tau\lambda w`.
    tau, sigma : float
    work : SoftThresholdWork, optional
        Scratch buffers for the no-grad path.
    x_sum : torch.Tensor, shape (..., *shape), optional
        No-grad path only: a running sum, to which :math:`x^+` is added in place (in the
        same pass as the soft-threshold when the fused kernels of
        :mod:`~stablesweep.networks.core.kernels` apply).

    Returns
    -------
    x_new, psi_new : torch.Tensor

    Notes
    -----
    With gradients disabled the step works in place on fresh buffers and on ``x``
    (whose old value is consumed); callers that need ``x`` afterwards must not pass
    it under :func:`torch.no_grad`. On the CPU the element-wise work then runs in the
    fused kernels of :mod:`~stablesweep.networks.core.kernels` (one pass over the
    coefficients instead of about ten), else as PyTorch operations.
    """
    if torch.is_grad_enabled():
        if x_sum is not None:
            raise ValueError("x_sum is updated in place, on the no-grad path only")
        x_new = soft_threshold(x - tau * A.adjoint(psi), thr)
        v = psi + sigma * A(2.0 * x_new - x) - sigma_y
        return x_new, project_ball(v)
    u = A.adjoint(psi)
    if x_sum is not None and kernels.primal_update_(x, u, thr, x_sum, tau):
        x_new = u  # u holds x_new, x holds 2 x_new - x
    else:
        x_new = soft_threshold_(torch.add(x, u, alpha=-tau, out=u), thr, work)
        lerp_(x, x_new, 2.0, out=x)  # 2 x_new - x, in x's buffer
        if x_sum is not None:
            x_sum.add_(x_new)
    v = A(x)
    if not kernels.dual_update_(v, psi, sigma_y, sigma):
        v.mul_(sigma).add_(psi).sub_(sigma_y)
        v.mul_(norm_last(v).clamp_(min=1.0).reciprocal_())
    return x_new, v


class PrimalDual(IterativeNetwork):
    r"""Ergodic primal–dual network for the weighted square-root LASSO.

    Parameters
    ----------
    A : operator
        Duck-typed measurement operator (``A(z)``, ``A.adjoint``, ``A.to_image``,
        ``shape``, ``m``, ``dtype``).
    depth : int, optional
        Number of iterations :math:`p` (each one ``A`` and one ``A^*``).
    p : int, optional
        Same as ``depth`` (give one of them, or both equal). Default 100.
    lam : float, optional
        :math:`\lambda > 0`; default :func:`default_lam` (:math:`1/(4\sqrt{rs})`).
    weights : array_like, shape ``A.shape``, optional
        Weights of the :math:`\ell^1_w` norm (finite, >= 0).
    s : sequence of int, optional
        Local sparsities; weights :math:`\sqrt{s/s_k}` per level. Default: uniform
        weights.
    tau, sigma : float
        Step sizes, :math:`\tau\sigma\|A\|^2 \le 1` (default 1, 1).
    norm_A : float, optional
        :math:`\|A\|` (default :func:`~stablesweep.networks.core.base.operator_norm`).

    Notes
    -----
    ``iterates(y)[k-1]`` is the network of depth ``k``:
    :math:`W^{-1}(\frac1k\sum_{j=1}^k x_j)`. ``n_layers = 3p + 1``: each iteration is a
    soft-thresholding layer, a squared-norm layer and a rescaling layer (see
    :meth:`layers`).

    The square-root LASSO minimiser is :math:`0` once
    :math:`\lambda \ge \max_i |(A^*y)_i| / (w_i\|y\|)`; a smaller :math:`\lambda`
    keeps it closer to the basis-pursuit solution (noiseless data) but makes the
    problem less sharp, so FIRENET then needs a larger ``p``.
    """

    name = "primal-dual"

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        p: int | None = None,
        lam: float | None = None,
        weights: Any = None,
        s: Any = None,
        tau: float = 1.0,
        sigma: float = 1.0,
        norm_A: float | None = None,
    ):
        super().__init__(A)
        if depth is not None and p is not None and depth != p:
            raise ValueError(f"depth = {depth!r} and p = {p!r} differ; for primal-dual depth = p")
        p = depth if p is None else p
        self.p = check_int("p", 100 if p is None else p)
        self._depth = self.p
        self.set_weights(weights, s)
        self.lam = default_lam(self.m, s) if lam is None else check_positive("lam", lam)
        self.norm_A, self.tau, self.sigma = step_sizes(A, tau, sigma, norm_A)

    @property
    def n_layers(self) -> int:
        return 3 * self.p + 1

    def setup(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        w = self.weights.to(y.device)
        return {"thr": (self.tau * self.lam) * w, "sigma_y": self.sigma * y,
                "work": self.soft_work(y)}

    def init_state(
        self, y: torch.Tensor, x0: torch.Tensor | None, ctx: dict
    ) -> PrimalDualState:
        x = self.start_point(y, x0)
        return PrimalDualState(x=x, psi=torch.zeros_like(y), x_sum=torch.zeros_like(x))

    def step(self, state: PrimalDualState, y: torch.Tensor, k: int, ctx: dict) -> PrimalDualState:
        if torch.is_grad_enabled():
            x, psi = primal_dual_step(
                self.A, state.x, state.psi, ctx["sigma_y"], ctx["thr"], self.tau, self.sigma
            )
            return PrimalDualState(x=x, psi=psi, x_sum=state.x_sum + x)
        x, psi = primal_dual_step(  # fast path: x_sum updated in place
            self.A, state.x, state.psi, ctx["sigma_y"], ctx["thr"], self.tau, self.sigma,
            ctx["work"], x_sum=state.x_sum,
        )
        return PrimalDualState(x=x, psi=psi, x_sum=state.x_sum)

    def output(self, state: PrimalDualState, y: torch.Tensor, k: int, ctx: dict) -> torch.Tensor:
        return state.x_sum / k

    def layers(self, theta: float = 1e-13, t_max: float | None = None, **kwargs: Any):
        """The network as explicit affine maps and non-linearities.

        See :func:`stablesweep.networks.core.layers.primal_dual_layers`.
        """
        from .core.layers import primal_dual_layers

        return primal_dual_layers(self, theta=theta, t_max=t_max, **kwargs)
