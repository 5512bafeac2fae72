r"""The convex problem an iterative network solves, and a converged solver for it.

The rates of the theory bound the *optimisation error* :math:`\|\phi_n(y) - \hat x\|`,
where :math:`\hat x = W^{-1}\hat z` and :math:`\hat z` minimises the network's own
problem (in wavelet coefficients :math:`z`, :math:`A = P_\Omega U W^{-1}`):

==============  ======================================================  =================
kind            problem                                                 networks
==============  ======================================================  =================
``sqrt-lasso``  :math:`\min_z \lambda\|z\|_{\ell^1_w} + \|Az - y\|_2`    ``primal-dual``,
                                                                        ``firenet``
``lasso``       :math:`\min_z \lambda\|z\|_{\ell^1_w}
                + \tfrac12\|Az - y\|_2^2`                               ``fista``, ``ista``
``bp``          :math:`\min_z \|z\|_{\ell^1_w}`
                s.t. :math:`\|Az - y\|_2 \le \eta`                      ``cp-bp``, ``nesta``
==============  ======================================================  =================

with :math:`\|z\|_{\ell^1_w} = \sum_i w_i |z_i|`. (NESTA minimises a smoothed version
of basis pursuit; its distance to the BP minimiser levels off at about
:math:`25\mu_{\min}`, see :class:`~stablesweep.networks.nesta.NESTA`.)

:func:`own_problem` reads the problem off a built network (its ``lam``, ``weights``,
``eta`` exactly as the network uses them); :func:`solve_minimiser` solves it to a
certified accuracy:

* ``sqrt-lasso`` and ``bp``: Chambolle–Pock [1]_ with restarts to the better of the
  last iterate and the epoch's ergodic average once the primal–dual gap has fallen by
  a factor 5 since the last restart, and an adaptive primal weight
  :math:`\omega` (steps :math:`\tau = 1/(\omega\|A\|)`, :math:`\sigma = \omega/\|A\|`),
  as in PDLP [2]_. Both problems are positively homogeneous in :math:`(y, \eta)`, so
  they are solved for :math:`y/\|y\|` and the solution rescaled.
* ``lasso``: FISTA [3]_ with the gradient restart of O'Donoghue and Candès [4]_.

**Certificate** (the stopping rule): the relative primal–dual gap
:math:`(P(z) - D(\psi))/P(z) \ge (P(z) - P^*)/P(z)`, with the dual point scaled to
dual feasibility:

* sqrt-LASSO: :math:`D(\psi) = -\operatorname{Re}\langle\psi, y\rangle` over
  :math:`\|\psi\|_2 \le 1`, :math:`|(A^*\psi)_i| \le \lambda w_i` (the candidates are the
  solver's dual iterate and the normalised residual :math:`(Az - y)/\|Az - y\|`);
* LASSO: :math:`D(\theta) = \operatorname{Re}\langle\theta, y\rangle - \tfrac12\|\theta\|^2`
  over :math:`|(A^*\theta)_i| \le \lambda w_i`, :math:`\theta` a multiple of the
  residual :math:`y - Az`;
* BP: :math:`D(\psi) = -\operatorname{Re}\langle\psi, y\rangle - \eta\|\psi\|` over
  :math:`|(A^*\psi)_i| \le w_i`; when :math:`AA^* = I` the primal point is first
  projected onto the feasible set, :math:`z + A^*c`,
  :math:`c = \max(0, 1 - \eta/\|y - Az\|)(y - Az)` (so :math:`P` is a true upper bound),
  otherwise the certificate is the larger of the gap and the relative infeasibility
  :math:`(\|Az - y\| - \eta)_+/\|y\|`.

References
----------
.. [1] A. Chambolle, T. Pock, "A first-order primal-dual algorithm for convex problems
   with applications to imaging", J. Math. Imaging Vis. 40 (2011), 120–145.
.. [2] D. Applegate et al., "Practical large-scale linear programming using primal-dual
   hybrid gradient", NeurIPS 2021.
.. [3] A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for
   linear inverse problems", SIAM J. Imaging Sci. 2 (2009), 183–202.
.. [4] B. O'Donoghue, E. Candès, "Adaptive restart for accelerated gradient schemes",
   Found. Comput. Math. 15 (2015), 715–732.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .base import operator_norm, real_dtype
from .cp_bp import ChambollePockBP
from .firenet import FIRENET
from .fista import FISTA, ISTA
from .nesta import NESTA
from .primal_dual import PrimalDual
from .prox import soft_threshold

__all__ = [
    "KINDS",
    "OwnProblem",
    "MinimiserResult",
    "own_problem",
    "objective_value",
    "solve_minimiser",
]

#: the problem kinds
KINDS = ("sqrt-lasso", "lasso", "bp")

#: network class -> problem kind (exact classes: a subclass may change the problem)
_KIND_OF = {
    PrimalDual: "sqrt-lasso",
    FIRENET: "sqrt-lasso",
    FISTA: "lasso",
    ISTA: "lasso",
    ChambollePockBP: "bp",
    NESTA: "bp",
}

_TINY = 1e-300


@dataclass(frozen=True)
class OwnProblem:
    r"""A convex problem of :data:`KINDS` (see the module docstring).

    Attributes
    ----------
    kind : str
        ``"sqrt-lasso"``, ``"lasso"`` or ``"bp"``.
    lam : float or None
        :math:`\lambda > 0` (``None`` for ``"bp"``).
    weights : torch.Tensor or None
        Weights :math:`w \ge 0` of the :math:`\ell^1_w` norm, shape ``A.shape`` (real);
        ``None`` means all ones.
    eta : float or None
        Constraint radius :math:`\eta \ge 0` of ``"bp"`` (``None`` otherwise).
    network : str
        Name of the network the problem was read from (``""`` if built by hand).
    """

    kind: str
    lam: float | None = None
    weights: torch.Tensor | None = field(default=None, compare=False, repr=False)
    eta: float | None = None
    network: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind = {self.kind!r} is not allowed; expected one of {KINDS}")
        if self.kind == "bp":
            if self.lam is not None:
                raise ValueError(f"lam = {self.lam!r} is not allowed for kind 'bp'; expected None")
            if not _is_real(self.eta) or not self.eta >= 0 or not math.isfinite(self.eta):
                raise ValueError(
                    f"eta = {self.eta!r} is not allowed; expected a finite real >= 0 for kind 'bp'"
                )
        else:
            if not _is_real(self.lam) or not self.lam > 0 or not math.isfinite(self.lam):
                raise ValueError(
                    f"lam = {self.lam!r} is not allowed; expected a finite real > 0 for kind "
                    f"{self.kind!r}"
                )
            if self.eta is not None:
                raise ValueError(
                    f"eta = {self.eta!r} is not allowed for kind {self.kind!r}; expected None"
                )
        if self.weights is not None:
            w = self.weights
            if not isinstance(w, torch.Tensor) or w.is_complex():
                raise ValueError("weights must be a real torch.Tensor (or None for all ones)")
            if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
                raise ValueError("weights must be finite and non-negative")


@dataclass(frozen=True)
class MinimiserResult:
    r"""Output of :func:`solve_minimiser`.

    For a batch of measurements ``y`` of shape ``(*batch, m)`` the tensors get the
    leading ``batch`` dimensions and the scalars become numpy arrays of shape ``batch``.

    Attributes
    ----------
    x_hat : torch.Tensor, shape ``(*batch, *A.shape)``
        The minimiser as an image, :math:`W^{-1}\hat z` (``A.to_image``).
    z_hat : torch.Tensor, shape ``(*batch, *A.shape)``
        The minimiser in coefficients.
    objective : float
        Objective value at ``z_hat`` (:func:`objective_value`).
    converged : bool
        ``certificate <= tol``.
    iterations : int
        Iterations used (one ``A`` and one ``A^*`` each).
    certificate : float
        Relative primal–dual gap (see the module docstring), an upper bound on
        :math:`(P(\hat z) - P^*)/P(\hat z)`.
    """

    x_hat: torch.Tensor
    z_hat: torch.Tensor
    objective: Any
    converged: Any
    iterations: Any
    certificate: Any


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# --------------------------------------------------------------------------- the problem


def own_problem(net: Any) -> OwnProblem | None:
    r"""The convex problem that an iterative network's iterates converge to.

    Parameters
    ----------
    net : ReconstructionNetwork
        A built network.

    Returns
    -------
    OwnProblem or None
        ``"sqrt-lasso"`` for :class:`~stablesweep.networks.PrimalDual` and
        :class:`~stablesweep.networks.FIRENET` (their ``lam`` and ``weights``),
        ``"lasso"`` for :class:`~stablesweep.networks.FISTA` and
        :class:`~stablesweep.networks.ISTA`, ``"bp"`` for
        :class:`~stablesweep.networks.ChambollePockBP` and
        :class:`~stablesweep.networks.NESTA` (their ``eta`` and ``weights``); ``None``
        for every other network (trained, custom, subclasses of these).
    """
    kind = _KIND_OF.get(type(net))
    if kind is None:
        return None
    w = net.weights.detach().clone()
    name = getattr(net, "name", "")
    if kind == "bp":
        return OwnProblem(kind, weights=w, eta=float(net.eta), network=name)
    return OwnProblem(kind, lam=float(net.lam), weights=w, network=name)


def _weights(problem: OwnProblem, A: Any, device: torch.device) -> torch.Tensor:
    rdtype = real_dtype(A.dtype)
    if problem.weights is None:
        return torch.ones(tuple(A.shape), dtype=rdtype, device=device)
    w = problem.weights.to(device=device, dtype=rdtype)
    if tuple(w.shape) != tuple(A.shape):
        raise ValueError(
            f"problem.weights has shape {tuple(w.shape)}; expected the coefficient shape "
            f"{tuple(A.shape)}"
        )
    return w


def _check_y(A: Any, y: Any) -> torch.Tensor:
    y = torch.as_tensor(y)
    if y.ndim < 1 or y.shape[-1] != int(A.m):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected (*batch, m) with m = {A.m}")
    if y.is_complex() and not A.dtype.is_complex:
        raise ValueError("y is complex but the operator is real; expected real measurements")
    return y.to(A.dtype)


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t))


def _wl1(z: torch.Tensor, w: torch.Tensor) -> float:
    return float((w * z.abs()).sum())


def objective_value(
    problem: OwnProblem, A: Any, z: torch.Tensor, y: torch.Tensor, *, feas_tol: float = 1e-6
) -> float:
    r"""Objective of ``problem`` at coefficients ``z`` for measurements ``y``.

    Parameters
    ----------
    problem : OwnProblem
    A : operator
    z : torch.Tensor, shape ``A.shape``
        Coefficients (not the image).
    y : torch.Tensor, shape ``(m,)``
    feas_tol : float
        ``"bp"`` only: :math:`z` counts as feasible when
        :math:`\|Az - y\| \le \eta + \text{feas\_tol}\cdot\|y\|`.

    Returns
    -------
    float
        :math:`\lambda\|z\|_{\ell^1_w} + \|Az - y\|` (sqrt-LASSO),
        :math:`\lambda\|z\|_{\ell^1_w} + \tfrac12\|Az - y\|^2` (LASSO), or
        :math:`\|z\|_{\ell^1_w}` (BP; ``inf`` when infeasible beyond the tolerance).
    """
    if not isinstance(problem, OwnProblem):
        raise ValueError(f"problem = {problem!r} is not allowed; expected an OwnProblem")
    y = _check_y(A, y)
    if y.ndim != 1:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected a single vector (m,)")
    z = torch.as_tensor(z).to(A.dtype)
    if tuple(z.shape) != tuple(A.shape):
        raise ValueError(f"z has shape {tuple(z.shape)}; expected {tuple(A.shape)}")
    w = _weights(problem, A, z.device)
    res = _norm(A(z) - y)
    if problem.kind == "sqrt-lasso":
        return problem.lam * _wl1(z, w) + res
    if problem.kind == "lasso":
        return problem.lam * _wl1(z, w) + 0.5 * res**2
    if res > problem.eta + feas_tol * _norm(y):
        return math.inf
    return _wl1(z, w)


# --------------------------------------------------------------------------- certificates


def _dual_scale(At_psi: torch.Tensor, bound: torch.Tensor) -> float:
    """max_i |(A^* psi)_i| / bound_i (inf where bound_i = 0 < |(A^* psi)_i|)."""
    mag = At_psi.abs()
    ratio = torch.where(mag > 0, mag / bound, torch.zeros_like(mag))
    return float(ratio.max()) if ratio.numel() else 0.0


def _rel_gap(primal: float, dual: float) -> float:
    gap = max(primal - dual, 0.0)
    if gap == 0.0:
        return 0.0
    return gap / max(abs(primal), _TINY)


class _Gap:
    """Primal point, primal value and certificate of a (z, psi) pair."""

    def __init__(self, problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor,
                 orthonormal: bool):
        self.p, self.A, self.y, self.w, self.orth = problem, A, y, w, orthonormal
        self.y_norm = _norm(y)

    def __call__(self, z: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        A, y, w, p = self.A, self.y, self.w, self.p
        if p.kind == "sqrt-lasso":
            r = A(z) - y
            rn = _norm(r)
            primal = p.lam * _wl1(z, w) + rn
            best = -math.inf
            cands = [psi] + ([r / rn] if rn > 0 else [])
            for c in cands:
                scale = max(1.0, _norm(c), _dual_scale(A.adjoint(c), p.lam * w))
                if math.isfinite(scale):
                    best = max(best, -float(torch.vdot(c, y).real) / scale)
            return z, primal, _rel_gap(primal, best)
        # bp
        r = y - A(z)
        rn = _norm(r)
        infeas = 0.0
        if self.orth:
            if rn > p.eta:
                z = z + A.adjoint(r * (1.0 - p.eta / rn))
        else:
            infeas = max(rn - p.eta, 0.0) / max(self.y_norm, _TINY)
        primal = _wl1(z, w)
        scale = max(1.0, _dual_scale(A.adjoint(psi), w))
        dual = -math.inf
        if math.isfinite(scale):
            dual = (-float(torch.vdot(psi, y).real) - p.eta * _norm(psi)) / scale
        return z, primal, max(_rel_gap(primal, dual), infeas)


def _rows_orthonormal(A: Any) -> bool:
    flag = getattr(A, "rows_orthonormal", None)
    if flag is not None:
        return bool(flag)
    g = torch.Generator().manual_seed(4321)
    u = torch.randn(3, int(A.m), dtype=A.dtype, generator=g)
    err = torch.linalg.vector_norm(A(A.adjoint(u)) - u, dim=-1)
    return bool((err <= 1e-10 * torch.linalg.vector_norm(u, dim=-1)).all())


# --------------------------------------------------------------------------- solvers


def _solve_cp(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor, norm_A: float,
              tol: float, max_iter: int, check_every: int) -> tuple[torch.Tensor, int, float]:
    """Restarted, primal-weight-adaptive Chambolle–Pock for sqrt-LASSO and BP."""
    gap_of = _Gap(problem, A, y, w, _rows_orthonormal(A))
    thr_w = (problem.lam if problem.kind == "sqrt-lasso" else 1.0) * w
    eta = problem.eta if problem.kind == "bp" else 0.0

    def prox_dual(u: torch.Tensor, sigma: float) -> torch.Tensor:
        u = u - sigma * y
        n = _norm(u)
        if problem.kind == "sqrt-lasso":  # projection onto the unit ball
            return u / n if n > 1.0 else u
        radius = sigma * eta  # block soft-thresholding
        return u * max(0.0, 1.0 - radius / n) if n > 0 else u

    x = torch.zeros(tuple(A.shape), dtype=A.dtype, device=y.device)
    psi = torch.zeros_like(y)
    omega = 1.0
    x_r, psi_r = x, psi  # last restart point
    z_best, _, gap_r = gap_of(x, psi)
    cert_best = gap_r
    if gap_r <= tol:
        return z_best, 0, gap_r
    x_sum, psi_sum, count = torch.zeros_like(x), torch.zeros_like(psi), 0
    it = 0
    while it < max_iter:
        tau, sigma = 1.0 / (omega * norm_A), omega / norm_A
        x_new = soft_threshold(x - tau * A.adjoint(psi), tau * thr_w)
        psi = prox_dual(psi + sigma * A(2.0 * x_new - x), sigma)
        x = x_new
        x_sum += x
        psi_sum += psi
        count += 1
        it += 1
        if it % check_every and it < max_iter:
            continue
        za, _, ga = gap_of(x_sum / count, psi_sum / count)
        zl, _, gl = gap_of(x, psi)
        if gl <= ga:
            cand, cand_gap, z_proj = (x, psi), gl, zl
        else:
            cand, cand_gap, z_proj = (x_sum / count, psi_sum / count), ga, za
        if cand_gap < cert_best:
            z_best, cert_best = z_proj, cand_gap
        if cert_best <= tol:
            break
        if cand_gap <= 0.2 * gap_r or count >= max(0.36 * it, 50 * check_every):
            dx, dpsi = _norm(cand[0] - x_r), _norm(cand[1] - psi_r)
            if dx > 0 and dpsi > 0:  # primal weight: geometric smoothing of ||dpsi||/||dx||
                omega = math.exp(0.5 * math.log(dpsi / dx) + 0.5 * math.log(omega))
            x, psi = cand[0].clone(), cand[1].clone()
            x_r, psi_r, gap_r = x, psi, cand_gap
            x_sum, psi_sum, count = torch.zeros_like(x), torch.zeros_like(psi), 0
    return z_best, it, cert_best


def _lasso_gap(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor,
               z: torch.Tensor) -> float:
    r = y - A(z)
    primal = problem.lam * _wl1(z, w) + 0.5 * _norm(r) ** 2
    scale = max(1.0, _dual_scale(A.adjoint(r), problem.lam * w))
    if not math.isfinite(scale):
        return math.inf
    theta = r / scale
    dual = float(torch.vdot(theta, y).real) - 0.5 * _norm(theta) ** 2
    return _rel_gap(primal, dual)


def _solve_fista(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor, norm_A: float,
                 tol: float, max_iter: int, check_every: int) -> tuple[torch.Tensor, int, float]:
    """FISTA with gradient restart on the weighted LASSO."""
    L = norm_A**2
    thr = (problem.lam / L) * w
    x = torch.zeros(tuple(A.shape), dtype=A.dtype, device=y.device)
    v, t = x, 1.0
    z_best, cert_best = x, _lasso_gap(problem, A, y, w, x)
    it = 0
    while it < max_iter and cert_best > tol:
        x_new = soft_threshold(v - A.adjoint(A(v) - y) / L, thr)
        if float(torch.vdot((v - x_new).flatten(), (x_new - x).flatten()).real) > 0:
            t, v = 1.0, x_new  # restart the momentum
        else:
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            v = x_new + ((t - 1.0) / t_new) * (x_new - x)
            t = t_new
        x = x_new
        it += 1
        if it % check_every == 0 or it == max_iter:
            cert = _lasso_gap(problem, A, y, w, x)
            if cert < cert_best:
                z_best, cert_best = x, cert
    return z_best, it, cert_best


def _solve_one(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor, norm_A: float,
               tol: float, max_iter: int, check_every: int) -> tuple[torch.Tensor, int, float]:
    if problem.kind == "lasso":
        return _solve_fista(problem, A, y, w, norm_A, tol, max_iter, check_every)
    y_norm = _norm(y)
    zero = torch.zeros(tuple(A.shape), dtype=A.dtype, device=y.device)
    if y_norm == 0.0 or (problem.kind == "bp" and y_norm <= problem.eta):
        return zero, 0, 0.0  # z = 0 is feasible and has the least possible objective 0
    # positively homogeneous: solve for y / ||y|| (and eta / ||y||), rescale
    scaled = problem if problem.kind == "sqrt-lasso" else OwnProblem(
        "bp", weights=problem.weights, eta=problem.eta / y_norm, network=problem.network
    )
    z, it, cert = _solve_cp(scaled, A, y / y_norm, w, norm_A, tol, max_iter, check_every)
    return z * y_norm, it, cert


def solve_minimiser(
    problem: OwnProblem,
    A: Any,
    y: torch.Tensor,
    *,
    tol: float = 1e-7,
    max_iter: int = 100_000,
    check_every: int = 20,
) -> MinimiserResult:
    r"""Solve ``problem`` for measurements ``y`` to a certified relative accuracy.

    Parameters
    ----------
    problem : OwnProblem
        E.g. ``own_problem(net)``.
    A : operator
        The network's measurement operator (``A(z)``, ``A.adjoint``, ``A.to_image``,
        ``shape``, ``m``, ``dtype``). Computations run in ``A.dtype`` (float64 or
        complex128 for :class:`~stablesweep.operators.SamplingOperator`).
    y : torch.Tensor, shape ``(m,)`` or ``(*batch, m)``
        Measurements (a batch is solved one vector at a time).
    tol : float
        Stop once the certificate (relative primal–dual gap, see the module docstring)
        is at most ``tol``.
    max_iter : int
        Iteration cap (one ``A`` and one ``A^*`` each, plus certificate evaluations
        every ``check_every`` iterations).
    check_every : int
        Iterations between certificate evaluations (and restart decisions).

    Returns
    -------
    MinimiserResult
        ``converged`` is ``certificate <= tol``; when not converged, the best point found
        and its certificate.

    Raises
    ------
    ValueError
        A bad ``problem``, ``tol``, ``max_iter``, ``check_every`` or a ``y`` whose last
        dimension is not ``A.m``.

    Examples
    --------
    >>> net = build_network("primal-dual", A, 500, s=s)     # doctest: +SKIP
    >>> res = solve_minimiser(own_problem(net), A, y)        # doctest: +SKIP
    >>> opt_error = (net.iterates(y) - res.x_hat).flatten(1).norm(dim=1)  # doctest: +SKIP
    """
    if not isinstance(problem, OwnProblem):
        raise ValueError(f"problem = {problem!r} is not allowed; expected an OwnProblem")
    if not _is_real(tol) or not 0 < tol < 1:
        raise ValueError(f"tol = {tol!r} is not allowed; expected a real in (0, 1)")
    for name, v in (("max_iter", max_iter), ("check_every", check_every)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"{name} = {v!r} is not allowed; expected an integer >= 1")
    y = _check_y(A, y)
    w = _weights(problem, A, y.device)
    norm_A = operator_norm(A)
    if not norm_A > 0:
        raise ValueError(f"the operator has norm {norm_A!r}; expected ||A|| > 0")
    batch = tuple(y.shape[:-1])
    flat = y.reshape(-1, y.shape[-1])
    zs, its, certs, objs = [], [], [], []
    with torch.no_grad():
        for yi in flat:
            z, it, cert = _solve_one(problem, A, yi, w, norm_A, float(tol), int(max_iter),
                                     int(check_every))
            zs.append(z)
            its.append(it)
            certs.append(cert)
            objs.append(objective_value(problem, A, z, yi))
        z_hat = torch.stack(zs).reshape(*batch, *A.shape)
        x_hat = A.to_image(z_hat)
    certs_a = np.asarray(certs, dtype=np.float64)
    conv = certs_a <= tol
    if not batch:
        return MinimiserResult(x_hat, z_hat, float(objs[0]), bool(conv[0]), int(its[0]),
                               float(certs_a[0]))
    return MinimiserResult(
        x_hat, z_hat, np.asarray(objs, dtype=np.float64).reshape(batch), conv.reshape(batch),
        np.asarray(its, dtype=np.int64).reshape(batch), certs_a.reshape(batch),
    )
