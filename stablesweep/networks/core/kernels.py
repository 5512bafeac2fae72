r"""Fused CPU kernels for the no-grad fast path of the primal–dual networks (Numba).

One primal–dual iteration (:func:`~stablesweep.networks.primal_dual.primal_dual_step`)
does, besides one :math:`A` and one :math:`A^*`, a handful of element-wise passes over
the coefficients: :math:`w = x - \tau A^*\psi`, the weighted soft-threshold
:math:`x^+ = S_t(w)`, the extrapolation :math:`2x^+ - x` and the ergodic running sum
:math:`\sum_k x_k`. As separate PyTorch operations they cost about ten passes over
memory (the soft-threshold alone is seven); :func:`primal_update_` does them all in one
pass, and :func:`dual_update_` does the dual step
:math:`\psi^+ = P_{B_1}(\psi + \sigma A(2x^+ - x) - \sigma y)` in two passes over the
measurements instead of five.

The kernels apply to contiguous CPU tensors of one dtype (complex128, complex64,
float64 or float32) with thresholds of the coefficient shape; otherwise they return
``False`` and the caller runs the PyTorch operations, which compute the same formulas
(and do on the GPU and under autograd). They compile on first use (about a second per
dtype) and are cached on disk by Numba.

``STABLESWEEP_NUMBA=0`` in the environment, or :func:`set_enabled(False)
<set_enabled>`, turns them off; without Numba installed they are off.
"""

from __future__ import annotations

import math
import os

import torch

__all__ = ["available", "enabled", "set_enabled", "primal_update_", "dual_update_"]

try:  # pragma: no cover - exercised where numba is missing
    import numba
except ImportError:  # pragma: no cover
    numba = None

_TINY = 1e-300  # the floor under |w|^2 of prox.soft_threshold
_DTYPES = (torch.complex128, torch.complex64, torch.float64, torch.float32)
_enabled = numba is not None and os.environ.get("STABLESWEEP_NUMBA", "1") != "0"


def available() -> bool:
    """Whether Numba is installed (the kernels can run)."""
    return numba is not None


def enabled() -> bool:
    """Whether the fast path uses the kernels."""
    return _enabled


def set_enabled(flag: bool) -> bool:
    """Switch the kernels on or off (on needs Numba); returns the previous setting."""
    global _enabled
    previous = _enabled
    _enabled = bool(flag) and numba is not None
    return previous


if numba is not None:

    @numba.njit(cache=True, nogil=True)
    def _primal_complex(x, u, t, x_sum, tau):  # pragma: no cover - compiled
        rows, n = x.shape
        for b in range(rows):
            for i in range(n):
                w = x[b, i] - tau * u[b, i]
                m2 = w.real * w.real + w.imag * w.imag
                s = 1.0 - t[i] / math.sqrt(max(m2, _TINY))
                if s < 0.0:
                    s = 0.0
                xn = complex(w.real * s, w.imag * s)
                u[b, i] = xn
                x[b, i] = 2.0 * xn - x[b, i]
                x_sum[b, i] += xn

    @numba.njit(cache=True, nogil=True)
    def _primal_real(x, u, t, x_sum, tau):  # pragma: no cover - compiled
        rows, n = x.shape
        for b in range(rows):
            for i in range(n):
                w = x[b, i] - tau * u[b, i]
                xn = w - min(max(w, -t[i]), t[i])
                u[b, i] = xn
                x[b, i] = 2.0 * xn - x[b, i]
                x_sum[b, i] += xn

    @numba.njit(cache=True, nogil=True)
    def _dual(v, psi, sigma_y, sigma):  # pragma: no cover - compiled
        rows, m = v.shape
        for b in range(rows):
            sq = 0.0
            for i in range(m):
                d = sigma * v[b, i] + psi[b, i] - sigma_y[b, i]
                v[b, i] = d
                sq += d.real * d.real + d.imag * d.imag
            norm = math.sqrt(sq)
            if norm > 1.0:
                scale = 1.0 / norm
                for i in range(m):
                    v[b, i] = v[b, i] * scale


def _rows(t: torch.Tensor, n: int) -> object:
    """``t`` as a NumPy array of shape (rows, n) sharing memory."""
    return t.view(-1, n).numpy()


def _usable(*tensors: torch.Tensor) -> bool:
    """On, and the tensors are CPU, one dtype, contiguous, distinct memory, no autograd."""
    first = tensors[0]
    return (
        _enabled
        and first.dtype in _DTYPES
        and all(t.device.type == "cpu" and t.dtype == first.dtype and t.is_contiguous()
                and not t.requires_grad for t in tensors)
        and len({t.untyped_storage().data_ptr() for t in tensors}) == len(tensors)
    )


def primal_update_(
    x: torch.Tensor, u: torch.Tensor, thr: torch.Tensor, x_sum: torch.Tensor, tau: float
) -> bool:
    r"""The primal half of a primal–dual step in one pass, in place.

    With :math:`w = x - \tau u` and :math:`x^+ = S_t(w)` (weighted soft-threshold,
    :func:`~stablesweep.networks.core.prox.soft_threshold`):

    .. math::

        u \leftarrow x^+, \qquad x \leftarrow 2x^+ - x, \qquad
        x_\Sigma \leftarrow x_\Sigma + x^+.

    Parameters
    ----------
    x, u, x_sum : torch.Tensor, shape (..., *shape)
        Current iterate, :math:`A^*\psi`, running sum; updated in place.
    thr : torch.Tensor, shape ``shape`` (real)
        Thresholds :math:`t \ge 0`, shared by every sample of the batch.
    tau : float

    Returns
    -------
    bool
        ``True`` when the kernel ran; ``False`` (nothing changed) when it does not apply
        (off, not on the CPU, mixed dtypes, not contiguous, thresholds of another shape).
    """
    n = thr.numel()
    if not (
        _usable(x, u, x_sum)
        and x.shape == u.shape == x_sum.shape
        and n > 0
        and thr.device.type == "cpu"
        and thr.dtype == x.real.dtype
        and thr.is_contiguous()
        and tuple(x.shape[x.ndim - thr.ndim :]) == tuple(thr.shape)
    ):
        return False
    kernel = _primal_complex if x.is_complex() else _primal_real
    kernel(_rows(x, n), _rows(u, n), thr.reshape(-1).numpy(), _rows(x_sum, n), float(tau))
    return True


def dual_update_(
    v: torch.Tensor, psi: torch.Tensor, sigma_y: torch.Tensor, sigma: float
) -> bool:
    r"""The dual half of a primal–dual step, in place.

    .. math::

        v \leftarrow P_{B_1}(\psi + \sigma v - \sigma y)
        = \frac{\psi + \sigma v - \sigma y}{\max(1, \|\psi + \sigma v - \sigma y\|_2)}
        \quad\text{(per sample)}

    Parameters
    ----------
    v : torch.Tensor, shape (..., m)
        :math:`A(2x^+ - x)` on entry, :math:`\psi^+` on return.
    psi, sigma_y : torch.Tensor, shape (..., m)
        Current dual iterate and :math:`\sigma y`.
    sigma : float

    Returns
    -------
    bool
        As for :func:`primal_update_`.
    """
    if not (_usable(v, psi, sigma_y) and v.shape == psi.shape == sigma_y.shape and v.ndim):
        return False
    m = v.shape[-1]
    if m == 0:
        return False
    _dual(_rows(v, m), _rows(psi, m), _rows(sigma_y, m), float(sigma))
    return True
