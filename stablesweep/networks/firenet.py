r"""FIRENET: restarted ergodic primal–dual iterations with exponential convergence.

Start from :math:`\varepsilon_0 = \|y\|_2` (per sample, or a fixed ``eps0``) and
:math:`x^{(0)} = 0`. For :math:`k = 1, \dots, n`:

.. math::

    \varepsilon_k &= e^{-1}(\delta + \varepsilon_{k-1}), \qquad
    \alpha_k = \frac{2 L_A}{\varepsilon_k\, p}, \\
    x^{(k)} &= \frac{1}{\alpha_k}\,
        \mathrm{InnerIt}_p\bigl(\alpha_k y,\; \alpha_k x^{(k-1)}\bigr),

where :math:`\mathrm{InnerIt}_p(b, x_0)` runs :math:`p` ergodic primal–dual iterations
(:mod:`~stablesweep.networks.primal_dual`) on
:math:`\min_z \lambda\|z\|_{\ell^1_w} + \|Az - b\|_2` from the primal point
:math:`x_0` with the dual reset to :math:`\psi_0 = 0`, and returns the ergodic average
:math:`\frac1p\sum_{j=1}^p x_j`. Because the objective is positively homogeneous,
:math:`\mathrm{InnerIt}` on scaled data is the same optimisation problem with a
relative step size that grows like :math:`e^k`: under a sharpness condition (the
robust null space property in levels) the error to the signal falls like
:math:`e^{-k}` down to a floor set by :math:`\delta`, the noise and
:math:`\sigma_{s,M}` [1]_. If :math:`p` is too small for the problem's sharpness the
fixed :math:`e^{-1}` schedule outruns the inner solver and the error stalls.

The network has depth :math:`np` (operator applications) and :math:`3np + 1` layers.

References
----------
.. [1] M. J. Colbrook, V. Antun, A. C. Hansen, "The difficulty of computing stable and
   accurate neural networks: On the barriers of deep learning and Smale's 18th
   problem", PNAS 119 (2022), e2107151119.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import torch

from .core.base import IterativeNetwork, check_int, check_nonnegative, check_positive
from .core.prox import norm_last
from .primal_dual import default_lam, primal_dual_step, step_sizes

__all__ = ["FIRENET", "FirenetState"]

_EPS_FLOOR = 1e-300


class FirenetState(NamedTuple):
    """State of FIRENET (inner iterates live in the scaled problem)."""

    x: torch.Tensor  #: inner primal iterate (scaled by alpha), coefficients
    psi: torch.Tensor  #: inner dual iterate, measurements
    x_sum: torch.Tensor  #: inner running sum of primal iterates (scaled)
    x_out: torch.Tensor  #: x^{(k)}, the output of the last finished restart (unscaled)
    eps: torch.Tensor  #: epsilon_k per sample, shape (..., 1)
    alpha: torch.Tensor  #: alpha_k per sample, shape (..., 1)
    sigma_y: torch.Tensor  #: sigma * alpha_k * y


class FIRENET(IterativeNetwork):
    r"""FIRENET (Fast Iterative REstarted NETworks).

    Parameters
    ----------
    A : operator
        Duck-typed measurement operator.
    depth : int, optional
        Total iterations :math:`np`; with ``p`` given, ``n = depth / p`` (must divide).
    n : int, optional
        Number of restarts (default 10 when neither ``depth`` nor ``n`` is given).
    p : int
        Inner primal–dual iterations per restart (default 20).
    lam : float, optional
        :math:`\lambda > 0` of the square-root LASSO; default
        :func:`~stablesweep.networks.primal_dual.default_lam` (:math:`1/(4\sqrt{rs})`).
    weights, s : optional
        Weighted :math:`\ell^1` norm: explicit weights of shape ``A.shape`` or local
        sparsities (weights :math:`\sqrt{s/s_k}`); default uniform.
    delta : float
        :math:`\delta \ge 0` in the :math:`\varepsilon` schedule (default 0; the error
        floor it sets is about :math:`\delta`).
    tau, sigma : float
        Inner step sizes, :math:`\tau\sigma\|A\|^2 \le 1` (default 1, 1).
    L_A : float, optional
        Upper bound on :math:`\|A\|` used in :math:`\alpha_k` (default
        :func:`~stablesweep.networks.core.base.operator_norm`, i.e. 1 for a subsampled
        unitary operator).
    eps0 : float, optional
        Fixed :math:`\varepsilon_0`; default :math:`\|y\|_2` per sample.

    Notes
    -----
    :attr:`iterate_depths` are the restart boundaries :math:`p, 2p, \dots, np`;
    ``iterates(y, inner=True)`` records after every inner iteration instead
    (output :math:`\frac{1}{\alpha_k j}\sum_{i\le j} x_i` inside restart :math:`k`).
    With ``checkpointing`` the restarts are grouped into checkpoint segments of about
    sqrt(n p) iterations (whole restarts each).

    :math:`\varepsilon_k` is floored at 1e-300 so that ``y = 0`` with ``delta = 0``
    returns 0 rather than NaN.
    """

    name = "firenet"

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        n: int | None = None,
        p: int = 20,
        lam: float | None = None,
        weights: Any = None,
        s: Any = None,
        delta: float = 0.0,
        tau: float = 1.0,
        sigma: float = 1.0,
        L_A: float | None = None,
        eps0: float | None = None,
    ):
        super().__init__(A)
        self.p = check_int("p", p)
        if depth is not None:
            depth = check_int("depth", depth)
            if depth % self.p:
                raise ValueError(
                    f"depth = {depth} is not a multiple of p = {self.p}; for firenet "
                    "depth = n * p"
                )
            if n is not None and n * self.p != depth:
                raise ValueError(f"depth = {depth} differs from n * p = {n} * {self.p}")
            n = depth // self.p
        self.n = check_int("n", 10 if n is None else n)
        self._depth = self.n * self.p
        self.set_weights(weights, s)
        self.lam = default_lam(self.m, s) if lam is None else check_positive("lam", lam)
        self.delta = check_nonnegative("delta", delta)
        self.L_A, self.tau, self.sigma = step_sizes(A, tau, sigma, L_A, "L_A")
        self.eps0 = None if eps0 is None else check_positive("eps0", eps0)

    # ---- sizes
    @property
    def n_layers(self) -> int:
        return 3 * self.n * self.p + 1

    @property
    def iterate_depths(self) -> list[int]:
        return [self.p * k for k in range(1, self.n + 1)]

    @property
    def segment_length(self) -> int:
        """Whole restarts per checkpoint segment, about sqrt(n p) iterations in all.

        Segments end on restart boundaries, so the saved boundary state is small, and
        about sqrt(depth) of them keep backward memory ~ sqrt(depth) instead of ~ depth.
        """
        return self.p * max(1, round(math.sqrt(self.n * self.p) / self.p))

    def iterates(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        depths: Iterable[int] | None = None,
        inner: bool = False,
    ) -> torch.Tensor:
        """As :meth:`IterativeNetwork.iterates`; ``inner=True`` records every iteration."""
        if inner:
            if depths is not None:
                raise ValueError("give either depths or inner=True, not both")
            depths = range(1, self.depth + 1)
        return super().iterates(y, x0, depths)

    # ---- the recursion
    def _per_coeff(self, t: torch.Tensor) -> torch.Tensor:
        """(..., 1) per-sample scalars -> (..., 1, ..., 1) broadcasting over coefficients."""
        return t.reshape(*t.shape[:-1], *([1] * len(self.shape)))

    def setup(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"thr": (self.tau * self.lam) * self.weights.to(y.device),
                "work": self.soft_work(y)}

    def init_state(self, y: torch.Tensor, x0: torch.Tensor | None, ctx: dict) -> FirenetState:
        batch = y.shape[:-1]
        if self.eps0 is None:
            eps = norm_last(y)
        else:
            eps = torch.full((*batch, 1), self.eps0, dtype=self.real_dtype, device=y.device)
        x_out = self.start_point(y, x0)
        zero = eps.new_zeros(())
        return FirenetState(
            x=x_out, psi=y, x_sum=x_out, x_out=x_out, eps=eps, alpha=zero, sigma_y=y
        )

    def _restart(self, state: FirenetState, y: torch.Tensor) -> FirenetState:
        eps = torch.clamp(math.exp(-1.0) * (self.delta + state.eps), min=_EPS_FLOOR)
        alpha = (2.0 * self.L_A / self.p) / eps
        x = state.x_out * self._per_coeff(alpha)
        return FirenetState(
            x=x,
            psi=torch.zeros_like(y),
            x_sum=torch.zeros_like(x),
            x_out=state.x_out,
            eps=eps,
            alpha=alpha,
            sigma_y=(self.sigma * alpha) * y,
        )

    def step(self, state: FirenetState, y: torch.Tensor, k: int, ctx: dict) -> FirenetState:
        j = k % self.p
        if j == 0:
            state = self._restart(state, y)
        if torch.is_grad_enabled():
            x, psi = primal_dual_step(
                self.A, state.x, state.psi, state.sigma_y, ctx["thr"], self.tau, self.sigma
            )
            x_sum = state.x_sum + x
        else:  # fast path: x_sum updated in place
            x, psi = primal_dual_step(
                self.A, state.x, state.psi, state.sigma_y, ctx["thr"], self.tau, self.sigma,
                ctx["work"], x_sum=state.x_sum,
            )
            x_sum = state.x_sum
        x_out = state.x_out
        if j == self.p - 1:
            x_out = x_sum / self._per_coeff(self.p * state.alpha)
        return state._replace(x=x, psi=psi, x_sum=x_sum, x_out=x_out)

    def output(self, state: FirenetState, y: torch.Tensor, k: int, ctx: dict) -> torch.Tensor:
        j = k % self.p
        if j == 0:
            return state.x_out
        return state.x_sum / self._per_coeff(j * state.alpha)

    def layers(
        self, theta: float = 1e-13, t_max: float | None = None, eps0: float | None = None, **kw
    ):
        """The network as explicit affine maps and non-linearities (fixed ``eps0``).

        See :func:`stablesweep.networks.core.layers.firenet_layers`.
        """
        from .core.layers import firenet_layers

        return firenet_layers(self, theta=theta, t_max=t_max, eps0=eps0, **kw)
