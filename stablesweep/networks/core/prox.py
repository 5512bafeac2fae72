r"""Proximal maps and projections used by the unrolled networks.

All maps are complex-safe, batched over leading dimensions and differentiable
(autograd) almost everywhere. The in-place variants (trailing underscore) are for
the no-grad fast path of the networks and must not be used on tensors that
autograd needs.

Weighted soft-thresholding, the proximal map of :math:`t\|\cdot\|_{\ell^1_w}`
(thresholds :math:`t_i = t w_i`), acts entry by entry:

.. math::

    S_t(z)_i = \max(0, |z_i| - t_i)\,\operatorname{sgn}(z_i)
             = z_i \max\Bigl(0, 1 - \frac{t_i}{|z_i|}\Bigr).

The projection onto the Euclidean ball of radius :math:`\eta` centred at :math:`c`
acts on the last dimension (one vector per sample):

.. math::

    P_{B(c,\eta)}(v) = c + \min\Bigl(1, \frac{\eta}{\|v - c\|_2}\Bigr)(v - c),

and its complement :math:`v - P_{B(0,\eta)}(v) = \max(0, 1 - \eta/\|v\|_2)\,v` is
the proximal map of :math:`\eta\|\cdot\|_2` (block soft-thresholding); Moreau's
identity :math:`v = \operatorname{prox}_{f}(v) + \operatorname{prox}_{f^*}(v)` links
the two, and :math:`S_t` with the projection onto the box :math:`|u_i| \le t_i`.

Complex magnitudes are computed through :func:`torch.view_as_real` (``|z|^2 =
Re^2 + Im^2``): :func:`torch.abs` on complex tensors is several times slower on CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "abs2",
    "norm_last",
    "lerp_",
    "soft_threshold",
    "floored_magnitude",
    "soft_threshold_",
    "SoftThresholdWork",
    "clip_magnitude",
    "project_ball",
    "shrink_ball",
    "shrink_ball_",
    "huber_grad",
]

_TINY = 1e-300  # floor under |z|^2 so that 1/|z| and d|z| stay finite at z = 0
_ONE = torch.tensor(1.0, dtype=torch.float64)


def abs2(z: torch.Tensor) -> torch.Tensor:
    r"""Squared magnitude :math:`|z|^2`, real, same shape as ``z`` (complex-safe)."""
    if z.is_complex():
        sq = torch.view_as_real(z).square()
        return sq[..., 0] + sq[..., 1]
    return z.square()


def soft_threshold(
    z: torch.Tensor,
    t: torch.Tensor | float,
    magnitude: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    r"""Weighted soft-thresholding :math:`S_t(z)` (out of place, differentiable).

    The one soft-threshold of the package: the unrolled networks, the learned
    primal–dual network (``magnitude=``:func:`floored_magnitude`, for float32 training)
    and the explicit layer form (``magnitude`` an inexact square root
    :math:`\operatorname{sqrt}_\theta`) all call it.

    Parameters
    ----------
    z : torch.Tensor, shape (..., *shape), real or complex
    t : torch.Tensor broadcastable to ``z`` (real, >= 0), or float
        Thresholds.
    magnitude : callable, optional
        Complex data only: the map :math:`|z|^2 \mapsto |z|` to use (default: the exact
        one through ``rsqrt`` with :math:`|z|^2` floored at 1e-300).

    Returns
    -------
    torch.Tensor, same shape and dtype as ``z``

    Notes
    -----
    Real data: :math:`S_t(z) = z - \operatorname{clip}(z, -t, t)` (two passes).
    Complex data: :math:`z \cdot \max(0, 1 - t/|z|)`; by default
    :math:`t/|z| = t \cdot \operatorname{rsqrt}(\max(|z|^2, 10^{-300}))`, so that the
    value and the gradient are finite (and zero) at :math:`z = 0`; with ``magnitude``
    it is ``t / magnitude(|z|^2)``.
    """
    if not z.is_complex():
        return z - torch.clamp(z, -t, t)
    if magnitude is None:
        ratio = t * torch.rsqrt(abs2(z).clamp(min=_TINY))
    else:
        ratio = t / magnitude(abs2(z))
    return z * torch.clamp(1.0 - ratio, min=0.0)


def floored_magnitude(q: torch.Tensor) -> torch.Tensor:
    r""":math:`\sqrt{\max(q, f^2)}` with :math:`f` = ``finfo(q.dtype).tiny ** 0.25``.

    The magnitude map for :func:`soft_threshold` in any precision: the floor keeps the
    gradient at :math:`z = 0` zero (not NaN) in single precision too.
    """
    floor = torch.finfo(q.dtype).tiny ** 0.25
    return torch.sqrt(q.clamp(min=floor * floor))


def soft_threshold_(
    z: torch.Tensor, t: torch.Tensor | float, work: SoftThresholdWork | None = None
) -> torch.Tensor:
    """In-place :func:`soft_threshold` (no autograd); returns ``z``.

    ``work`` (from :meth:`SoftThresholdWork.like`) holds scratch buffers, so that the
    call allocates nothing: fresh multi-megabyte buffers cost page faults on every
    call, which on CPU is a sizeable part of the whole soft-threshold.
    """
    if not z.is_complex():
        if work is None:
            lo = -t if isinstance(t, torch.Tensor) else -float(t)
            return z.sub_(torch.clamp(z, lo, t))
        if not isinstance(t, torch.Tensor):
            return z.sub_(torch.clamp(z, -float(t), float(t), out=work.scale))
        lo = work.scale.copy_(t).neg_()  # -t, then clip(z, -t, t) in the same buffer
        return z.sub_(torch.clamp(z, lo, t, out=work.scale))
    if work is None:
        scale = abs2(z)
    else:
        sq = torch.square(torch.view_as_real(z), out=work.squares)
        scale = torch.add(sq[..., 0], sq[..., 1], out=work.scale)
    scale.clamp_(min=_TINY).rsqrt_()
    # 1 - t/|z| in one kernel (addcmul), then max(0, .)
    if isinstance(t, torch.Tensor):
        torch.addcmul(_ONE, t, scale, value=-1.0, out=scale)
    else:
        scale.mul_(-float(t)).add_(1.0)
    scale.clamp_(min=0.0)
    return z.mul_(scale)


class SoftThresholdWork:
    """Scratch buffers for :func:`soft_threshold_` on arrays shaped like ``z``."""

    def __init__(self, squares: torch.Tensor | None, scale: torch.Tensor):
        self.squares = squares
        self.scale = scale

    @classmethod
    def like(cls, z: torch.Tensor) -> SoftThresholdWork:
        return cls.for_shape(tuple(z.shape), z.dtype, z.device)

    @classmethod
    def for_shape(
        cls, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str | None = None
    ) -> SoftThresholdWork:
        """Buffers for arrays of ``shape`` and ``dtype`` (real or complex)."""
        rdtype = torch.empty((), dtype=dtype).real.dtype
        squares = None
        if dtype.is_complex:
            squares = torch.empty((*shape, 2), dtype=rdtype, device=device)
        return cls(squares, torch.empty(shape, dtype=rdtype, device=device))


def clip_magnitude(z: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    r"""Projection onto the box :math:`\{u : |u_i| \le t_i\}`: :math:`z \min(1, t/|z|)`.

    The dual partner of :func:`soft_threshold` (Moreau: ``z = S_t(z) + clip(z, t)``).
    """
    if not z.is_complex():
        return torch.clamp(z, -t, t)
    return z * torch.clamp(t * torch.rsqrt(abs2(z).clamp(min=_TINY)), max=1.0)


def norm_last(v: torch.Tensor, keepdim: bool = True) -> torch.Tensor:
    """Per-sample Euclidean norm over the last dimension (real; complex-safe, fast).

    Complex input goes through :func:`torch.view_as_real`: ``vector_norm`` on a complex
    tensor is some 30x slower on CPU than on its real view.
    """
    if v.is_complex():
        v = torch.view_as_real(v).flatten(-2)
    return torch.linalg.vector_norm(v, dim=-1, keepdim=keepdim)


_norm = norm_last


def _real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def lerp_(start: torch.Tensor, end: torch.Tensor, weight: float, out: torch.Tensor) -> torch.Tensor:
    r"""In place :math:`\text{out} = \text{start} + w(\text{end} - \text{start})` (no autograd).

    One fused pass (on real views for complex data, which is several times faster);
    e.g. ``lerp_(x, x_new, 2.0, out=x)`` gives :math:`2x_{new} - x`. ``out`` may be
    ``start`` or ``end``.
    """
    torch.lerp(_real(start), _real(end), weight, out=_real(out))
    return out


def project_ball(
    v: torch.Tensor, radius: float | torch.Tensor = 1.0, center: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Projection onto :math:`B(c, \eta)` along the last dimension (per sample).

    Parameters
    ----------
    v : torch.Tensor, shape (..., m)
    radius : float or torch.Tensor of shape (..., 1)
        :math:`\eta \ge 0`.
    center : torch.Tensor, shape (..., m), optional
        :math:`c` (default 0).

    Returns
    -------
    torch.Tensor, shape (..., m)
        :math:`c + \min(1, \eta/\|v - c\|)(v - c)`; for ``radius = 1`` and no centre
        this is :math:`P_{B_1}(v) = v / \max(1, \|v\|)`.
    """
    r = v if center is None else v - center
    if isinstance(radius, int | float) and radius == 1.0:
        out = r / torch.clamp(_norm(r), min=1.0)
    else:
        out = r * torch.clamp(radius / torch.clamp(_norm(r), min=_TINY), max=1.0)
    return out if center is None else out + center


def shrink_ball(v: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    r"""Block soft-thresholding :math:`\max(0, 1 - \eta/\|v\|)\,v` (per sample).

    The proximal map of :math:`\eta\|\cdot\|_2`, equal to :math:`v - P_{B(0,\eta)}(v)`.
    With :math:`\eta = 0` it is the identity.
    """
    if isinstance(radius, int | float) and radius == 0.0:
        return v
    return v * torch.clamp(1.0 - radius / torch.clamp(_norm(v), min=_TINY), min=0.0)


def shrink_ball_(v: torch.Tensor, radius: float) -> torch.Tensor:
    r"""In-place :func:`shrink_ball` (no autograd); returns ``v``.

    Computed as :math:`v \cdot \max(0, 1 - \eta \cdot (1/\|v\|))` in the norm's buffer.
    """
    if radius == 0.0:
        return v
    scale = norm_last(v).clamp_(min=_TINY)
    return v.mul_(scale.reciprocal_().mul_(-radius).add_(1.0).clamp_(min=0.0))


def huber_grad(z: torch.Tensor, mu: torch.Tensor | float, w: torch.Tensor) -> torch.Tensor:
    r"""Gradient of the smoothed weighted :math:`\ell^1` norm (Nesterov smoothing).

    .. math::

        f_\mu(z) = \max_{|u_i| \le w_i} \operatorname{Re}\langle u, z\rangle
                   - \tfrac{\mu}{2}\|u\|_2^2, \qquad
        \nabla f_\mu(z)_i = z_i \min\Bigl(\frac{1}{\mu}, \frac{w_i}{|z_i|}\Bigr),

    i.e. the projection of :math:`z/\mu` onto the box :math:`|u_i| \le w_i`; it is
    :math:`1/\mu`-Lipschitz.
    """
    return clip_magnitude(z / mu, w)
