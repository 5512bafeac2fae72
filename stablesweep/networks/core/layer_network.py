r"""Explicit neural networks: affine maps and two kinds of non-linearity (DESIGN §2).

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
parts (:func:`~stablesweep.networks.core.dense.real_representation` for the matrices). A
kind-(i) non-linearity on complex data acts on complex *entries*: its index set is a
list of (Re, Im) index pairs and its scalar function maps :math:`\mathbb C \to \mathbb C`
(the complex soft-threshold :math:`z \mapsto z\max(0, 1 - 1/|z|)`; :math:`|z|` by
:func:`sqrt_theta`).

The primal–dual and FIRENET networks in this form are built by
:mod:`~stablesweep.networks.core.layers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch

__all__ = [
    "sqrt_theta",
    "sqrt_theta_iterations",
    "Affine",
    "Pointwise",
    "BlockScale",
    "LayerNetwork",
    "evaluate",
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
