r"""Sparsity in levels for wavelet coefficients.

The wavelet coefficients of an image of side :math:`n = 2^r` are stored in
PyWavelets' ``coeffs_to_array`` layout (same shape as the image; periodized,
orthonormal DWT with ``L`` decomposition levels, ``1 <= L <= r``):

- 1-D: ``[cA_L, cD_L, cD_{L-1}, ..., cD_1]`` with ``len(cD_j) = n / 2^j``;
- 2-D: ``cA_L`` in the top-left corner and the three detail blocks of scale
  ``j`` filling the ``n/2^{j-1}`` square around the ``n/2^j`` one.

These coefficients split into :math:`J = L` *levels* with boundaries
:math:`M_1 < \dots < M_J = N` (:math:`N = n^d`):

- level 1 is the coarse block of side :math:`2^{r-L+1}` (approximation and
  coarsest detail), i.e. :math:`M_1 = 2^{(r-L+1)d}`;
- level :math:`k \ge 2` holds the detail coefficients of scale
  :math:`L-k+1`, i.e. :math:`M_k = 2^{(r-L+k)d}`.

With full decomposition (``levels=None``, :math:`L = r`) this gives
:math:`M_k = 2^k` in 1-D (level 1 has 2 entries, level :math:`k` has
:math:`2^{k-1}`) and :math:`M_k = 4^k` in 2-D.

A vector :math:`z` is :math:`(s, M)`-sparse when level :math:`k` holds at most
:math:`s_k` non-zeros. The weighted :math:`\ell^1` norm and the best
:math:`(s, M)`-term approximation error are

.. math::

    \|z\|_{\ell^1_w} = \sum_i w_i |z_i|, \qquad
    \sigma_{s,M}(z)_{\ell^1_w} = \min\{\|z - v\|_{\ell^1_w} :
    v \text{ is } (s, M)\text{-sparse}\},

with weights constant on each level, :math:`w_{(k)} = \sqrt{s / s_k}`,
:math:`s = \sum_k s_k`.

The module also holds the small validation helpers (:func:`image_geometry`,
:func:`check_resolution`, :func:`as_generator`) shared by the other
measurement-model modules.

References
----------
B. Adcock, A. C. Hansen, *Compressive Imaging: Structure, Sampling, Learning*,
Cambridge University Press, 2021 (chapters on sparsity in levels).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "as_generator",
    "best_approx_error",
    "check_resolution",
    "image_geometry",
    "level_boundaries",
    "level_index",
    "level_sizes",
    "sample_sparse_in_levels",
    "sparsity_weights",
    "weight_map",
]

RngLike = np.random.Generator | np.random.SeedSequence | int


# --------------------------------------------------------------------------- helpers


def as_generator(rng: RngLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator, numpy.random.SeedSequence or int
        A generator is returned as is (not copied); a seed or seed sequence is
        passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        For anything else, including ``None``: randomness must be explicit.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed {rng} is negative; expected a non-negative integer")
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator, a numpy.random.SeedSequence or an int seed, "
        f"got {rng!r}"
    )


def check_resolution(n: object, name: str = "resolution") -> int:
    """Check that ``n`` is a power of two, at least 2, and return it as ``int``.

    Parameters
    ----------
    n : int
        Side length of the image.
    name : str
        Parameter name used in the error message.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``n`` is not an integer power of two ``>= 2``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} {n!r} is not an integer; expected a power of two >= 2")
    n = int(n)
    if n < 2:
        raise ValueError(f"{name} {n} is too small; expected a power of two >= 2")
    if n & (n - 1):
        raise ValueError(f"{name} {n} is not a power of two")
    return n


def image_geometry(shape: Sequence[int]) -> tuple[int, int, int]:
    r"""Validate an image shape and return ``(n, d, r)``.

    Parameters
    ----------
    shape : sequence of int
        ``(n,)`` or ``(n, n)`` with :math:`n = 2^r`, :math:`r \ge 1`.

    Returns
    -------
    n : int
        Side length.
    d : int
        Dimension, 1 or 2.
    r : int
        :math:`\log_2 n`.

    Raises
    ------
    ValueError
        Wrong number of dimensions, non-square shape or a side that is not a
        power of two.
    """
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"shape {shape!r} is not a sequence; expected (n,) or (n, n)") from None
    if len(shape) not in (1, 2):
        raise ValueError(
            f"shape {shape} has {len(shape)} dimensions; expected 1 or 2, i.e. (n,) or (n, n)"
        )
    if len(shape) == 2 and shape[0] != shape[1]:
        raise ValueError(f"shape {shape} is not square; expected (n,) or (n, n)")
    n = check_resolution(shape[0])
    return n, len(shape), n.bit_length() - 1


def _decomposition_levels(r: int, levels: int | None) -> int:
    """Number of DWT decomposition levels ``L`` (``levels=None`` means ``r``)."""
    if levels is None:
        return r
    if (
        isinstance(levels, bool)
        or not isinstance(levels, numbers.Integral)
        or not (1 <= levels <= r)
    ):
        raise ValueError(
            f"levels {levels!r} out of range for resolution {2**r}; expected an integer in "
            f"1..{r} (or None for full decomposition)"
        )
    return int(levels)


def _as_sparsity(s: object, n_levels: int | None = None, name: str = "s") -> tuple[int, ...]:
    """Validate a per-level sparsity vector: non-negative integers, optional length check."""
    if isinstance(s, torch.Tensor):
        s = s.tolist()
    if isinstance(s, str | bytes) or not isinstance(s, Sequence | np.ndarray) or np.ndim(s) != 1:
        raise ValueError(
            f"{name} {s!r} is not a 1-D sequence; expected one non-negative integer per level"
        )
    out = []
    for k, v in enumerate(s, start=1):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(v):
            raise ValueError(
                f"{name}[{k}] = {v!r} (level {k}) is not an integer; expected non-negative integers"
            )
        if v < 0:
            raise ValueError(
                f"{name}[{k}] = {v} (level {k}) is negative; expected non-negative integers"
            )
        out.append(int(v))
    if n_levels is not None and len(out) != n_levels:
        raise ValueError(
            f"{name} has {len(out)} entries but there are {n_levels} levels; "
            "expected one entry per level"
        )
    return tuple(out)


def _check_fits(s: tuple[int, ...], sizes: Sequence[int], name: str = "s") -> None:
    for k, (sk, size) in enumerate(zip(s, sizes, strict=True), start=1):
        if sk > size:
            raise ValueError(
                f"{name}[{k}] = {sk} is larger than level {k}, which has {size} coefficients; "
                f"expected 0 <= {name}[{k}] <= {size}"
            )


# --------------------------------------------------------------------------- levels


def level_boundaries(shape: Sequence[int], levels: int | None = None) -> list[int]:
    r"""Cumulative level boundaries :math:`M_1 < \dots < M_J = N`.

    Parameters
    ----------
    shape : sequence of int
        Image shape ``(n,)`` or ``(n, n)``, :math:`n = 2^r`.
    levels : int, optional
        Number of DWT decomposition levels :math:`L \in \{1, \dots, r\}`;
        ``None`` means full decomposition, :math:`L = r`.

    Returns
    -------
    list of int
        :math:`M_k = 2^{(r - L + k) d}` for :math:`k = 1, \dots, J`, :math:`J = L`.

    Examples
    --------
    >>> level_boundaries((8,))
    [2, 4, 8]
    >>> level_boundaries((8, 8))
    [4, 16, 64]
    >>> level_boundaries((16,), levels=2)
    [8, 16]
    """
    n, d, r = image_geometry(shape)
    L = _decomposition_levels(r, levels)
    return [2 ** ((r - L + k) * d) for k in range(1, L + 1)]


def level_sizes(shape: Sequence[int], levels: int | None = None) -> list[int]:
    r"""Number of coefficients in each level, :math:`M_k - M_{k-1}` (:math:`M_0 = 0`).

    ``shape`` and ``levels`` as in :func:`level_boundaries`; returns a list of int, one
    entry per level.
    """
    bounds = level_boundaries(shape, levels)
    return [b - a for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]


def level_index(shape: Sequence[int], levels: int | None = None) -> np.ndarray:
    r"""1-based level of every coefficient, in ``coeffs_to_array`` layout.

    Parameters
    ----------
    shape, levels
        As in :func:`level_boundaries`.

    Returns
    -------
    numpy.ndarray of int64, shape ``shape``
        In 1-D, entry :math:`i` is in level :math:`k` when
        :math:`M_{k-1} \le i < M_k`. In 2-D, entry :math:`(i, j)` has the
        1-D level of :math:`\max(i, j)` (level :math:`k` is the square of side
        :math:`2^{r-L+k}` minus the square of side :math:`2^{r-L+k-1}`).
    """
    n, d, r = image_geometry(shape)
    L = _decomposition_levels(r, levels)
    sides = [2 ** (r - L + k) for k in range(1, L + 1)]
    idx1 = np.searchsorted(np.asarray(sides), np.arange(n), side="right") + 1
    if d == 1:
        return idx1.astype(np.int64)
    return np.maximum(idx1[:, None], idx1[None, :]).astype(np.int64)


# --------------------------------------------------------------------------- weights


def sparsity_weights(s: Sequence[int]) -> np.ndarray:
    r"""Per-level weights :math:`w_k = \sqrt{s / s_k}`, :math:`s = \sum_k s_k`.

    Parameters
    ----------
    s : sequence of int, length J
        Local sparsities :math:`s_k \ge 0`, not all zero.

    Returns
    -------
    numpy.ndarray of float64, shape ``(J,)``

    Notes
    -----
    A level with :math:`s_k = 0` gets the weight it would have with
    :math:`s_k = 1`, i.e. :math:`w_k = \sqrt{s}` (the largest weight any level
    can have), so the weighted norm stays finite and still penalises such a
    level most.

    Raises
    ------
    ValueError
        Negative or non-integer entries, or all entries zero.
    """
    s = _as_sparsity(s)
    total = sum(s)
    if total == 0:
        raise ValueError(f"s {list(s)} is all zero; expected at least one positive sparsity")
    sk = np.maximum(np.asarray(s, dtype=np.float64), 1.0)
    return np.sqrt(total / sk)


def weight_map(
    shape: Sequence[int],
    s: Sequence[int],
    levels: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Per-coefficient weights :math:`w_i = w_{(k)}` for :math:`i` in level :math:`k`.

    Parameters
    ----------
    shape, levels
        As in :func:`level_boundaries`.
    s : sequence of int, length J
        Local sparsities, :math:`0 \le s_k \le M_k - M_{k-1}`.
    dtype : torch.dtype
        Real dtype of the result.
    device : torch.device or str, optional

    Returns
    -------
    torch.Tensor, shape ``shape``
        The weights of :func:`sparsity_weights` spread over the coefficients.
    """
    sizes = level_sizes(shape, levels)
    s = _as_sparsity(s, len(sizes))
    _check_fits(s, sizes)
    w = sparsity_weights(s)
    wmap = w[level_index(shape, levels) - 1]
    return torch.as_tensor(wmap, dtype=dtype, device=device)


# --------------------------------------------------------------------------- sampling


def sample_sparse_in_levels(
    shape: Sequence[int],
    s: Sequence[int],
    rng: RngLike,
    complex: bool = False,
    levels: int | None = None,
) -> torch.Tensor:
    r"""Random :math:`(s, M)`-sparse coefficient array.

    Parameters
    ----------
    shape, levels
        As in :func:`level_boundaries`.
    s : sequence of int, length J
        Exactly :math:`s_k` non-zeros are placed in level :math:`k`,
        :math:`0 \le s_k \le M_k - M_{k-1}`.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed for
        :func:`numpy.random.default_rng`).
    complex : bool
        Complex values if true.

    Returns
    -------
    torch.Tensor, shape ``shape``, float64 (or complex128)
        Support drawn uniformly without replacement inside each level; values
        i.i.d. :math:`\mathcal N(0, 1)`, or :math:`(a + ib)/\sqrt 2` with
        :math:`a, b \sim \mathcal N(0, 1)` when complex (unit variance).
        The values are non-zero with probability one.
    """
    rng = as_generator(rng)
    sizes = level_sizes(shape, levels)
    s = _as_sparsity(s, len(sizes))
    _check_fits(s, sizes)
    labels = level_index(shape, levels).ravel()
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    z = np.zeros(labels.size, dtype=np.complex128 if complex else np.float64)
    for k, sk in enumerate(s):
        if sk == 0:
            continue
        members = order[starts[k] : starts[k + 1]]
        support = rng.choice(members, size=sk, replace=False)
        values = rng.standard_normal(sk)
        if complex:
            values = (values + 1j * rng.standard_normal(sk)) / np.sqrt(2.0)
        z[support] = values
    return torch.from_numpy(z.reshape(tuple(shape)))


# --------------------------------------------------------------------------- approximation


def _infer_d(z: torch.Tensor, n_levels: int) -> int:
    """Dimension of the coefficient arrays in ``z`` (see :func:`best_approx_error`)."""
    if z.ndim == 0:
        raise ValueError("z is a scalar; expected shape (..., n) or (..., n, n)")
    if z.ndim == 1 or z.shape[-1] != z.shape[-2]:
        return 1
    if z.shape[-1] == 2**n_levels:
        return 2
    raise ValueError(
        f"d is ambiguous for z of shape {tuple(z.shape)} with {n_levels} levels "
        f"(a batch of 1-D signals or a 2-D array); pass d=1 or d=2"
    )


def best_approx_error(
    z: torch.Tensor,
    s: Sequence[int],
    weights: Sequence[float] | None = None,
    d: int | None = None,
) -> torch.Tensor:
    r"""Best :math:`(s, M)`-term approximation error in the weighted :math:`\ell^1` norm.

    Parameters
    ----------
    z : torch.Tensor, shape ``(..., n)`` or ``(..., n, n)``
        Wavelet coefficients (real or complex) in ``coeffs_to_array`` layout,
        with leading batch dimensions.
    s : sequence of int, length J
        Local sparsities. The number of levels ``J = len(s)`` fixes the
        decomposition: ``J`` DWT levels (``J = log2 n`` is full decomposition).
    weights : sequence of float, length J, optional
        Per-level weights; default :func:`sparsity_weights` ``(s)``.
    d : int, optional
        1 or 2. Inferred when omitted: ``z.ndim == 1`` or unequal last two
        dimensions give 1; equal last two dimensions equal to ``2**J`` give 2
        (so a batch of ``2**J`` 1-D signals of length ``2**J`` needs ``d=1``);
        equal last two dimensions of any other size are ambiguous and raise.

    Returns
    -------
    torch.Tensor, shape ``(...)``
        Real, one value per batch element (a 0-d tensor without batch dims).

    Notes
    -----
    Because the weights are constant on each level, the minimiser keeps the
    :math:`s_k` largest-magnitude entries of every level, so

    .. math::

        \sigma_{s,M}(z)_{\ell^1_w} = \sum_{k=1}^J w_{(k)}
        \Bigl(\sum_{i \in \text{level } k} |z_i|
        - \sum_{\text{the } s_k \text{ largest}} |z_i|\Bigr).

    It is zero exactly when ``z`` is :math:`(s, M)`-sparse. The result is
    differentiable in ``z`` (autograd) almost everywhere.
    """
    z = torch.as_tensor(z)
    s = _as_sparsity(s)
    J = len(s)
    if J == 0:
        raise ValueError("s is empty; expected one non-negative integer per level")
    if d is None:
        d = _infer_d(z, J)
    if d not in (1, 2):
        raise ValueError(f"d {d!r} is not supported; expected 1 or 2")
    if z.ndim < d:
        raise ValueError(f"z of shape {tuple(z.shape)} has fewer than d={d} dimensions")
    shape = tuple(z.shape[z.ndim - d :])
    n, _, r = image_geometry(shape)
    if J > r:
        raise ValueError(
            f"s has {J} entries but an array of shape {shape} has at most {r} levels; "
            "expected one entry per level"
        )
    sizes = level_sizes(shape, J)
    _check_fits(s, sizes)
    if weights is None:
        w = sparsity_weights(s)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (J,):
            raise ValueError(f"weights has shape {w.shape}; expected ({J},), one weight per level")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights {w.tolist()} must be finite and non-negative")

    batch = z.shape[: z.ndim - d]
    flat = z.abs().reshape(*batch, n**d)
    order = np.argsort(level_index(shape, J).ravel(), kind="stable")
    flat = flat.index_select(-1, torch.as_tensor(order, device=flat.device))
    total = flat.new_zeros(batch)
    start = 0
    for k, (sk, size) in enumerate(zip(s, sizes, strict=True)):
        block = flat[..., start : start + size]
        start += size
        # sum of all but the s_k largest magnitudes (summing the tail directly avoids
        # the cancellation of "total minus the largest")
        tail = block.sort(dim=-1, descending=True).values[..., sk:].sum(-1)
        total = total + float(w[k]) * tail
    return total
