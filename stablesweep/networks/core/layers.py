r"""Explicit neural-network form of the primal–dual networks (DESIGN §2).

The form (affine maps :math:`V_j(h) = W_j h + R_j y + c_j`, non-linearities
:class:`~stablesweep.networks.core.layer_network.Pointwise` and
:class:`~stablesweep.networks.core.layer_network.BlockScale`, inexact square roots
:func:`~stablesweep.networks.core.layer_network.sqrt_theta`) is in
:mod:`~stablesweep.networks.core.layer_network`; this module builds the ergodic primal–dual
and FIRENET networks in it (the form's names are importable from here too).

**One primal–dual iteration = three layers** (real representation, :math:`M` the
matrix of :math:`A`, :math:`D = \operatorname{diag}(\tau\lambda w)`):

1. :math:`u = D^{-1}(x_k - \tau M^T\psi_k)`, then soft-thresholding :math:`S_1` on
   :math:`u` (kind i; :math:`S_t(z) = t S_1(z/t)`, so per-index thresholds sit in the
   affine maps; indices with :math:`t_i = 0` are left out of the index set);
2. :math:`v = \psi_k + \sigma M(2DS_1(u) - x_k) - \sigma b` with :math:`x_{k+1} = DS_1(u)`
   and the running sum, then squaring of a copy of :math:`v` (kind i);
3. :math:`q = \sum_i v_i^2` in front of :math:`v`, then kind (ii) with
   :math:`f(q) = \min(1, 1/\mathrm{sqrt}_\theta(q))`, giving :math:`\psi_{k+1} = P_{B_1}(v)`
   (up to :math:`\theta`).

The state between layers is ``[u | x | psi | s]`` after layer 1, ``[v^2 | v | x | s]``
after layer 2 and ``[q | v | x | s]`` after layer 3; one more affine map outputs
:math:`W^{-1}s/p`. With :math:`p` iterations that is :math:`3p + 1` layers.
Identical matrices are shared between layers (same tensor objects).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .dense import dense_matrix, dense_synthesis, real_representation
from .layer_network import Affine, BlockScale, LayerNetwork, Pointwise, evaluate, sqrt_theta
from .prox import soft_threshold

# the layer-form names stay importable from here (``networks.layers.evaluate`` etc.)
__all__ = ["primal_dual_layers", "firenet_layers", "evaluate", "sqrt_theta", "LayerNetwork",
           "Affine", "Pointwise", "BlockScale"]


# --------------------------------------------------------------------------- builders


def _soft1(theta: float, t_max: float | None) -> Callable[[torch.Tensor], torch.Tensor]:
    r""":math:`S_1` (threshold 1); complex: :math:`|z| = \operatorname{sqrt}_\theta(|z|^2)`."""

    def fn(z: torch.Tensor) -> torch.Tensor:
        return soft_threshold(z, 1.0, lambda q: sqrt_theta(q, theta, t_max))

    return fn


def _square(v: torch.Tensor) -> torch.Tensor:
    return v * v


def _ball_factor(theta: float, t_max: float | None) -> Callable[[torch.Tensor], torch.Tensor]:
    def fn(q: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1.0 / sqrt_theta(q, theta, t_max), max=1.0)

    return fn


class _PDBlocks:
    """Matrices shared by the three layers of one primal–dual iteration."""

    def __init__(self, net: Any, theta: float, t_max: float | None):
        A = net.A
        M = dense_matrix(A)
        self.complex = M.is_complex()
        Mr = real_representation(M).to(torch.float64)
        self.nm, self.nc = Mr.shape
        self.Mr = Mr
        Winv = dense_synthesis(A)
        self.Winv = real_representation(Winv).to(torch.float64)
        t = (net.tau * net.lam) * net.weights.reshape(-1).to(torch.float64)
        pos = t > 0
        t_r = torch.cat((t, t)) if self.complex else t
        self.d = torch.where(torch.cat((pos, pos)) if self.complex else pos, t_r, 1.0)
        N = t.numel()
        idx = torch.nonzero(pos).reshape(-1)
        if self.complex:
            index = torch.stack((idx, idx + N), dim=1)
        else:
            index = idx
        fn = _soft1(theta, t_max)
        self.tau, self.sigma = net.tau, net.sigma
        nc, nm = self.nc, self.nm
        # layouts: S1 = [u|x|psi|s], S2 = [v2|v|x|s], S3 = [q|v|x|s]
        self.d1, self.d2, self.d3 = 3 * nc + nm, 2 * nm + 2 * nc, 1 + nm + 2 * nc
        self.soft = Pointwise(index=index, fn=fn, name="soft-threshold S_1")
        self.square = Pointwise(index=torch.arange(nm), fn=_square, name="square")
        self.scale = BlockScale(
            x0=0, block=slice(1, 1 + nm), fn=_ball_factor(theta, t_max),
            name="min(1, 1/sqrt_theta(q))",
        )
        self.W1 = self._w1()
        self.W2 = self._w2()
        self.W3 = self._w3()

    # S3 -> S1 (inside a run of iterations)
    def _w1(self) -> torch.Tensor:
        nc, nm = self.nc, self.nm
        dinv = 1.0 / self.d
        W = torch.zeros(self.d1, self.d3, dtype=torch.float64)
        psi_c, x_c, s_c = slice(1, 1 + nm), slice(1 + nm, 1 + nm + nc), slice(1 + nm + nc, None)
        W[:nc, psi_c] = -self.tau * dinv[:, None] * self.Mr.T
        W[:nc, x_c] = torch.diag(dinv)
        W[nc : 2 * nc, x_c] = torch.eye(nc, dtype=torch.float64)
        W[2 * nc : 2 * nc + nm, psi_c] = torch.eye(nm, dtype=torch.float64)
        W[2 * nc + nm :, s_c] = torch.eye(nc, dtype=torch.float64)
        return W

    # S3 of the previous restart -> S1 of the next one: x = beta * s, psi = 0, s = 0
    def w1_restart(self, beta: float) -> torch.Tensor:
        nc, nm = self.nc, self.nm
        W = torch.zeros(self.d1, self.d3, dtype=torch.float64)
        s_c = slice(1 + nm + nc, None)
        W[:nc, s_c] = torch.diag(beta / self.d)
        W[nc : 2 * nc, s_c] = beta * torch.eye(nc, dtype=torch.float64)
        return W

    def c1_start(self, x0: torch.Tensor | None) -> torch.Tensor | None:
        if x0 is None:
            return None
        c = torch.zeros(self.d1, dtype=torch.float64)
        c[: self.nc] = x0 / self.d
        c[self.nc : 2 * self.nc] = x0
        return c

    # S1 -> S2
    def _w2(self) -> torch.Tensor:
        nc, nm = self.nc, self.nm
        W = torch.zeros(self.d2, self.d1, dtype=torch.float64)
        u_c, x_c, psi_c, s_c = (
            slice(0, nc), slice(nc, 2 * nc), slice(2 * nc, 2 * nc + nm), slice(2 * nc + nm, None)
        )
        v_u = 2.0 * self.sigma * self.Mr * self.d[None, :]
        for rows in (slice(0, nm), slice(nm, 2 * nm)):
            W[rows, u_c] = v_u
            W[rows, x_c] = -self.sigma * self.Mr
            W[rows, psi_c] = torch.eye(nm, dtype=torch.float64)
        W[2 * nm : 2 * nm + nc, u_c] = torch.diag(self.d)
        W[2 * nm + nc :, u_c] = torch.diag(self.d)
        W[2 * nm + nc :, s_c] = torch.eye(nc, dtype=torch.float64)
        return W

    def r2(self, scale: float) -> torch.Tensor:
        """``R`` of layer 2: ``-sigma * scale * y`` into both copies of ``v``."""
        nm = self.nm
        R = torch.zeros(self.d2, nm, dtype=torch.float64)
        R[:nm] = -self.sigma * scale * torch.eye(nm, dtype=torch.float64)
        R[nm : 2 * nm] = R[:nm]
        return R

    # S2 -> S3
    def _w3(self) -> torch.Tensor:
        nc, nm = self.nc, self.nm
        W = torch.zeros(self.d3, self.d2, dtype=torch.float64)
        W[0, :nm] = 1.0
        W[1:, nm:] = torch.eye(nm + 2 * nc, dtype=torch.float64)
        return W

    # S3 -> image
    def w_out(self, scale: float) -> torch.Tensor:
        W = torch.zeros(self.Winv.shape[0], self.d3, dtype=torch.float64)
        W[:, 1 + self.nm + self.nc :] = scale * self.Winv
        return W

    def network(
        self,
        net: Any,
        iterations: Sequence[tuple[Affine, torch.Tensor]],
        out_scale: float,
        notes: str,
        info: dict[str, Any],
    ) -> LayerNetwork:
        """The layer network of a run of iterations, then the output map.

        Iteration ``j`` is ``first_j`` (into S1), the soft-threshold, ``S1 -> S2`` with
        ``R = R2_j``, the squares, ``S2 -> S3`` and the ball rescaling, for
        ``(first_j, R2_j)`` in ``iterations``; the output map is ``w_out(out_scale)``.
        """
        affine: list[Affine] = []
        nonlinear: list[Pointwise | BlockScale] = []
        for first, R2 in iterations:
            affine += [first, Affine(self.d2, W=self.W2, R=R2), Affine(self.d3, W=self.W3)]
            nonlinear += [self.soft, self.square, self.scale]
        affine.append(Affine(self.Winv.shape[0], W=self.w_out(out_scale)))
        return LayerNetwork(affine=affine, nonlinear=nonlinear, m=net.m,
                            complex_data=self.complex, out_shape=net.shape, notes=notes,
                            info=info)


def _x0_real(net: Any, x0: torch.Tensor | None) -> torch.Tensor | None:
    if x0 is None:
        return None
    x0 = torch.as_tensor(x0).to(net.dtype).reshape(-1)
    if x0.is_complex():
        return torch.cat((x0.real, x0.imag)).to(torch.float64)
    return x0.to(torch.float64)


def primal_dual_layers(
    net: Any, theta: float = 1e-13, t_max: float | None = None, x0: torch.Tensor | None = None
) -> LayerNetwork:
    r"""Layer form of a :class:`~stablesweep.networks.primal_dual.PrimalDual` network.

    Parameters
    ----------
    net : PrimalDual
        Its operator is turned into a dense matrix (small problems only).
    theta : float
        Accuracy of :func:`sqrt_theta` in the norm and complex-magnitude layers.
    t_max : float, optional
        A-priori bound on the arguments of :func:`sqrt_theta` (default: from the data).
    x0 : torch.Tensor, shape ``A.shape``, optional
        Fixed initial primal point (a bias of the first layer; default 0).

    Returns
    -------
    LayerNetwork
        ``3p + 1`` affine maps; equal to ``net(y)`` up to the :math:`\theta` error of
        the square roots (exact otherwise, in exact arithmetic).
    """
    B = _PDBlocks(net, theta, t_max)
    p = net.p
    R2 = B.r2(1.0)
    firsts = [Affine(B.d1, c=B.c1_start(_x0_real(net, x0)))]
    firsts += [Affine(B.d1, W=B.W1) for _ in range(p - 1)]
    return B.network(
        net, [(first, R2) for first in firsts], 1.0 / p,
        notes=(
            f"ergodic primal-dual, p = {p}: exact up to the sqrt_theta error (theta = "
            f"{theta:g}) in the dual projection and the complex soft-threshold"
        ),
        info={"theta": theta, "t_max": t_max},
    )


def firenet_layers(
    net: Any,
    theta: float = 1e-13,
    t_max: float | None = None,
    eps0: float | None = None,
    x0: torch.Tensor | None = None,
) -> LayerNetwork:
    r"""Layer form of a :class:`~stablesweep.networks.firenet.FIRENET` network.

    Parameters
    ----------
    net : FIRENET
    theta, t_max
        As in :func:`primal_dual_layers`.
    eps0 : float, optional
        Fixed :math:`\varepsilon_0`. Required when the network was built with
        ``eps0=None`` (data-dependent :math:`\|y\|`); defaults to ``net.eps0``.
    x0 : torch.Tensor, optional
        Fixed :math:`x^{(0)}` (default 0).

    Returns
    -------
    LayerNetwork
        ``3np + 1`` affine maps.

    Notes
    -----
    *What is exact.* With :math:`\varepsilon_0` fixed, :math:`\varepsilon_k` and
    :math:`\alpha_k` are constants, so the scalings :math:`\alpha_k y` (the ``R`` of the
    second layer of each iteration), :math:`\alpha_k x^{(k-1)}` and
    :math:`x^{(k)} = s/(p\alpha_k)` (folded into the first affine map of the next
    restart, which also resets the dual and the running sum) are linear. The form then
    equals FIRENET built with the same fixed ``eps0`` up to the :math:`\theta` error of
    the square roots. With the default :math:`\varepsilon_0 = \|y\|` the restart
    scalings depend on :math:`\|y\|` non-linearly and are *not* represented; by
    homogeneity, :math:`\phi_{\|y\|,\delta}(y) = \|y\|\,\phi_{1,\delta/\|y\|}(y/\|y\|)`,
    so for :math:`\delta = 0` the data-dependent network is the ``eps0 = 1`` form applied
    to :math:`y/\|y\|` and rescaled — a normalisation outside the layer form.
    """
    eps0 = net.eps0 if eps0 is None else eps0
    if eps0 is None:
        raise ValueError(
            "eps0 = None: the layer form needs a fixed eps0 (the network uses ||y||); "
            "pass eps0=... or build the network with eps0"
        )
    if not eps0 > 0:
        raise ValueError(f"eps0 = {eps0!r} is not allowed; expected eps0 > 0")
    B = _PDBlocks(net, theta, t_max)
    n, p = net.n, net.p
    eps, alphas = float(eps0), []
    for _ in range(n):
        eps = max(math.exp(-1.0) * (net.delta + eps), 1e-300)
        alphas.append(2.0 * net.L_A / (eps * p))
    x0_r = _x0_real(net, x0)
    iterations: list[tuple[Affine, torch.Tensor]] = []
    for k, alpha in enumerate(alphas):
        R2 = B.r2(alpha)
        for j in range(p):
            if j == 0 and k == 0:
                first = Affine(B.d1, c=B.c1_start(None if x0_r is None else alpha * x0_r))
            elif j == 0:
                first = Affine(B.d1, W=B.w1_restart(alpha / (p * alphas[k - 1])))
            else:
                first = Affine(B.d1, W=B.W1)
            iterations.append((first, R2))
    return B.network(
        net, iterations, 1.0 / (p * alphas[-1]),
        notes=(
            f"FIRENET n = {n}, p = {p} with fixed eps0 = {eps0:g}: exact up to the "
            f"sqrt_theta error (theta = {theta:g})"
        ),
        info={"theta": theta, "t_max": t_max, "eps0": eps0, "alphas": alphas},
    )
