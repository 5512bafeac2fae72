r"""The measurement problem of the trade-off experiment: a multilevel mask with a full centre.

The operator is the package's :class:`~stablesweep.operators.SamplingOperator`
:math:`A = P_\Omega U W^{-1}`; the networks see measurements :math:`y = P_\Omega U x`
of images :math:`x` (``A.measure``). The mask Ω is a multilevel scheme
(:func:`stablesweep.sampling.multilevel_mask`) with an explicit per-band budget:

* every dyadic band :math:`B_{\mathbf k}` with :math:`\|\mathbf k\|_\infty \le L`
  (``full_levels``) is sampled completely (the low frequencies, as in practice);
* an outer band with :math:`\|\mathbf k\|_\infty = l > L` gets the density
  :math:`\min(1, c\,\rho^{\,l-L-1})` (``decay`` :math:`\rho`), with :math:`c` found by
  bisection so that the budgets sum to :math:`m = \mathrm{round}(\text{rate}\cdot N)`
  (rounded by largest remainders, never above a band's size).

When the full centre alone holds more than ``m`` samples, the centre bands are filled
in the order of their level until ``m`` is reached.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["full_centre_budgets", "make_mask", "make_operator"]


def full_centre_budgets(shape: tuple[int, ...], transform: str, m: int, full_levels: int,
                        decay: float) -> np.ndarray:
    r"""Per-band budgets: full centre up to level ``full_levels``, decaying density outside.

    Parameters
    ----------
    shape : tuple of int
        ``(n, n)``, :math:`n = 2^r`.
    transform : {"fourier", "walsh"}
    m : int
        Total number of samples, :math:`1 \le m \le N`.
    full_levels : int
        :math:`L`: bands with :math:`\|\mathbf k\|_\infty \le L` are fully sampled.
    decay : float
        :math:`\rho \in (0, 1]`: density ratio between successive outer levels.

    Returns
    -------
    numpy.ndarray of int64, shape ``(r**d,)``
        Validated by :func:`stablesweep.sampling.budgets` (sums to ``m``).
    """
    from stablesweep.sampling import band_multi_index, band_sizes, budgets

    n = shape[0]
    d = len(shape)
    r = int(np.log2(n))
    caps = band_sizes(shape, transform).astype(np.float64)
    level = np.array([max(np.atleast_1d(band_multi_index(lab, r, d))) for lab in
                      range(r**d)])
    inner = level <= full_levels
    if caps[inner].sum() >= m:  # the centre alone is too much: fill it level by level
        out = np.zeros(r**d, dtype=np.int64)
        left = m
        for lab in np.argsort(level, kind="stable"):
            take = int(min(caps[lab], left))
            out[lab], left = take, left - take
        return budgets(shape, transform, m, out)
    weight = np.where(inner, np.inf, decay ** (level - full_levels - 1.0))

    def total(c: float) -> float:
        return float((np.minimum(c * weight, 1.0) * caps).sum())

    lo, hi = 0.0, 1.0
    while total(hi) < m and hi < 1e300:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if total(mid) <= m else (lo, mid)
    alloc = np.minimum(np.where(inner, 1.0, lo * weight), 1.0) * caps
    out = np.floor(alloc + 1e-9).astype(np.int64)
    order = np.argsort(-(alloc - out), kind="stable")
    for lab in order:
        if out.sum() >= m:
            break
        if out[lab] < caps[lab]:
            out[lab] += 1
    return budgets(shape, transform, m, out)


def make_mask(problem: dict[str, Any]) -> np.ndarray:
    """The mask (bool ``(n, n)``, natural index order) of a config's ``problem`` block.

    ``sampling.scheme: radial`` (with ``lines``) gives
    :func:`stablesweep.sampling.radial_mask`; otherwise (``multilevel``, the default)
    the multilevel mask of :func:`full_centre_budgets` drawn with ``sampling.seed``.
    """
    from stablesweep.sampling import multilevel_mask, radial_mask

    n = int(problem["resolution"])
    shape = (n, n)
    s = problem["sampling"]
    if s.get("scheme") == "radial":
        return radial_mask(shape, int(s["lines"]), problem["transform"])
    m = max(1, int(round(float(s["rate"]) * n * n)))
    b = full_centre_budgets(shape, problem["transform"], m, int(s.get("full_levels", 2)),
                            float(s.get("decay", 0.5)))
    return multilevel_mask(shape, problem["transform"], b, int(s["seed"]))


def make_operator(problem: dict[str, Any]) -> Any:
    """The :class:`~stablesweep.operators.SamplingOperator` of a ``problem`` block."""
    from stablesweep.operators import SamplingOperator

    return SamplingOperator(problem["transform"], make_mask(problem),
                            problem.get("wavelet", "haar"))
