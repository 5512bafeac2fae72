r"""Multilevel sampling: dyadic frequency bands, per-band budgets and masks.

Frequency arrays are in the measurement transform's *natural index order*:

- ``"fourier"``: index :math:`i \in \{0, \dots, n-1\}` holds frequency
  :math:`\omega = i` for :math:`i \le n/2` and :math:`\omega = i - n` otherwise,
  so the frequencies run over :math:`-n/2 + 1, \dots, n/2` (``numpy.fft`` order,
  with the Nyquist frequency counted as :math:`+n/2`);
- ``"walsh"``: index :math:`i` is the sequency :math:`i` (sequency order).

With :math:`n = 2^r`, the 1-D dyadic bands are

.. math::

    \text{Fourier:}\quad B_1 = \{0, 1\}, \quad
    B_k = \{-2^{k-1}+1, \dots, -2^{k-2}\} \cup \{2^{k-2}+1, \dots, 2^{k-1}\},
    \qquad
    \text{Walsh:}\quad B_1 = \{0, 1\}, \quad B_k = \{2^{k-1}, \dots, 2^k - 1\},

for :math:`k = 2, \dots, r`; :math:`|B_1| = 2`, :math:`|B_k| = 2^{k-1}`. In
:math:`d` dimensions the bands are products
:math:`B_{\mathbf k} = B_{k_1} \times \dots \times B_{k_d}`, labelled in
row-major order by :math:`\sum_i (k_i - 1) r^{d-1-i}` (0-based labels, 1-based
:math:`k_i`).

Besides the multilevel schemes, :func:`radial_mask` samples :math:`L` radial lines
through the zero frequency of a 2-D Fourier grid — the scheme of the published
robustness studies (40 lines at 256², Genzel et al., TPAMI 2022; Gottschling et al.,
SIAM Review 2025).

An :math:`(N, m)` multilevel scheme draws :math:`m_{\mathbf k}` indices
uniformly without replacement inside each band. The theory (DESIGN §1) asks
for :math:`m_{\mathbf k} \gtrsim M(s, \mathbf k) \cdot L` with the local
sparsity terms :func:`M_F` (Fourier) or :func:`M_B` (Walsh) and the log factor
:func:`log_factor`; :func:`budgets` turns a total :math:`m` into such a
per-band allocation.

References
----------
B. Adcock, A. C. Hansen, *Compressive Imaging: Structure, Sampling, Learning*,
Cambridge University Press, 2021.
M. J. Colbrook, V. Antun, A. C. Hansen, "The difficulty of computing stable and
accurate neural networks", PNAS 119 (2022).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from stablesweep.levels import RngLike, as_generator, image_geometry

__all__ = [
    "SCHEMES",
    "TRANSFORMS",
    "M_B",
    "M_F",
    "band_multi_index",
    "band_sizes",
    "budgets",
    "dyadic_bands",
    "log_factor",
    "multilevel_mask",
    "radial_line_points",
    "radial_mask",
]

TRANSFORMS = ("fourier", "walsh")
SCHEMES = ("theory", "uniform")


# --------------------------------------------------------------------------- validation


def _check_transform(transform: object) -> str:
    if transform not in TRANSFORMS:
        raise ValueError(
            f"unknown transform {transform!r}; expected one of: {', '.join(TRANSFORMS)}"
        )
    return str(transform)


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _as_levels_vector(s: object, r: int, name: str = "s") -> np.ndarray:
    """Non-negative real vector of length ``r`` (one entry per level)."""
    if isinstance(s, str | bytes) or np.ndim(s) != 1:
        raise ValueError(
            f"{name} {s!r} is not a 1-D sequence; expected {r} non-negative numbers, one per level"
        )
    arr = np.asarray(s, dtype=np.float64)
    if arr.size != r:
        raise ValueError(
            f"{name} has {arr.size} entries but there are {r} levels; expected {r} entries"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} {arr.tolist()} must be finite and non-negative")
    return arr


def _as_multi_index(k: object, r: int) -> tuple[int, ...]:
    ks = (k,) if _is_int(k) else tuple(k)  # type: ignore[arg-type]
    if len(ks) == 0 or not all(_is_int(ki) for ki in ks):
        raise ValueError(f"k {k!r} is not an int or a tuple of ints; expected 1-based band indices")
    for ki in ks:
        if not 1 <= ki <= r:
            raise ValueError(f"k {k!r} out of range; expected band indices in 1..{r}")
    return tuple(int(ki) for ki in ks)


# --------------------------------------------------------------------------- bands


def _bands_1d(n: int, transform: str) -> np.ndarray:
    """1-based band of every natural index in 1-D."""
    i = np.arange(n)
    if transform == "walsh":
        k = np.ones(n, dtype=np.int64)
        k[1:] = np.floor(np.log2(i[1:])).astype(np.int64) + 1
        return k
    freq = np.where(i <= n // 2, i, i - n)
    k = np.ones(n, dtype=np.int64)
    pos = freq > 1  # f in (2^{k-2}, 2^{k-1}]  =>  k = ceil(log2 f) + 1
    k[pos] = np.ceil(np.log2(freq[pos])).astype(np.int64) + 1
    neg = freq < 0  # -f in [2^{k-2}, 2^{k-1})  =>  k = floor(log2(-f)) + 2
    k[neg] = np.floor(np.log2(-freq[neg])).astype(np.int64) + 2
    return k


def dyadic_bands(shape: Sequence[int], transform: str) -> np.ndarray:
    r"""Band label of every index of the frequency array.

    Parameters
    ----------
    shape : sequence of int
        ``(n,)`` or ``(n, n)`` with :math:`n = 2^r`.
    transform : {"fourier", "walsh"}

    Returns
    -------
    numpy.ndarray of int64, shape ``shape``
        Labels :math:`\sum_i (k_i - 1) r^{d-1-i} \in \{0, \dots, r^d - 1\}`
        (in 1-D, label :math:`k - 1`); see the module docstring for the bands
        and the index order.

    Examples
    --------
    >>> dyadic_bands((8,), "fourier")  # frequencies 0 1 2 3 4 -3 -2 -1
    array([0, 0, 1, 2, 2, 2, 2, 1])
    >>> dyadic_bands((8,), "walsh")
    array([0, 0, 1, 1, 2, 2, 2, 2])
    """
    n, d, r = image_geometry(shape)
    k = _bands_1d(n, _check_transform(transform)) - 1
    if d == 1:
        return k
    return k[:, None] * r + k[None, :]


def band_multi_index(label: int, r: int, d: int) -> tuple[int, ...]:
    r"""1-based multi-index :math:`(k_1, \dots, k_d)` of a band label.

    Parameters
    ----------
    label : int
        In :math:`0, \dots, r^d - 1`.
    r : int
        Number of bands per dimension.
    d : int
        Dimension.

    Returns
    -------
    tuple of int
        The inverse of :math:`\mathbf k \mapsto \sum_i (k_i - 1) r^{d-1-i}`.
    """
    if not _is_int(r) or r < 1:
        raise ValueError(f"r {r!r} is not a positive integer")
    if not _is_int(d) or d < 1:
        raise ValueError(f"d {d!r} is not a positive integer")
    if not _is_int(label) or not 0 <= label < r**d:
        raise ValueError(f"label {label!r} out of range; expected an integer in 0..{r**d - 1}")
    digits = []
    for _ in range(d):
        label, rem = divmod(int(label), r)
        digits.append(rem + 1)
    return tuple(reversed(digits))


def band_sizes(shape: Sequence[int], transform: str) -> np.ndarray:
    r"""Number of indices :math:`|B_{\mathbf k}|` in each band, in label order.

    Parameters
    ----------
    shape, transform
        As in :func:`dyadic_bands`.

    Returns
    -------
    numpy.ndarray of int64, shape ``(r**d,)``
        :math:`|B_{\mathbf k}| = \prod_i |B_{k_i}|` with :math:`|B_1| = 2`,
        :math:`|B_k| = 2^{k-1}` (both transforms).
    """
    _, d, r = image_geometry(shape)
    return np.bincount(dyadic_bands(shape, transform).ravel(), minlength=r**d).astype(np.int64)


# --------------------------------------------------------------------------- theory


def M_F(s: Sequence[float], k: int | Sequence[int]) -> float:
    r"""Local sparsity term of the Fourier–wavelet recovery guarantee.

    Parameters
    ----------
    s : sequence of float, length r
        Local sparsities :math:`s_1, \dots, s_r`.
    k : int or tuple of int
        1-based band index (an int in 1-D, a tuple of length :math:`d`).

    Returns
    -------
    float

    Notes
    -----
    With :math:`K = \|\mathbf k\|_\infty = \max_i k_i`,

    .. math::

        M_F(s, \mathbf k) = \sum_{l=1}^{K} s_l \prod_{i=1}^d 2^{-|k_i - l|}
        + \sum_{l=K+1}^{r} s_l\, 2^{-2(l - K)} \prod_{i=1}^d 2^{-|k_i - l|}.
    """
    s_arr = np.asarray(s, dtype=np.float64)
    r = s_arr.size
    _as_levels_vector(s_arr, r)
    ks = np.asarray(_as_multi_index(k, r))
    K = int(ks.max())
    total = 0.0
    for l in range(1, r + 1):
        term = s_arr[l - 1] * 2.0 ** (-np.abs(ks - l).sum())
        if l > K:
            term *= 2.0 ** (-2 * (l - K))
        total += term
    return float(total)


def M_B(s: Sequence[float], k: int | Sequence[int]) -> float:
    r"""Local sparsity term of the Walsh–wavelet recovery guarantee.

    Parameters
    ----------
    s : sequence of float, length r
        Local sparsities.
    k : int or tuple of int
        1-based band index.

    Returns
    -------
    float

    Notes
    -----
    .. math::

        M_B(s, \mathbf k) = s_{K} \prod_{i=1}^d 2^{-|k_i - K|},
        \qquad K = \|\mathbf k\|_\infty.
    """
    s_arr = np.asarray(s, dtype=np.float64)
    r = s_arr.size
    _as_levels_vector(s_arr, r)
    ks = np.asarray(_as_multi_index(k, r))
    K = int(ks.max())
    return float(s_arr[K - 1] * 2.0 ** (-np.abs(ks - K).sum()))


def log_factor(d: int, r: int, m: int, s: float | Sequence[float], eps_p: float) -> float:
    r"""Log factor :math:`L` of the recovery guarantees (used for reporting).

    Parameters
    ----------
    d : int
        Dimension.
    r : int
        Number of levels (:math:`n = 2^r`).
    m : int
        Total number of samples, :math:`m \ge 1`.
    s : float or sequence of float
        Total sparsity :math:`s` (a sequence is summed), :math:`r s \ge 1`.
    eps_p : float
        Failure probability :math:`\varepsilon_P \in (0, 1]`.

    Returns
    -------
    float
        :math:`L = d\, r^3 \log(m) \log^2(r s) + \log(\varepsilon_P^{-1})`
        (natural logarithms).
    """
    s_total = float(np.sum(s))
    if m < 1:
        raise ValueError(f"m {m} must be >= 1")
    if r * s_total < 1:
        raise ValueError(f"r*s = {r * s_total} must be >= 1")
    if not 0 < eps_p <= 1:
        raise ValueError(f"eps_p {eps_p} out of range; expected 0 < eps_p <= 1")
    return d * r**3 * math.log(m) * math.log(r * s_total) ** 2 + math.log(1.0 / eps_p)


# --------------------------------------------------------------------------- budgets


def _largest_remainder(
    targets: np.ndarray, caps: np.ndarray, m: int, priority: np.ndarray | None = None
) -> np.ndarray:
    """Integers ``0 <= b <= caps`` with ``sum(b) == m``, close to real ``targets``.

    Floors the targets, then hands the remaining units one at a time to bands
    with room, largest fractional part first; bands with ``priority`` False
    only receive a unit when every prioritised band is full.
    """
    if priority is None:
        priority = np.ones(targets.shape, dtype=bool)
    base = np.clip(np.floor(targets + 1e-9).astype(np.int64), 0, caps)
    frac = targets - base
    deficit = m - int(base.sum())
    while deficit > 0:
        room = np.flatnonzero(base < caps)
        if room.size == 0:  # pragma: no cover - m <= sum(caps) is checked by the callers
            raise RuntimeError("no room left for the remaining samples")
        # sort by (priority, fractional part), both descending; stable so ties go to
        # the lower label (the coarser band)
        order = room[np.lexsort((-frac[room], ~priority[room]))]
        if priority[order[0]]:
            order = order[priority[order]]
        give = order[:deficit]
        base[give] += 1
        frac[give] -= 1.0
        deficit -= give.size
    while deficit < 0:  # pragma: no cover - floors never sum above m
        have = np.flatnonzero(base > 0)
        take = have[np.argsort(frac[have], kind="stable")][:-deficit]
        base[take] -= 1
        deficit += take.size
    return base


def _theory_budgets(weights: np.ndarray, caps: np.ndarray, m: int) -> np.ndarray:
    r"""``m_k = min(c w_k, |B_k|)`` with ``sum m_k = m`` (bisection on ``c``), integerised."""
    pos = weights > 0
    full = int(caps[pos].sum())
    if full <= m:
        # every band the formula asks for is full; spread the rest over the others
        out = np.where(pos, caps, 0)
        rest = m - full
        if rest > 0:
            zero_caps = np.where(pos, 0, caps)
            targets = rest * zero_caps / zero_caps.sum()
            out = out + _largest_remainder(targets, zero_caps, rest)
        return out
    lo, hi = 0.0, float(np.max(caps[pos] / weights[pos]))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.minimum(mid * weights, caps).sum() < m:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    targets = np.minimum(hi * weights, caps)
    return _largest_remainder(targets, caps, m, priority=pos)


def _explicit_budgets(budget: object, caps: np.ndarray, r: int, d: int) -> np.ndarray:
    arr = np.asarray(budget)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise ValueError(f"budgets {budget!r} is not an array of integers")
    if d == 2 and arr.shape == (r, r):
        arr = arr.reshape(-1)
    if arr.shape != (r**d,):
        allowed = f"({r**d},)" + (f" or ({r}, {r})" if d == 2 else "")
        raise ValueError(f"budgets has shape {arr.shape}; expected {allowed}, one entry per band")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"budgets {arr.tolist()} must be integers")
    arr = arr.astype(np.int64)
    for label, (b, c) in enumerate(zip(arr, caps, strict=True)):
        kk = band_multi_index(label, r, d)
        band = kk[0] if d == 1 else kk
        if b < 0:
            raise ValueError(f"budget {b} for band {band} is negative; expected 0..{c}")
        if b > c:
            raise ValueError(
                f"budget {b} for band {band} is larger than the band, which has {c} indices; "
                f"expected 0..{c}"
            )
    return arr


def budgets(
    shape: Sequence[int],
    transform: str,
    m: int | None,
    scheme: str | Sequence[int] | np.ndarray,
    s: Sequence[float] | None = None,
) -> np.ndarray:
    r"""Number of samples :math:`m_{\mathbf k}` in each dyadic band.

    Parameters
    ----------
    shape : sequence of int
        ``(n,)`` or ``(n, n)`` with :math:`n = 2^r`; :math:`N = n^d`.
    transform : {"fourier", "walsh"}
    m : int
        Total number of samples, :math:`1 \le m \le N`. May be ``None`` for an
        explicit budget (then it is not checked against the sum).
    scheme : {"theory", "uniform"} or array_like of int
        - ``"theory"``: :math:`m_{\mathbf k} = \min(c\, M(s, \mathbf k),
          |B_{\mathbf k}|)` with :math:`M = M_F` (Fourier) or :math:`M_B`
          (Walsh) and :math:`c` found by bisection so that
          :math:`\sum_{\mathbf k} m_{\mathbf k} = m`; then integerised. Bands
          with :math:`M(s, \mathbf k) = 0` receive samples only when all other
          bands are full, and then in proportion to their size.
        - ``"uniform"``: the same density :math:`m/N` in every band.
        - an explicit budget, flat of length :math:`r^d` in label order (or
          nested :math:`r \times r` in 2-D): validated and returned; when
          ``m`` is given it must equal the sum.
    s : sequence of float, length r, optional
        Local sparsities, required for ``"theory"``.

    Returns
    -------
    numpy.ndarray of int64, shape ``(r**d,)``
        :math:`0 \le m_{\mathbf k} \le |B_{\mathbf k}|`, summing to exactly
        ``m``.

    Notes
    -----
    Real allocations are rounded by the largest-remainder method: floors first,
    then one extra sample to the bands with the largest fractional parts (ties
    to the coarser band), never above a band's size.

    Raises
    ------
    ValueError
        Unknown scheme or transform, ``m`` out of range, ``s`` missing or of the
        wrong length, an explicit budget of the wrong shape, negative, larger
        than its band or not summing to ``m``.
    """
    n, d, r = image_geometry(shape)
    transform = _check_transform(transform)
    caps = band_sizes(shape, transform)
    N = n**d
    is_name = isinstance(scheme, str)
    if m is not None or is_name:
        if not _is_int(m):
            raise ValueError(f"m {m!r} is not an integer; expected 1 <= m <= N = {N}")
        if not 1 <= m <= N:
            raise ValueError(f"m {m} out of range; expected 1 <= m <= N = {N}")
        m = int(m)
    if not is_name:
        out = _explicit_budgets(scheme, caps, r, d)
        if m is not None and int(out.sum()) != m:
            raise ValueError(f"budgets sum to {int(out.sum())} but m = {m}; expected equal")
        return out
    if scheme == "uniform":
        return _largest_remainder(m * caps / N, caps, m)
    if scheme == "theory":
        if s is None:
            raise ValueError("scheme 'theory' needs the local sparsities s (one per level)")
        s_arr = _as_levels_vector(s, r)
        if not np.any(s_arr > 0):
            raise ValueError(f"s {s_arr.tolist()} is all zero; expected a positive sparsity")
        M = M_F if transform == "fourier" else M_B
        weights = np.array(
            [M(s_arr, band_multi_index(lab, r, d)) for lab in range(r**d)], dtype=np.float64
        )
        return _theory_budgets(weights, caps, m)
    raise ValueError(
        f"unknown scheme {scheme!r}; expected one of: {', '.join(SCHEMES)}, or an explicit "
        "per-band budget"
    )


# --------------------------------------------------------------------------- masks


def multilevel_mask(
    shape: Sequence[int],
    transform: str,
    budgets: Sequence[int] | np.ndarray,
    rng: RngLike,
) -> np.ndarray:
    r"""Random multilevel sampling mask.

    Parameters
    ----------
    shape : sequence of int
        ``(n,)`` or ``(n, n)``, :math:`n = 2^r`.
    transform : {"fourier", "walsh"}
    budgets : array_like of int, shape ``(r**d,)`` (or ``(r, r)`` in 2-D)
        Samples per band, as returned by :func:`budgets`.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).

    Returns
    -------
    numpy.ndarray of bool, shape ``shape``
        In the transform's natural index order, with exactly
        :math:`m_{\mathbf k}` entries set in band :math:`\mathbf k`, drawn
        uniformly without replacement, bands in label order.
    """
    rng = as_generator(rng)
    _, d, r = image_geometry(shape)
    labels = dyadic_bands(shape, transform).ravel()
    caps = np.bincount(labels, minlength=r**d)
    m_k = _explicit_budgets(budgets, caps, r, d)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(caps)])
    mask = np.zeros(labels.size, dtype=bool)
    for label, count in enumerate(m_k):
        if count == 0:
            continue
        members = order[starts[label] : starts[label + 1]]
        mask[rng.choice(members, size=int(count), replace=False)] = True
    return mask.reshape(tuple(shape))


# --------------------------------------------------------------------------- radial lines


def radial_line_points(n: int, angle: float) -> np.ndarray:
    r"""Integer frequencies of one line through the zero frequency of an ``n × n`` grid.

    The digital line of angle :math:`\theta` across the whole square
    :math:`[-n/2, n/2]^2`, one frequency per step along its major axis (as Bresenham's
    algorithm draws it): for :math:`|\cos\theta| \ge |\sin\theta|` the points
    :math:`(k, \operatorname{rint}(k\tan\theta))`, :math:`k = -n/2, \dots, n/2`; otherwise
    :math:`(\operatorname{rint}(k\cot\theta), k)`. ``numpy.rint`` rounds halves to even,
    so the point at :math:`-k` is minus the point at :math:`k` and the line is symmetric.

    Parameters
    ----------
    n : int
        Grid side (even, ≥ 2).
    angle : float
        :math:`\theta` in radians.

    Returns
    -------
    numpy.ndarray of int64, shape ``(n + 1, 2)``
        Frequencies :math:`(\omega_1, \omega_2) \in \{-n/2, \dots, n/2\}^2`, row
        frequency first, ordered along the line; the middle one is ``(0, 0)``.
    """
    c, s = math.cos(angle), math.sin(angle)
    k = np.arange(-(n // 2), n // 2 + 1, dtype=np.float64)
    if abs(c) >= abs(s):
        pts = np.stack([k, np.rint(k * s / c)], axis=1)
    else:
        pts = np.stack([np.rint(k * c / s), k], axis=1)
    return np.clip(pts, -(n // 2), n // 2).astype(np.int64)


def radial_mask(shape: Sequence[int], lines: int, transform: str = "fourier") -> np.ndarray:
    r"""Sampling mask of ``lines`` radial lines through the zero frequency (2-D Fourier).

    Line :math:`l = 0, \dots, L-1` has angle :math:`\theta_l = \pi l / L` (equally
    spaced over a half turn; :math:`\theta_0 = 0` is the row-frequency axis
    :math:`\omega_2 = 0`) and covers the integer frequencies of
    :func:`radial_line_points` (:math:`n + 1` points across the whole square). A
    frequency :math:`\omega` is stored at index :math:`\omega \bmod n` (natural
    ``numpy.fft`` order; :math:`\pm n/2` share the Nyquist index). The mask is
    deterministic (no seed) and conjugate-symmetric: index :math:`i` is sampled iff
    :math:`-i \bmod n` is, so a real image's measurements determine no more than the
    sampled set; the zero frequency is always sampled.

    Parameters
    ----------
    shape : (int, int)
        ``(n, n)``, :math:`n = 2^r \ge 2`.
    lines : int
        :math:`L \ge 1`.
    transform : {"fourier"}
        Radial lines are a Fourier scheme (Walsh sequencies have no angle).

    Returns
    -------
    numpy.ndarray of bool, shape ``(n, n)``
        Natural index order.

    Raises
    ------
    ValueError
        A 1-D or non-square shape, a side that is not a power of two, ``lines`` not an
        integer ≥ 1, or a transform other than ``"fourier"``, each naming the value.

    Examples
    --------
    >>> int(radial_mask((8, 8), 2).sum())   # the two axes: 8 + 8 - 1 frequencies
    15
    """
    _check_transform(transform)
    if transform != "fourier":
        raise ValueError(f"radial sampling needs transform 'fourier', not {transform!r} "
                         "(Walsh sequencies have no angle)")
    shape = tuple(int(v) for v in shape)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"radial sampling needs a square 2-D shape (n, n); got {shape}")
    image_geometry(shape)  # a power of two, or a ValueError naming it
    if not _is_int(lines) or lines < 1:
        raise ValueError(f"lines = {lines!r} is not valid; expected an integer >= 1")
    n = shape[0]
    mask = np.zeros(shape, dtype=bool)
    for l in range(int(lines)):  # noqa: E741
        pts = radial_line_points(n, math.pi * l / lines) % n
        mask[pts[:, 0], pts[:, 1]] = True
    return mask
