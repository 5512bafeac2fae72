r"""Converged solvers with certificates for the problems of
:mod:`~stablesweep.networks.minimiser` (sqrt-LASSO, LASSO, basis pursuit).

Both solvers stop on a certificate: the relative primal–dual gap
:math:`(P(z) - D(\psi))/P(z) \ge (P(z) - P^*)/P(z)`, with the dual point scaled to
dual feasibility.

The dual points:

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

* :func:`solve_cp`: Chambolle–Pock with restarts to the better of the last iterate and
  the epoch's ergodic average once the gap has fallen by a factor 5 since the last
  restart, and an adaptive primal weight :math:`\omega` (steps
  :math:`\tau = 1/(\omega\|A\|)`, :math:`\sigma = \omega/\|A\|`), as in PDLP.
* :func:`solve_fista`: FISTA (the proximal-gradient step and :math:`t_k` of
  :mod:`~stablesweep.networks.fista`) with the gradient restart of O'Donoghue and
  Candès.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .convex_problem import OwnProblem
from .core.prox import project_ball, shrink_ball, soft_threshold
from .fista import next_t, prox_grad

__all__ = ["norm", "wl1_norm", "solve_cp", "solve_fista"]

_TINY = 1e-300


def norm(t: torch.Tensor) -> float:
    """Euclidean norm of a whole tensor, as a float."""
    return float(torch.linalg.vector_norm(t))


def wl1_norm(z: torch.Tensor, w: torch.Tensor) -> float:
    r""":math:`\|z\|_{\ell^1_w} = \sum_i w_i |z_i|`, as a float."""
    return float((w * z.abs()).sum())



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
        self.y_norm = norm(y)

    def __call__(self, z: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        A, y, w, p = self.A, self.y, self.w, self.p
        if p.kind == "sqrt-lasso":
            r = A(z) - y
            rn = norm(r)
            primal = p.lam * wl1_norm(z, w) + rn
            best = -math.inf
            cands = [psi] + ([r / rn] if rn > 0 else [])
            for c in cands:
                scale = max(1.0, norm(c), _dual_scale(A.adjoint(c), p.lam * w))
                if math.isfinite(scale):
                    best = max(best, -float(torch.vdot(c, y).real) / scale)
            return z, primal, _rel_gap(primal, best)
        # bp
        r = y - A(z)
        rn = norm(r)
        infeas = 0.0
        if self.orth:
            if rn > p.eta:
                z = z + A.adjoint(r * (1.0 - p.eta / rn))
        else:
            infeas = max(rn - p.eta, 0.0) / max(self.y_norm, _TINY)
        primal = wl1_norm(z, w)
        scale = max(1.0, _dual_scale(A.adjoint(psi), w))
        dual = -math.inf
        if math.isfinite(scale):
            dual = (-float(torch.vdot(psi, y).real) - p.eta * norm(psi)) / scale
        return z, primal, max(_rel_gap(primal, dual), infeas)


def _rows_orthonormal(A: Any) -> bool:
    flag = getattr(A, "rows_orthonormal", None)
    if flag is not None:
        return bool(flag)
    g = torch.Generator().manual_seed(4321)
    u = torch.randn(3, int(A.m), dtype=A.dtype, generator=g)
    err = torch.linalg.vector_norm(A(A.adjoint(u)) - u, dim=-1)
    return bool((err <= 1e-10 * torch.linalg.vector_norm(u, dim=-1)).all())


def solve_cp(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor, norm_A: float,
              tol: float, max_iter: int, check_every: int) -> tuple[torch.Tensor, int, float]:
    """Restarted, primal-weight-adaptive Chambolle–Pock for sqrt-LASSO and BP."""
    gap_of = _Gap(problem, A, y, w, _rows_orthonormal(A))
    thr_w = (problem.lam if problem.kind == "sqrt-lasso" else 1.0) * w
    eta = problem.eta if problem.kind == "bp" else 0.0

    def prox_dual(u: torch.Tensor, sigma: float) -> torch.Tensor:
        u = u - sigma * y
        if problem.kind == "sqrt-lasso":
            return project_ball(u)  # onto the unit ball
        return shrink_ball(u, sigma * eta)  # block soft-thresholding

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
            dx, dpsi = norm(cand[0] - x_r), norm(cand[1] - psi_r)
            if dx > 0 and dpsi > 0:  # primal weight: geometric smoothing of ||dpsi||/||dx||
                omega = math.exp(0.5 * math.log(dpsi / dx) + 0.5 * math.log(omega))
            x, psi = cand[0].clone(), cand[1].clone()
            x_r, psi_r, gap_r = x, psi, cand_gap
            x_sum, psi_sum, count = torch.zeros_like(x), torch.zeros_like(psi), 0
    return z_best, it, cert_best


def _lasso_gap(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor,
               z: torch.Tensor) -> float:
    r = y - A(z)
    primal = problem.lam * wl1_norm(z, w) + 0.5 * norm(r) ** 2
    scale = max(1.0, _dual_scale(A.adjoint(r), problem.lam * w))
    if not math.isfinite(scale):
        return math.inf
    theta = r / scale
    dual = float(torch.vdot(theta, y).real) - 0.5 * norm(theta) ** 2
    return _rel_gap(primal, dual)


def solve_fista(problem: OwnProblem, A: Any, y: torch.Tensor, w: torch.Tensor, norm_A: float,
                 tol: float, max_iter: int, check_every: int) -> tuple[torch.Tensor, int, float]:
    """FISTA with gradient restart on the weighted LASSO."""
    L = norm_A**2
    thr = (problem.lam / L) * w
    x = torch.zeros(tuple(A.shape), dtype=A.dtype, device=y.device)
    v, t = x, 1.0
    z_best, cert_best = x, _lasso_gap(problem, A, y, w, x)
    it = 0
    while it < max_iter and cert_best > tol:
        x_new = prox_grad(A, v, y, L, thr)
        if float(torch.vdot((v - x_new).flatten(), (x_new - x).flatten()).real) > 0:
            t, v = 1.0, x_new  # restart the momentum
        else:
            t_new = next_t(t)
            v = x_new + ((t - 1.0) / t_new) * (x_new - x)
            t = t_new
        x = x_new
        it += 1
        if it % check_every == 0 or it == max_iter:
            cert = _lasso_gap(problem, A, y, w, x)
            if cert < cert_best:
                z_best, cert_best = x, cert
    return z_best, it, cert_best
