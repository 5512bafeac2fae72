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

from the anchor :math:`x_0 = a`.

**Continuation** (the smoothing schedule). The iteration is restarted every ``p``
iterations (a *stage*) from the anchor :math:`a` = the last :math:`y_i`. Stage
:math:`t = 0, 1, \dots` (iterations :math:`tp, \dots, (t+1)p - 1`) uses

.. math::

    \mu_t = \mu_0 \Bigl(\frac{\mu_f}{\mu_0}\Bigr)^{\min(t+1,\,T)/T}
          = \max(\mu_f,\; \mu_0\gamma^{t+1}), \qquad
    \gamma = \Bigl(\frac{\mu_f}{\mu_0}\Bigr)^{1/T},

a geometric decrease from :math:`\mu_0` that reaches the target :math:`\mu_f` in
stage :math:`T - 1` (after :math:`(T-1)p` iterations) and keeps it from then on
(stages of constant :math:`\mu_f`, still restarted every ``p`` iterations), as in
NESTA [2]_ (continuation, :math:`\gamma = (\mu_f/\mu_0)^{1/T}` and
:math:`\mu_t = \mu_0\gamma^{t+1}`). Both ends are set by the data, per sample, from the
coefficient scale

.. math::

    m(y) = \max_i |(A^*y)_i| / w_i, \qquad
    \mu_0 = 0.9\, m(y), \qquad \mu_f = \mu_{\rm rel}\, m(y)

(:math:`\mu_{\rm rel} = 10^{-5}`, :math:`T = 4`, ``p`` = 50 by default, so
:math:`\mu_f/\mu_0 = 1.1\cdot 10^{-5}`, :math:`\gamma = 0.058` and :math:`\mu = \mu_f`
from iteration 150 on). The schedule does not depend on the total depth, so the output
after :math:`k` iterations (:math:`W^{-1}y_{k-1}`) is the same for every deeper network.

*Why a target relative to the data.* The smoothed problem treats a coefficient with
:math:`|z_i| < \mu w_i` quadratically (it is shrunk towards zero like a least-squares
term), so :math:`\mu` must end well below the coefficients that carry the image. The
earlier schedule (:math:`\mu_t = \mu_0 2^{-t}` with ``p`` = 50, floor
:math:`10^{-6}\mu_0`) made only three halvings in 200 iterations: on a 64x64 natural
image (cameraman, db2, Fourier, uniform sampling at rate 0.25 with the zero frequency
sampled, :math:`\eta = 10^{-3}`) :math:`\mu_0 = 0.9\max|A^*y| = 30` is set by the DC
coefficient, the final :math:`\mu = 3.75` exceeded every other coefficient, and the
200-iteration network returned the zero-filled :math:`A^*y` (relative difference
:math:`2.6\cdot 10^{-5}`; Jacobian :math:`\sigma_{\max} = 1`): a solver that solves
nothing. With the schedule above it moves :math:`0.13\|x\|` away from :math:`A^*y`, to
within :math:`0.04\|\hat x\|` of the basis-pursuit minimiser :math:`\hat x` (which is
:math:`0.16\|\hat x\|` from :math:`A^*y`); on multilevel (theory) sampling at the same
rate (local sparsities (2, 4, 8, 12, 16, 16)) its error is 0.101 against 0.114 for
zero filling (0.102 for the minimiser, 0.102 for FISTA). On
uniform sampling basis pursuit itself is no better than zero filling (error 0.472
against 0.467 on that image), and neither is NESTA.

*Legacy schedule.* Given ``gamma`` explicitly, stage :math:`t` uses
:math:`\mu_t = \max(\mu_f, \mu_0\gamma^t)` (stage 0 at :math:`\mu_0`, no fixed number
of stages; its default floor is now :math:`\mu_f = 1.1\cdot 10^{-5}\mu_0` instead of
:math:`10^{-6}\mu_0`); with ``gamma = 1`` and ``mu0`` set, :math:`\mu` is constant.

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

from .core.base import IterativeNetwork, check_int, check_nonnegative, check_positive
from .core.prox import abs2, huber_grad, shrink_ball

__all__ = ["NESTA", "NestaState", "check_rows_orthonormal"]

#: default iterations per continuation stage
P_DEFAULT = 50
#: default number of stages from mu_0 to mu_f
STAGES_DEFAULT = 4
#: default final smoothing relative to the scale max_i |(A^*y)_i| / w_i
MU_REL_DEFAULT = 1e-5


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
    mu_f: torch.Tensor  #: final (target) smoothing parameter per sample, (..., 1)
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
    gamma : float, optional
        Fixed reduction of :math:`\mu` per stage, :math:`0 < \gamma \le 1` (legacy
        schedule :math:`\mu_t = \max(\mu_f, \mu_0\gamma^t)`). Default ``None``:
        :math:`\gamma = (\mu_f/\mu_0)^{1/T}` and :math:`\mu_t = \mu_0\gamma^{t+1}` until
        :math:`\mu_f` (see the module docstring).
    mu0 : float, optional
        Initial smoothing; default :math:`0.9\, m(y)`, :math:`m(y) = \max_i
        |(A^*y)_i|/w_i` per sample (as in NESTA).
    mu_min : float, optional
        The final smoothing :math:`\mu_f` as an absolute number (the floor of the legacy
        schedule); default :math:`\mu_f = \mu_{\rm rel}\, m(y)`. In either case
        :math:`\mu_f \le \mu_0`.
    mu_rel : float
        Final smoothing relative to the coefficient scale, :math:`\mu_f =
        \mu_{\rm rel}\, m(y)` (default :math:`10^{-5}`; used when ``mu_min`` is not
        given). Smaller values bring the smoothed minimiser closer to the basis-pursuit
        minimiser but slow the stages down (steps :math:`\mu g` shrink with
        :math:`\mu`); measured with the defaults, the distance to the BP minimiser
        after 1000 iterations is :math:`4\cdot 10^{-4}` (16x16 Fourier) and
        :math:`1.5\cdot 10^{-4}` (32x32 Walsh, both sparse in levels, 1% noise) and
        :math:`2.4\cdot 10^{-3}` (64x64 cameraman, multilevel sampling at rate 0.25;
        all relative to the minimiser's norm). Once converged at :math:`\mu_f` the
        distance levels off at about :math:`25\text{--}50\,\mu_f` on the 16x16 and
        32x32 problems (measured with :math:`\mu_{\rm rel} = 10^{-4}, 10^{-3}`); with
        the default :math:`\mu_{\rm rel}` that level is reached only after several
        thousand iterations.
    stages : int
        Number of stages :math:`T` from :math:`\mu_0` to :math:`\mu_f` (default 4;
        ignored when ``gamma`` is given).

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
        p: int = P_DEFAULT,
        gamma: float | None = None,
        mu0: float | None = None,
        mu_min: float | None = None,
        mu_rel: float = MU_REL_DEFAULT,
        stages: int = STAGES_DEFAULT,
    ):
        super().__init__(A)
        self._depth = check_int("depth", 100 if depth is None else depth)
        self.eta = check_nonnegative("eta", eta)
        self.p = check_int("p", p)
        if gamma is not None:
            gamma = check_positive("gamma", gamma)
            if gamma > 1:
                raise ValueError(f"gamma = {gamma!r} is not allowed; expected 0 < gamma <= 1")
        self.gamma = gamma
        self.stages = check_int("stages", stages)
        self.mu0 = None if mu0 is None else check_positive("mu0", mu0)
        self.mu_min = None if mu_min is None else check_positive("mu_min", mu_min)
        self.mu_rel = check_positive("mu_rel", mu_rel)
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
        # scale m(y) = max_i |(A^*y)_i| / w_i via squares (no sqrt at the zero entries
        # of A^*y, whose gradient would be NaN); the floor keeps y = 0 finite too
        nd = len(self.shape)
        ratio2 = abs2(Aty) / ctx["w"].square()
        scale = ratio2.flatten(ratio2.ndim - nd).amax(-1, keepdim=True).clamp(min=1e-300).sqrt()
        if self.mu0 is None:
            mu0 = 0.9 * scale
        else:
            mu0 = torch.full((*batch, 1), self.mu0, dtype=self.real_dtype, device=y.device)
        if self.mu_min is None:
            mu_f = self.mu_rel * scale
        else:
            mu_f = torch.full_like(mu0, self.mu_min)
        mu_f = torch.minimum(mu_f, mu0)  # continuation never increases mu
        zm = torch.zeros_like(y)
        return NestaState(
            x=x, Ax=Ax, anchor=x, A_anchor=Ax, g_sum=torch.zeros_like(x), Ag_sum=zm,
            v1=x, Av1=Ax, c1=zm, mu0=mu0, mu_f=mu_f, mu=mu0,
        )

    def stage_mu(self, mu0: torch.Tensor, mu_f: torch.Tensor, t: int) -> torch.Tensor:
        r"""Smoothing of stage :math:`t` (see the module docstring).

        :math:`\mu_t = \mu_0 (\mu_f/\mu_0)^{\min(t+1, T)/T}` (``gamma`` not given), or
        :math:`\mu_t = \max(\mu_f, \mu_0\gamma^t)` (``gamma`` given).
        """
        if self.gamma is None:
            if t + 1 >= self.stages:
                return mu_f
            return mu0 * (mu_f / mu0) ** ((t + 1) / self.stages)
        return torch.maximum(mu0 * (self.gamma**t), mu_f)

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
            state = state._replace(mu=self.stage_mu(state.mu0, state.mu_f, t))
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
