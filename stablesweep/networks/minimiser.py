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
of basis pursuit, its smoothing decreased in stages down to
:math:`\mu_f = \mu_{\rm rel}\max_i|(A^*y)_i|/w_i` (default :math:`\mu_{\rm rel}=10^{-5}`,
or ``mu_min`` when given); its distance to the BP minimiser levels off at about
:math:`25\text{--}50\,\mu_f` once converged at :math:`\mu_f`, see
:class:`~stablesweep.networks.nesta.NESTA`.)

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

**Certificate** (the stopping rule): the relative primal–dual gap, an upper bound on
:math:`(P(z) - P^*)/P(z)`; the dual points and the solvers' iterations are in
:mod:`~stablesweep.networks.convex_solvers`.

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
.. [5] A. Chambolle, T. Pock, "On the ergodic convergence rates of a first-order
   primal-dual algorithm", Math. Program. 159 (2016), 253–287.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .convex_problem import KINDS, OwnProblem, is_real
from .convex_solvers import norm, solve_cp, solve_fista, wl1_norm
from .core.base import operator_norm, real_dtype
from .cp_bp import ChambollePockBP
from .firenet import FIRENET
from .fista import FISTA, ISTA
from .nesta import NESTA
from .primal_dual import PrimalDual

__all__ = [
    "KINDS",
    "OwnProblem",
    "MinimiserResult",
    "own_problem",
    "objective_value",
    "objective_values",
    "gap_bound",
    "solve_minimiser",
]

#: network class -> problem kind (exact classes: a subclass may change the problem)
_KIND_OF = {
    PrimalDual: "sqrt-lasso",
    FIRENET: "sqrt-lasso",
    FISTA: "lasso",
    ISTA: "lasso",
    ChambollePockBP: "bp",
    NESTA: "bp",
}


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
    res = norm(A(z) - y)
    if problem.kind == "sqrt-lasso":
        return problem.lam * wl1_norm(z, w) + res
    if problem.kind == "lasso":
        return problem.lam * wl1_norm(z, w) + 0.5 * res**2
    if res > problem.eta + feas_tol * norm(y):
        return math.inf
    return wl1_norm(z, w)


def objective_values(
    problem: OwnProblem, A: Any, images: torch.Tensor, y: torch.Tensor, *,
    feas_tol: float = 1e-6,
) -> np.ndarray:
    r"""Objective of ``problem`` at each image of a stack (:func:`objective_value`, batched).

    Parameters
    ----------
    problem : OwnProblem
    A : SamplingOperator
    images : torch.Tensor, shape ``(k, *A.shape)``
        Images :math:`\phi_n(y)` (e.g. a network's iterates); their coefficients are
        :math:`z_n = W \phi_n(y)`.
    y : torch.Tensor, shape ``(m,)``
    feas_tol : float
        ``"bp"`` only: as in :func:`objective_value` (``inf`` where infeasible).

    Returns
    -------
    numpy.ndarray, shape ``(k,)``
        :math:`f(z_n)` per image (float64).
    """
    if not isinstance(problem, OwnProblem):
        raise ValueError(f"problem = {problem!r} is not allowed; expected an OwnProblem")
    y = _check_y(A, y)
    d = len(tuple(A.shape))
    if images.ndim != d + 1 or tuple(images.shape[1:]) != tuple(A.shape):
        raise ValueError(f"images have shape {tuple(images.shape)}; expected (k, "
                         f"*{tuple(A.shape)})")
    with torch.no_grad():
        imgs = images.to(A.dtype)
        z = A.to_coefficients(imgs)
        mag = torch.linalg.vector_norm(torch.view_as_real(z), dim=-1) if z.is_complex() \
            else z.abs()
        w = _weights(problem, A, z.device)
        wl1 = (w * mag).flatten(1).sum(dim=1).to(torch.float64)
        r = A.measure(imgs) - y
        res = torch.linalg.vector_norm(r, dim=-1).to(torch.float64)
    wl1, res = wl1.cpu().numpy(), res.cpu().numpy()
    if problem.kind == "sqrt-lasso":
        return problem.lam * wl1 + res
    if problem.kind == "lasso":
        return problem.lam * wl1 + 0.5 * res**2
    return np.where(res <= problem.eta + feas_tol * norm(y), wl1, np.inf)


def gap_bound(net: Any, A: Any, z_hat: torch.Tensor, depths: Any) -> np.ndarray | None:
    r"""The theorem's bound on the objective gap :math:`f(\phi_n(y)) - f(\hat z)`, per depth.

    ============================  ===============================================  =====
    network (exact class, x₀ = 0) bound on :math:`f(\phi_n) - f^*`                 ref.
    ============================  ===============================================  =====
    ``primal-dual`` (ergodic)     :math:`\bigl(\|\hat z\|^2/(2\tau) + 1/(2\sigma)
                                  + \|A\hat z\|\bigr)/n`                          [5]_
    ``fista``                     :math:`2L\|\hat z\|^2/(n+1)^2`                  [3]_
    ``ista``                      :math:`L\|\hat z\|^2/(2n)`                      [3]_
    ============================  ===============================================  =====

    The primal–dual bound is Theorem 1 of [5]_ for the ergodic average
    :math:`X_n = \frac1n\sum_{k=1}^n x_k` from :math:`(x_0, \psi_0) = (0, 0)`: for every
    :math:`(z, \psi)`, :math:`\mathcal L(X_n, \psi) - \mathcal L(z, \Psi_n) \le
    \frac1n(\|z\|^2/(2\tau) + \|\psi\|^2/(2\sigma) - \mathrm{Re}\langle Az, \psi\rangle)`;
    with :math:`z = \hat z` and the supremum over the dual ball :math:`\|\psi\| \le 1` of
    the square-root LASSO (where :math:`f(X_n) = \sup_\psi \mathcal L(X_n, \psi)` and
    :math:`\mathcal L(\hat z, \Psi_n) \le f(\hat z)`) the right-hand side is the table's.

    Parameters
    ----------
    net : network
        The network (its class, step sizes ``tau``, ``sigma`` or ``L``).
    A : SamplingOperator
    z_hat : torch.Tensor, shape ``A.shape``
        The certified minimiser's coefficients.
    depths : sequence of int
        The depths n ≥ 1 of the network's outputs.

    Returns
    -------
    numpy.ndarray or None
        The bound at each depth; ``None`` for networks without such a theorem here
        (FIRENET's restarts, NESTA's smoothing, CP on basis pursuit, trained networks).
    """
    n = np.asarray(depths, dtype=np.float64)
    with torch.no_grad():
        zz = float(torch.linalg.vector_norm(z_hat)) ** 2
        if type(net) is PrimalDual:
            az = float(torch.linalg.vector_norm(A(z_hat.to(A.dtype))))
            return (zz / (2 * float(net.tau)) + 1 / (2 * float(net.sigma)) + az) / n
    if type(net) is FISTA:
        return 2 * float(net.L) * zz / (n + 1) ** 2
    if type(net) is ISTA:
        return float(net.L) * zz / (2 * n)
    return None


def _solve_one(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor, norm_A: float,
               tol: float, max_iter: int, check_every: int) -> tuple[torch.Tensor, int, float]:
    if problem.kind == "lasso":
        return solve_fista(problem, A, y, w, norm_A, tol, max_iter, check_every)
    y_norm = norm(y)
    zero = torch.zeros(tuple(A.shape), dtype=A.dtype, device=y.device)
    if y_norm == 0.0 or (problem.kind == "bp" and y_norm <= problem.eta):
        return zero, 0, 0.0  # z = 0 is feasible and has the least possible objective 0
    # positively homogeneous: solve for y / ||y|| (and eta / ||y||), rescale
    scaled = problem if problem.kind == "sqrt-lasso" else OwnProblem(
        "bp", weights=problem.weights, eta=problem.eta / y_norm, network=problem.network
    )
    z, it, cert = solve_cp(scaled, A, y / y_norm, w, norm_A, tol, max_iter, check_every)
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
    Walsh samples of the 40 lowest sequencies of a 16x16 image with 4 nonzero Haar
    coefficients, and the primal-dual network's distance to its own minimiser:

    >>> import numpy as np
    >>> import torch
    >>> from stablesweep.networks import build_network
    >>> from stablesweep.operators import SamplingOperator
    >>> mask = np.zeros((16, 16), dtype=bool)
    >>> mask[:5, :8] = True
    >>> A = SamplingOperator("walsh", mask)
    >>> z = torch.zeros(16, 16, dtype=torch.float64)
    >>> z[0, 0], z[0, 1], z[1, 0], z[2, 3] = 4.0, 1.0, -2.0, 0.5
    >>> y = A(z)
    >>> net = build_network("primal-dual", A, 200)
    >>> res = solve_minimiser(own_problem(net), A, y)
    >>> opt_error = (net.iterates(y) - res.x_hat).flatten(-2).norm(dim=-1)
    >>> bool(opt_error[-1] < opt_error[0])
    True
    """
    if not isinstance(problem, OwnProblem):
        raise ValueError(f"problem = {problem!r} is not allowed; expected an OwnProblem")
    if not is_real(tol) or not 0 < tol < 1:
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
