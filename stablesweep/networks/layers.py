r"""Explicit neural-network form of the primal–dual networks (DESIGN §2).

A network is :math:`\phi(y) = V_T(\rho_{T-1}(\cdots\rho_1(V_1(y))))` with affine maps

.. math:: V_j(h) = W_j h + R_j y + c_j

(the input :math:`y` enters every layer) and non-linearities of two kinds:

(i) :class:`Pointwise` — a scalar function on an index set, identity elsewhere;
(ii) :class:`BlockScale` — :math:`\rho(x_0, X, Y) = (0, f(x_0)X, Y)`: one scalar
     rescales a block.

The number of layers is the number of affine maps, :math:`T`. Square roots are
computed inexactly by :func:`sqrt_theta`, a finite sequence of rational operations
with :math:`|\mathrm{sqrt}_\theta(t) - \sqrt t| \le \theta`.

**Complex data** are represented as real vectors, real parts stacked above imaginary
parts (:func:`~stablesweep.networks.dense.real_representation` for the matrices). A
kind-(i) non-linearity on complex data acts on complex *entries*: its index set is a
list of (Re, Im) index pairs and its scalar function maps :math:`\mathbb C \to \mathbb C`
(the complex soft-threshold :math:`z \mapsto z\max(0, 1 - 1/|z|)`; :math:`|z|` by
:func:`sqrt_theta`).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch

from .dense import dense_matrix, dense_synthesis, real_representation

__all__ = [
    "sqrt_theta",
    "sqrt_theta_iterations",
    "Affine",
    "Pointwise",
    "BlockScale",
    "LayerNetwork",
    "evaluate",
    "primal_dual_layers",
    "firenet_layers",
]


# --------------------------------------------------------------------------- sqrt_theta


def sqrt_theta_iterations(t_max: float | Fraction, theta: float | Fraction) -> int:
    r"""A-priori number of Heron steps for :func:`sqrt_theta` on :math:`[0, t_{\max}]`.

    .. math:: J(t_{\max}, \theta) = \max\Bigl(0, \Bigl\lceil
              \log_2\frac{\max(1, t_{\max})}{2\theta}\Bigr\rceil\Bigr)
    """
    if not theta > 0:
        raise ValueError(f"theta = {theta!r} is not allowed; expected theta > 0")
    if not t_max >= 0:
        raise ValueError(f"t_max = {t_max!r} is not allowed; expected t_max >= 0")
    ratio = Fraction(max(1, t_max)) / (2 * Fraction(theta))
    if ratio <= 1:
        return 0
    # exact ceil(log2(ratio)) for rationals: smallest J with 2^J >= ratio
    J = max(0, math.ceil(math.log2(float(ratio))) - 1)
    while Fraction(2) ** J < ratio:
        J += 1
    return J


def sqrt_theta(t: Any, theta: float | Fraction, t_max: float | Fraction | None = None) -> Any:
    r"""Square root to within :math:`\theta` by rational operations (Heron's method).

    Parameters
    ----------
    t : torch.Tensor (real, >= 0), float or fractions.Fraction
        Argument(s).
    theta : float or Fraction
        Accuracy :math:`\theta > 0`.
    t_max : float or Fraction, optional
        A-priori bound :math:`t \le t_{\max}` that fixes the number of steps.
        Default: the largest entry of ``t`` (the count is then chosen from the data,
        and the bound still holds for every entry).

    Returns
    -------
    Same type as ``t``
        :math:`x_J` with :math:`\sqrt t \le x_J \le \sqrt t + \theta`.

    Raises
    ------
    ValueError
        ``theta <= 0``, a negative ``t``, or ``t > t_max``.

    Notes
    -----
    Iteration: :math:`x_0 = (1 + t)/2`, :math:`x_{j+1} = \frac12(x_j + t/x_j)`,
    :math:`j < J = J(t_{\max}, \theta)` (:func:`sqrt_theta_iterations`) — additions,
    multiplications by 1/2 and one division per step, so rationals map to rationals.

    *Claim.* For every :math:`0 \le t \le t_{\max}`:
    :math:`0 \le x_J - \sqrt t \le \theta` (exact arithmetic).

    *Proof.* Let :math:`e_j = x_j - \sqrt t`.
    (a) :math:`e_0 = \frac{(1 - \sqrt t)^2}{2} \ge 0` (AM–GM), and
    :math:`e_0 \le \frac{\max(1, t)}{2}`: for :math:`t \le 1`, :math:`(1-\sqrt t)^2 \le 1`;
    for :math:`t > 1`, :math:`(\sqrt t - 1)^2 \le t`.
    (b) :math:`x_j > 0` for all :math:`j`: :math:`x_0 \ge \frac12`, and
    :math:`x_{j+1} \ge x_j/2 > 0` because :math:`t/x_j \ge 0`.
    (c) :math:`e_{j+1} = \frac{x_j^2 + t}{2x_j} - \sqrt t = \frac{(x_j - \sqrt t)^2}{2x_j}
    = \frac{e_j^2}{2x_j}`, so :math:`e_{j+1} \ge 0`, and since
    :math:`0 \le e_j \le x_j`, :math:`e_{j+1} \le e_j/2`.
    Hence :math:`0 \le e_J \le 2^{-J}e_0 \le 2^{-J}\max(1, t_{\max})/2 \le \theta` by
    the choice of :math:`J`. :math:`\square`

    The bound covers :math:`t = 0` (then :math:`x_J = 2^{-J-1} \le \theta`, never 0, so
    :math:`1/\mathrm{sqrt}_\theta` is always defined) and large :math:`t` (the count grows
    like :math:`\log_2 t_{\max}`). In floating point each step adds a rounding error of
    a few ulp of :math:`\sqrt t`, so the float64 result meets
    :math:`\theta + 4\cdot 2^{-52}\sqrt t`; with :class:`fractions.Fraction` input the
    bound is exact.
    """
    if isinstance(t, torch.Tensor):
        if t.is_complex():
            raise ValueError("sqrt_theta needs real t >= 0, got a complex tensor")
        if t.numel() and bool((t < 0).any()):
            raise ValueError("sqrt_theta needs t >= 0; got negative entries")
        top = float(t.max()) if t.numel() else 0.0
    else:
        if t < 0:
            raise ValueError(f"sqrt_theta needs t >= 0; got t = {t!r}")
        top = t
    if t_max is None:
        t_max = top
    elif top > t_max:
        raise ValueError(f"t = {top!r} exceeds t_max = {t_max!r}; the step count would not hold")
    J = sqrt_theta_iterations(t_max, theta)
    x = (1 + t) / 2
    for _ in range(J):
        x = (x + t / x) / 2
    return x


# --------------------------------------------------------------------------- layers


@dataclass
class Affine:
    r"""Affine map :math:`V(h) = W h + R y + c` (``None`` for absent terms).

    ``W`` has shape (out, in) (``None`` when the map ignores ``h``, e.g. the first
    layer); ``R`` has shape (out, m_real); ``c`` has shape (out,).
    """

    out_dim: int
    W: torch.Tensor | None = None
    R: torch.Tensor | None = None
    c: torch.Tensor | None = None

    def __call__(self, h: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        out = y.new_zeros(*y.shape[:-1], self.out_dim)
        if self.W is not None:
            out = out + h @ self.W.T
        if self.R is not None:
            out = out + y @ self.R.T
        if self.c is not None:
            out = out + self.c
        return out


@dataclass
class Pointwise:
    r"""Kind (i): a scalar function on an index set, identity elsewhere.

    ``index`` has shape (K,) (real entries) or (K, 2) (complex entries given by their
    (Re, Im) positions); ``fn`` maps a real tensor (K,) -> (K,) or a complex tensor
    (K,) -> (K,) elementwise.
    """

    index: torch.Tensor
    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str = ""

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        h = h.clone()
        if self.index.ndim == 1:
            h[..., self.index] = self.fn(h[..., self.index])
        else:
            z = torch.complex(h[..., self.index[:, 0]], h[..., self.index[:, 1]])
            fz = self.fn(z)
            h[..., self.index[:, 0]] = fz.real
            h[..., self.index[:, 1]] = fz.imag
        return h


@dataclass
class BlockScale:
    r"""Kind (ii): :math:`(x_0, X, Y) \mapsto (0, f(x_0)X, Y)`.

    ``x0`` is the position of the scalar, ``block`` the slice of :math:`X`; everything
    else is :math:`Y`.
    """

    x0: int
    block: slice
    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str = ""

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        h = h.clone()
        f = self.fn(h[..., self.x0 : self.x0 + 1])
        h[..., self.block] = f * h[..., self.block]
        h[..., self.x0] = 0.0
        return h


@dataclass
class LayerNetwork:
    r"""A network as ``affine[0], nonlinear[0], affine[1], ..., affine[T-1]``.

    Attributes
    ----------
    affine : list of Affine
        The :math:`T` affine maps (``n_layers = T``).
    nonlinear : list of Pointwise or BlockScale
        The :math:`T - 1` non-linearities.
    m : int
        Number of (complex or real) measurements.
    complex_data : bool
        Measurements and outputs are complex (real representation inside).
    out_shape : tuple of int
        Image shape of the output.
    notes : str
        What the form computes exactly (e.g. fixed ``eps0``).
    """

    affine: list[Affine]
    nonlinear: list[Pointwise | BlockScale]
    m: int
    complex_data: bool
    out_shape: tuple[int, ...]
    notes: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return len(self.affine)

    def widths(self) -> list[int]:
        """Output width of every affine map."""
        return [a.out_dim for a in self.affine]


def evaluate(layers: LayerNetwork, y: torch.Tensor) -> torch.Tensor:
    r"""Evaluate a :class:`LayerNetwork` on measurements ``y`` of shape (..., m).

    Returns the image, shape (..., *out_shape), complex when ``complex_data``.
    """
    if y.shape[-1] != layers.m:
        raise ValueError(f"y has shape {tuple(y.shape)}; expected (..., m) with m = {layers.m}")
    if layers.complex_data:
        y = y.to(torch.complex128)
        y_r = torch.cat((y.real, y.imag), dim=-1)
    else:
        if y.is_complex():
            raise ValueError("complex y for a real layer network")
        y_r = y.to(torch.float64)
    h = layers.affine[0](None, y_r)
    for rho, V in zip(layers.nonlinear, layers.affine[1:], strict=True):
        h = V(rho(h), y_r)
    if layers.complex_data:
        n = h.shape[-1] // 2
        h = torch.complex(h[..., :n], h[..., n:])
    return h.reshape(*h.shape[:-1], *layers.out_shape)


# --------------------------------------------------------------------------- builders


def _complex_soft1(theta: float, t_max: float | None) -> Callable[[torch.Tensor], torch.Tensor]:
    def fn(z: torch.Tensor) -> torch.Tensor:
        mag = sqrt_theta(z.real.square() + z.imag.square(), theta, t_max)
        return z * torch.clamp(1.0 - 1.0 / mag, min=0.0)

    return fn


def _real_soft1(u: torch.Tensor) -> torch.Tensor:
    return u - torch.clamp(u, -1.0, 1.0)


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
            fn = _complex_soft1(theta, t_max)
        else:
            index = idx
            fn = _real_soft1
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
    affine: list[Affine] = [Affine(B.d1, c=B.c1_start(_x0_real(net, x0)))]
    nonlinear: list[Pointwise | BlockScale] = []
    for k in range(p):
        if k > 0:
            affine.append(Affine(B.d1, W=B.W1))
        nonlinear.append(B.soft)
        affine.append(Affine(B.d2, W=B.W2, R=R2))
        nonlinear.append(B.square)
        affine.append(Affine(B.d3, W=B.W3))
        nonlinear.append(B.scale)
    affine.append(Affine(B.Winv.shape[0], W=B.w_out(1.0 / p)))
    return LayerNetwork(
        affine=affine,
        nonlinear=nonlinear,
        m=net.m,
        complex_data=B.complex,
        out_shape=net.shape,
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
    affine: list[Affine] = []
    nonlinear: list[Pointwise | BlockScale] = []
    for k, alpha in enumerate(alphas):
        R2 = B.r2(alpha)
        for j in range(p):
            if j == 0 and k == 0:
                affine.append(
                    Affine(B.d1, c=B.c1_start(None if x0_r is None else alpha * x0_r))
                )
            elif j == 0:
                affine.append(Affine(B.d1, W=B.w1_restart(alpha / (p * alphas[k - 1]))))
            else:
                affine.append(Affine(B.d1, W=B.W1))
            nonlinear.append(B.soft)
            affine.append(Affine(B.d2, W=B.W2, R=R2))
            nonlinear.append(B.square)
            affine.append(Affine(B.d3, W=B.W3))
            nonlinear.append(B.scale)
    affine.append(Affine(B.Winv.shape[0], W=B.w_out(1.0 / (p * alphas[-1]))))
    return LayerNetwork(
        affine=affine,
        nonlinear=nonlinear,
        m=net.m,
        complex_data=B.complex,
        out_shape=net.shape,
        notes=(
            f"FIRENET n = {n}, p = {p} with fixed eps0 = {eps0:g}: exact up to the "
            f"sqrt_theta error (theta = {theta:g})"
        ),
        info={"theta": theta, "t_max": t_max, "eps0": eps0, "alphas": alphas},
    )
