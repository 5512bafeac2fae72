r"""Unitary transforms of the measurement model, in PyTorch.

All functions act on the last ``d`` dimensions of a tensor (``d = 1`` or ``2``) and
treat every leading dimension as a batch dimension. They are differentiable and run on
whatever device the input lives on; real inputs default to float64, complex to
complex128 (PyTorch's defaults are changed by nothing here).

* :func:`dft` / :func:`idft` — the unitary discrete Fourier transform
  (``norm="ortho"``) in natural FFT index order.
* :func:`wht` — the orthonormal Walsh–Hadamard transform in *sequency* order
  (row ``k`` of the 1-D matrix changes sign exactly ``k`` times); it is symmetric and
  self-inverse.
* :func:`dwt` / :func:`idwt` — the orthonormal, periodized discrete wavelet transform,
  fully decomposed by default, laid out exactly as
  ``pywt.coeffs_to_array(pywt.wavedec2(x, wavelet, mode="periodization", level=r))[0]``
  (and its 1-D analogue ``[cA_r, cD_r, ..., cD_1]``).

Notes
-----
One analysis step of the periodized DWT with decomposition filters ``h`` (low-pass)
and ``g`` (high-pass) of even length ``L`` on a signal of even length ``n`` is

.. math::

    c_A[k] = \sum_{j=0}^{L-1} h_j \, x[(2k + L/2 - j) \bmod n], \qquad
    c_D[k] = \sum_{j=0}^{L-1} g_j \, x[(2k + L/2 - j) \bmod n],

which is PyWavelets' ``mode="periodization"`` convention. For an orthogonal wavelet the
stacked map ``x -> [c_A, c_D]`` is orthogonal, so the synthesis step is its adjoint
(transpose), which is what :func:`idwt` applies. The index ``2k + L/2 - j`` is written as
``2(k + q) + t`` with phase ``t in {0, 1}``, so each step is a handful of circular shifts
of the even/odd polyphase components — no convolution routine, hence complex inputs
and autograd work unchanged.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pywt
import torch

__all__ = [
    "dft",
    "idft",
    "wht",
    "dwt",
    "idwt",
    "check_dim",
    "check_wavelet",
    "max_levels",
    "square_side",
    "sequency_permutation",
]


def check_dim(d: int) -> int:
    """Validate the number of transformed dimensions ``d`` (1 or 2)."""
    if d not in (1, 2):
        raise ValueError(f"d={d!r} is not supported; expected 1 or 2")
    return int(d)


def _dims(x: torch.Tensor, d: int) -> tuple[int, ...]:
    check_dim(d)
    if x.ndim < d:
        raise ValueError(f"input of shape {tuple(x.shape)} has fewer than d={d} dimensions")
    return tuple(range(-d, 0))


def square_side(sizes: tuple[int, ...], what: str, noun: str = "size") -> int:
    r"""The common side :math:`n = 2^r` (:math:`r \ge 1`) of ``sizes``.

    Raises ``ValueError`` (messages start with ``what``) when the sizes differ or the
    side (called ``noun``) is not a power of two >= 2.
    """
    n = sizes[0]
    if any(s != n for s in sizes):
        raise ValueError(f"{what}: the sizes {sizes} must be equal (square)")
    if n < 2 or n & (n - 1):
        raise ValueError(f"{what}: {noun} {n} is not a power of two (>= 2)")
    return n


def _side(x: torch.Tensor, d: int, what: str) -> int:
    """Common side length 2^r of the last ``d`` dims (:func:`square_side`)."""
    return square_side(tuple(x.shape[-d:]), what)


# --------------------------------------------------------------------------- Fourier


def dft(x: torch.Tensor, d: int) -> torch.Tensor:
    r"""Unitary DFT over the last ``d`` dimensions, natural FFT index order.

    .. math:: (Ux)_\omega = N^{-1/2} \sum_t x_t e^{-2\pi i \langle \omega, t\rangle / n}

    Parameters
    ----------
    x : Tensor, shape (..., n) or (..., n, n)
        Real or complex input; real input is promoted to complex.
    d : {1, 2}
        Number of trailing dimensions transformed.
    """
    return torch.fft.fftn(x, dim=_dims(x, d), norm="ortho")


def idft(y: torch.Tensor, d: int) -> torch.Tensor:
    """Inverse (= adjoint) of :func:`dft`."""
    return torch.fft.ifftn(y, dim=_dims(y, d), norm="ortho")


# --------------------------------------------------------------------- Walsh–Hadamard


@cache
def sequency_permutation(n: int) -> np.ndarray:
    r"""Natural (Hadamard) row index of each sequency-ordered Walsh row.

    Row ``k`` in sequency order is row ``bitrev(gray(k))`` of the natural-order
    Hadamard matrix :math:`H_{ij} = (-1)^{\mathrm{popcount}(i \wedge j)}`, where
    ``gray(k) = k XOR (k >> 1)`` and ``bitrev`` reverses the ``log2 n`` bits.
    """
    r = int(n).bit_length() - 1
    k = np.arange(n)
    g = k ^ (k >> 1)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(r):
        rev |= ((g >> b) & 1) << (r - 1 - b)
    return rev


def _fwht_last(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised natural-order fast Walsh–Hadamard transform along the last dim."""
    n = x.shape[-1]
    lead = x.shape[:-1]
    h = 1
    while h < n:
        v = x.reshape(*lead, n // (2 * h), 2, h)
        a, b = v[..., 0, :], v[..., 1, :]
        x = torch.stack((a + b, a - b), dim=-2).reshape(*lead, n)
        h *= 2
    return x


def _wht_along(x: torch.Tensor, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    perm = torch.as_tensor(sequency_permutation(n), device=x.device)
    y = _fwht_last(x.movedim(dim, -1))
    y = y.index_select(-1, perm) * (1.0 / np.sqrt(n))
    return y.movedim(-1, dim)


def wht(x: torch.Tensor, d: int) -> torch.Tensor:
    r"""Orthonormal Walsh–Hadamard transform in sequency order over the last ``d`` dims.

    In 1-D, :math:`(Hx)_k = n^{-1/2}\sum_t \mathrm{wal}_k(t)\, x_t` where
    :math:`\mathrm{wal}_k` has exactly ``k`` sign changes; in 2-D it is the tensor
    product of the 1-D transform along both axes. The matrix is real, symmetric and
    orthogonal, so ``wht(wht(x, d), d) == x``.
    """
    _dims(x, d)
    _side(x, d, "wht")
    for dim in range(x.ndim - d, x.ndim):
        x = _wht_along(x, dim)
    return x


# --------------------------------------------------------------------------- wavelets


def check_wavelet(wavelet: str) -> pywt.Wavelet:
    """Return the PyWavelets wavelet ``wavelet``; it must be an orthogonal one."""
    if not isinstance(wavelet, str):
        raise TypeError(f"wavelet must be a name such as 'haar' or 'db4', got {wavelet!r}")
    known = pywt.wavelist(kind="discrete")
    if wavelet not in known:
        raise ValueError(
            f"unknown wavelet {wavelet!r}; expected an orthogonal discrete wavelet from "
            f"PyWavelets, e.g. haar, db1..db38, sym2..sym20, coif1..coif17"
        )
    w = pywt.Wavelet(wavelet)
    if not w.orthogonal:
        raise ValueError(
            f"wavelet {wavelet!r} is not orthogonal; the measurement model needs an "
            f"orthonormal transform (e.g. haar, dbN, symN, coifN)"
        )
    return w


@cache
def _taps(wavelet: str) -> tuple[tuple[int, float, float, float, float], ...]:
    """Polyphase taps: for each shift q, the (h, g) weights of phases t = 0 and 1.

    Returns tuples ``(q, h_t0, g_t0, h_t1, g_t1)`` with
    ``c_A[k] = sum_q h_t0 x[2(k+q)] + h_t1 x[2(k+q)+1]`` (likewise ``c_D`` with ``g``).
    """
    w = check_wavelet(wavelet)
    h, g = w.dec_lo, w.dec_hi
    taps: dict[int, list[float]] = {}
    half = len(h) // 2
    for j in range(len(h)):
        off = half - j  # index 2k + off = 2(k + q) + t
        t = off % 2
        q = (off - t) // 2
        entry = taps.setdefault(q, [0.0, 0.0, 0.0, 0.0])
        entry[2 * t] += h[j]
        entry[2 * t + 1] += g[j]
    return tuple((q, *vals) for q, vals in sorted(taps.items()))


def _analysis(x: torch.Tensor, dim: int, wavelet: str) -> torch.Tensor:
    """One periodized analysis step along ``dim`` (>= 0): returns [c_A, c_D] along dim."""
    n = x.shape[dim]
    xb = x.unflatten(dim, (n // 2, 2))
    even, odd = xb.select(dim + 1, 0), xb.select(dim + 1, 1)
    ca = cd = None
    for q, h0, g0, h1, g1 in _taps(wavelet):
        e = even if q == 0 else torch.roll(even, -q, dims=dim)
        o = odd if q == 0 else torch.roll(odd, -q, dims=dim)
        ta = h0 * e + h1 * o
        td = g0 * e + g1 * o
        ca = ta if ca is None else ca + ta
        cd = td if cd is None else cd + td
    return torch.cat((ca, cd), dim=dim)


def _synthesis(c: torch.Tensor, dim: int, wavelet: str) -> torch.Tensor:
    """Adjoint (= inverse) of :func:`_analysis` along ``dim`` (>= 0)."""
    half = c.shape[dim] // 2
    ca, cd = c.narrow(dim, 0, half), c.narrow(dim, half, half)
    even = odd = None
    for q, h0, g0, h1, g1 in _taps(wavelet):
        te = h0 * ca + g0 * cd
        to = h1 * ca + g1 * cd
        if q != 0:
            te = torch.roll(te, q, dims=dim)
            to = torch.roll(to, q, dims=dim)
        even = te if even is None else even + te
        odd = to if odd is None else odd + to
    return torch.stack((even, odd), dim=dim + 1).flatten(dim, dim + 1)


def max_levels(n: int) -> int:
    """Number of levels of a full decomposition of size ``n = 2^r`` (that is, ``r``)."""
    return int(n).bit_length() - 1


def _check_levels(levels: int | None, n: int) -> int:
    r = max_levels(n)
    if levels is None:
        return r
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        raise TypeError(f"levels must be an integer in 1..{r} or None, got {levels!r}")
    if not 1 <= levels <= r:
        raise ValueError(f"levels={levels} out of range for size {n}; expected 1..{r}")
    return int(levels)


def dwt(
    x: torch.Tensor, wavelet: str = "haar", levels: int | None = None, d: int = 2
) -> torch.Tensor:
    r"""Orthonormal periodized DWT over the last ``d`` dims, PyWavelets' array layout.

    Parameters
    ----------
    x : Tensor, shape (..., n) or (..., n, n), n = 2^r
        Real or complex image(s).
    wavelet : str
        An orthogonal PyWavelets wavelet (``"haar"``, ``"db2"``, ``"db4"``, ``"sym8"``...).
    levels : int, optional
        Number of decomposition levels J (1..r); ``None`` decomposes fully (J = r).
    d : {1, 2}

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        1-D: ``[c_A^{(J)}, c_D^{(J)}, ..., c_D^{(1)}]``; 2-D: the approximation in the
        top-left corner, each level's horizontal detail below, vertical detail to the
        right and diagonal detail on the diagonal — exactly ``pywt.coeffs_to_array`` of
        ``pywt.wavedec2(x, wavelet, mode="periodization", level=J)``.
    """
    return _dwt_rec(x, wavelet, *_dwt_setup(x, wavelet, levels, d, "dwt"))


def _dwt_rec(x: torch.Tensor, wavelet: str, J: int, axes: list[int]) -> torch.Tensor:
    if wavelet == "haar" and len(axes) == 2:
        return _haar2_rec(x, J)
    for ax in axes:
        x = _analysis(x, ax, wavelet)
    if J == 1:
        return x
    half = x.shape[axes[0]] // 2
    if len(axes) == 1:
        coarse = _dwt_rec(x.narrow(axes[0], 0, half), wavelet, J - 1, axes)
        return torch.cat((coarse, x.narrow(axes[0], half, half)), dim=axes[0])
    r_ax, c_ax = axes
    top = x.narrow(r_ax, 0, half)
    coarse = _dwt_rec(top.narrow(c_ax, 0, half), wavelet, J - 1, axes)
    top = torch.cat((coarse, top.narrow(c_ax, half, half)), dim=c_ax)
    return torch.cat((top, x.narrow(r_ax, half, half)), dim=r_ax)


def _haar2_rec(x: torch.Tensor, J: int) -> torch.Tensor:
    """2-D Haar analysis, both axes fused: one pass over the 2×2 polyphase blocks.

    With ``a, b, c, d = x[2i, 2j], x[2i, 2j+1], x[2i+1, 2j], x[2i+1, 2j+1]`` the four
    sub-bands are ``(a+b+c+d)/2`` (approximation), ``(a-b+c-d)/2`` (vertical detail,
    top right), ``(a+b-c-d)/2`` (horizontal detail, bottom left), ``(a-b-c+d)/2``.
    """
    n = x.shape[-1]
    h = n // 2
    xb = x.unflatten(-1, (h, 2)).unflatten(-3, (h, 2))  # (..., h, 2, h, 2)
    a, b = xb[..., 0, :, 0], xb[..., 0, :, 1]
    c, d = xb[..., 1, :, 0], xb[..., 1, :, 1]
    s_top, d_top = a + b, a - b
    s_bot, d_bot = c + d, c - d
    ll = (s_top + s_bot) * 0.5
    if J > 1:
        ll = _haar2_rec(ll, J - 1)
    top = torch.cat((ll, (d_top + d_bot) * 0.5), dim=-1)
    bottom = torch.cat(((s_top - s_bot) * 0.5, (d_top - d_bot) * 0.5), dim=-1)
    return torch.cat((top, bottom), dim=-2)


def _ihaar2_rec(z: torch.Tensor, J: int) -> torch.Tensor:
    """Inverse (= adjoint) of :func:`_haar2_rec`, written straight into the 2×2 blocks."""
    n = z.shape[-1]
    h = n // 2
    ll, ad = z[..., :h, :h], z[..., :h, h:]
    da, dd = z[..., h:, :h], z[..., h:, h:]
    if J > 1:
        ll = _ihaar2_rec(ll, J - 1)
    p, q = ll + ad, ll - ad
    u, v = da + dd, da - dd
    out = z.new_empty(*z.shape[:-2], h, 2, h, 2)
    out[..., 0, :, 0] = p + u
    out[..., 0, :, 1] = q + v
    out[..., 1, :, 0] = p - u
    out[..., 1, :, 1] = q - v
    return out.reshape(z.shape).mul_(0.5)


def idwt(
    z: torch.Tensor, wavelet: str = "haar", levels: int | None = None, d: int = 2
) -> torch.Tensor:
    """Inverse (= adjoint) of :func:`dwt` with the same ``wavelet``, ``levels``, ``d``."""
    return _idwt_rec(z, wavelet, *_dwt_setup(z, wavelet, levels, d, "idwt"))


def _dwt_setup(
    x: torch.Tensor, wavelet: str, levels: int | None, d: int, what: str
) -> tuple[int, list[int]]:
    """Checked number of levels ``J`` and the transformed axes (as non-negative indices)."""
    dims = _dims(x, d)
    J = _check_levels(levels, _side(x, d, what))
    check_wavelet(wavelet)
    return J, [x.ndim + a for a in dims]


def _idwt_rec(z: torch.Tensor, wavelet: str, J: int, axes: list[int]) -> torch.Tensor:
    if wavelet == "haar" and len(axes) == 2:
        return _ihaar2_rec(z, J)
    if J > 1:
        half = z.shape[axes[0]] // 2
        if len(axes) == 1:
            coarse = _idwt_rec(z.narrow(axes[0], 0, half), wavelet, J - 1, axes)
            z = torch.cat((coarse, z.narrow(axes[0], half, half)), dim=axes[0])
        else:
            r_ax, c_ax = axes
            top = z.narrow(r_ax, 0, half)
            coarse = _idwt_rec(top.narrow(c_ax, 0, half), wavelet, J - 1, axes)
            top = torch.cat((coarse, top.narrow(c_ax, half, half)), dim=c_ax)
            z = torch.cat((top, z.narrow(r_ax, half, half)), dim=r_ax)
    for ax in reversed(axes):
        z = _synthesis(z, ax, wavelet)
    return z
