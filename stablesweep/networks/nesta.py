r"""NESTA: Nesterov's smoothing method on quadratically constrained basis pursuit.

.. math::

    \min_z \; \|z\|_{\ell^1_w} \quad\text{s.t.}\quad z \in Q_p = \{z : \|Az - y\|_2 \le \eta\}.

The weighted :math:`\ell^1` norm is replaced by its Nesterov smoothing
:math:`f_\mu(z) = \max_{|u_i|\le w_i} \operatorname{Re}\langle u, z\rangle - \frac{\mu}{2}\|u\|^2`
(a Huber function, gradient :math:`\nabla f_\mu(z) = \operatorname{clip}(z/\mu, w)`,
Lipschitz constant :math:`L_\mu = 1/\mu`), which is minimised over :math:`Q_p` by
Nesterov's accelerated method [1]_ [2]_; for :math:`i = 0, 1, \dots`

.. math::

    g_i &= \nabla f_\mu(x_i), \qquad
    y_i = P_{Q_p}\bigl(x_i - \mu\, g_i\bigr), \qquad
    z_i = P_{Q_p}\Bigl(a - \mu \sum_{l\le i} \tfrac{l+1}{2}\, g_l\Bigr), \\
    x_{i+1} &= \tau_i z_i + (1 - \tau_i) y_i, \qquad \tau_i = \frac{2}{i + 3},

from the anchor :math:`x_0 = a`. **Continuation**: the iteration is restarted every
``p`` iterations (a *stage*) from the anchor :math:`a` = the last :math:`y_i`, with
:math:`\mu_t = \max(\mu_{\min}, \mu_0\gamma^t)` in stage :math:`t`. The schedule does
not depend on the total depth, so the output after :math:`k` iterations
(:math:`W^{-1}y_{k-1}`) is the same for every deeper network.

**Projection (assumption A A* = I).** When the rows of :math:`A` are orthonormal
(a subsampled unitary transform: :math:`A = P_\Omega U W^{-1}`), the projection onto
:math:`Q_p` has the closed form

.. math::

    P_{Q_p}(v) = v + A^* c, \qquad
    c = \max\Bigl(0, 1 - \frac{\eta}{\|y - Av\|}\Bigr)(y - Av)

(only the component of :math:`v` in the range of :math:`A^*` moves). The network checks
the assumption (``A.rows_orthonormal``, or a randomised test of
:math:`\|AA^*u - u\| \le 10^{-8}\|u\|`) and raises otherwise. Because the projection
is affine in :math:`Av`, the images :math:`Ax_i`, :math:`A\sum g_l` are tracked by
linearity: each iteration costs one :math:`A` (of :math:`g_i`) and one :math:`A^*`
(of the combined correction for :math:`x_{i+1}`); recording an output and starting a
stage cost one more :math:`A^*` each.

References
----------
.. [1] Y. Nesterov, "Smooth minimization of non-smooth functions", Math. Program. 103
   (2005), 127–152.
.. [2] S. Becker, J. Bobin, E. J. Candès, "NESTA: A fast and accurate first-order
   method for sparse recovery", SIAM J. Imaging Sci. 4 (2011), 1–39.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .base import IterativeNetwork, check_int, check_nonnegative, check_positive
from .prox import abs2, huber_grad, shrink_ball

__all__ = ["NESTA", "NestaState", "check_rows_orthonormal"]


def check_rows_orthonormal(A: Any, probes: int = 3, tol: float = 1e-8) -> None:
    r"""Raise unless :math:`AA^* = I` (``A.rows_orthonormal`` or a randomised test)."""
    flag = getattr(A, "rows_orthonormal", None)
    if flag is not None:
        if not flag:
            raise ValueError(
                "nesta needs an operator with orthonormal rows (A A^* = I), but "
                "A.rows_orthonormal is False"
            )
        return
    g = torch.Generator().manual_seed(1234)
    u = torch.randn(probes, int(A.m), dtype=A.dtype, generator=g)
    err = torch.linalg.vector_norm(A(A.adjoint(u)) - u, dim=-1)
    rel = float((err / torch.linalg.vector_norm(u, dim=-1)).max())
    if rel > tol:
        raise ValueError(
            f"nesta needs an operator with orthonormal rows (A A^* = I); measured "
            f"||A A^* u - u|| / ||u|| = {rel:.3g} > {tol:g}"
        )


class NestaState(NamedTuple):
    x: torch.Tensor  #: current point x_i (coefficients)
    Ax: torch.Tensor  #: A x_i
    anchor: torch.Tensor  #: stage anchor a
    A_anchor: torch.Tensor  #: A a
    g_sum: torch.Tensor  #: sum_l (l+1)/2 g_l in this stage
    Ag_sum: torch.Tensor  #: A g_sum
    v1: torch.Tensor  #: x_i - mu g_i  (y_i = v1 + A^* c1)
    Av1: torch.Tensor  #: A v1
    c1: torch.Tensor  #: projection correction of y_i (measurements)
    mu0: torch.Tensor  #: initial smoothing parameter per sample, (..., 1)
    mu: torch.Tensor  #: smoothing parameter of the current stage, (..., 1)


class NESTA(IterativeNetwork):
    r"""NESTA network with continuation on the smoothing parameter.

    Parameters
    ----------
    A : operator
        Must have orthonormal rows (:math:`AA^* = I`; see the module docstring).
    depth : int
        Iterations (default 100).
    eta : float
        Constraint radius :math:`\eta \ge 0` (default 0).
    weights, s : optional
        Weights of shape ``A.shape`` or local sparsities; default uniform.
    p : int
        Iterations per continuation stage (default 50).
    gamma : float
        Reduction of :math:`\mu` per stage, :math:`0 < \gamma \le 1` (default 0.5).
    mu0 : float, optional
        Initial smoothing; default :math:`0.9\max_i |(A^*y)_i|/w_i` per sample (as in
        NESTA).
    mu_min : float, optional
        Floor of :math:`\mu`; default :math:`10^{-6}\mu_0`. (Below the floor the
        steps :math:`\mu g` become too small to make progress in a stage of ``p``
        iterations; on the 16x16 test problems the distance to the BP minimiser is
        about :math:`25\mu` once the stage has converged.)

    Notes
    -----
    Start :math:`x_0 = A^*y` (feasible; or ``x0`` when given). ``n_layers`` is
    ``4 depth + 1`` for :math:`\eta > 0` (gradient clip; squared norms; two
    rescalings) and ``depth + 1`` for :math:`\eta = 0` (projections are affine).
    """

    name = "nesta"

    def __init__(
        self,
        A: Any,
        depth: int | None = None,
        *,
        eta: float = 0.0,
        weights: Any = None,
        s: Any = None,
        p: int = 50,
        gamma: float = 0.5,
        mu0: float | None = None,
        mu_min: float | None = None,
    ):
        super().__init__(A)
        self._depth = check_int("depth", 100 if depth is None else depth)
        self.eta = check_nonnegative("eta", eta)
        self.p = check_int("p", p)
        gamma = check_positive("gamma", gamma)
        if gamma > 1:
            raise ValueError(f"gamma = {gamma!r} is not allowed; expected 0 < gamma <= 1")
        self.gamma = gamma
        self.mu0 = None if mu0 is None else check_positive("mu0", mu0)
        self.mu_min = None if mu_min is None else check_positive("mu_min", mu_min)
        if not bool((self.set_weights(weights, s) > 0).all()):
            raise ValueError("nesta needs positive weights (w_i > 0) for its smoothing")
        check_rows_orthonormal(A)

    @property
    def n_layers(self) -> int:
        return (4 if self.eta > 0 else 1) * self.depth + 1

    # ---- helpers
    def _correction(self, y: torch.Tensor, Av: torch.Tensor) -> torch.Tensor:
        r""":math:`c = \max(0, 1 - \eta/\|y - Av\|)(y - Av)`."""
        return shrink_ball(y - Av, self.eta)

    def _per_coeff(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(*t.shape[:-1], *([1] * len(self.shape)))

    def setup(self, y: torch.Tensor) -> dict[str, Any]:
        return {"w": self.weights.to(y.device)}

    def init_state(self, y: torch.Tensor, x0: torch.Tensor | None, ctx: dict) -> NestaState:
        batch = y.shape[:-1]
        Aty = self.A.adjoint(y)
        if x0 is None:
            x, Ax = Aty, y.clone()  # A A^* y = y
        else:
            x = self.start_point(y, x0)
            Ax = self.A(x)
        if self.mu0 is None:
            # max_i |(A^*y)_i| / w_i via squares (no sqrt at the zero entries of A^*y,
            # whose gradient would be NaN); the floor keeps y = 0 finite too
            nd = len(self.shape)
            ratio2 = abs2(Aty) / ctx["w"].square()
            top = ratio2.flatten(ratio2.ndim - nd).amax(-1, keepdim=True)
            mu0 = 0.9 * top.clamp(min=1e-300).sqrt()
        else:
            mu0 = torch.full((*batch, 1), self.mu0, dtype=self.real_dtype, device=y.device)
        zm = torch.zeros_like(y)
        return NestaState(
            x=x, Ax=Ax, anchor=x, A_anchor=Ax, g_sum=torch.zeros_like(x), Ag_sum=zm,
            v1=x, Av1=Ax, c1=zm, mu0=mu0, mu=mu0,
        )

    def stage_mu(self, mu0: torch.Tensor, t: int) -> torch.Tensor:
        r""":math:`\mu_t = \max(\mu_{\min}, \mu_0\gamma^t)`, default floor :math:`10^{-6}\mu_0`."""
        floor = 1e-6 * mu0 if self.mu_min is None else torch.full_like(mu0, self.mu_min)
        return torch.maximum(mu0 * (self.gamma**t), floor)

    def step(self, state: NestaState, y: torch.Tensor, k: int, ctx: dict) -> NestaState:
        A = self.A
        i, t = k % self.p, k // self.p
        if i == 0:
            if k > 0:  # new stage from the last y_i = v1 + A^* c1 (A y_i = A v1 + c1)
                anchor = state.v1 + A.adjoint(state.c1)
                A_anchor = state.Av1 + state.c1
                state = state._replace(
                    x=anchor, Ax=A_anchor, anchor=anchor, A_anchor=A_anchor,
                    g_sum=torch.zeros_like(anchor), Ag_sum=torch.zeros_like(A_anchor),
                )
            state = state._replace(mu=self.stage_mu(state.mu0, t))
        mu_m = state.mu
        mu_c = self._per_coeff(mu_m)
        g = huber_grad(state.x, mu_c, ctx["w"])
        Ag = A(g)
        v1 = state.x - mu_c * g
        Av1 = state.Ax - mu_m * Ag
        c1 = self._correction(y, Av1)
        a_i = 0.5 * (i + 1)
        g_sum = state.g_sum + a_i * g
        Ag_sum = state.Ag_sum + a_i * Ag
        v2 = state.anchor - mu_c * g_sum
        Av2 = state.A_anchor - mu_m * Ag_sum
        c2 = self._correction(y, Av2)
        tau = 2.0 / (i + 3)
        x = tau * v2 + (1.0 - tau) * v1 + A.adjoint(tau * c2 + (1.0 - tau) * c1)
        Ax = tau * (Av2 + c2) + (1.0 - tau) * (Av1 + c1)
        return state._replace(
            x=x, Ax=Ax, g_sum=g_sum, Ag_sum=Ag_sum, v1=v1, Av1=Av1, c1=c1
        )

    def output(self, state: NestaState, y: torch.Tensor, k: int, ctx: dict) -> torch.Tensor:
        return state.v1 + self.A.adjoint(state.c1)
