r"""Near-kernel details and the test pairs :math:`(x, x' = x + \delta)`.

The networks of this package see measurements of *images*: :math:`y = B x` with the
image-domain forward map :math:`B = P_\Omega U` (``A.measure``; equal to
:math:`A W` for :math:`A = P_\Omega U W^{-1}`, which acts on wavelet coefficients).
The images are real, so the kernel that matters is the real kernel

.. math:: \mathcal N = \{d \in \mathbb R^N : B d = 0\}.

Kernel projection
    :math:`U` is unitary and :math:`B` keeps the rows of :math:`U` in Ω, so
    :math:`d \in \mathcal N` iff :math:`(Ud)_k = 0` for :math:`k \in \Omega`. For the
    DFT of a real image :math:`(Ud)_{-k} = \overline{(Ud)_k}`, hence the same holds on
    the symmetrised set :math:`S = \Omega \cup (-\Omega)` (indices mod n); for the
    (real) Walsh transform :math:`S = \Omega`. The orthogonal projector of
    :math:`\mathbb R^N` onto :math:`\mathcal N` is

    .. math:: \Pi_{\mathcal N} d = U^* (\mathbb 1_{S^c} \odot U d),

    which is real for real :math:`d` because :math:`S` is symmetric (for the Fourier
    case this is :math:`d - \mathrm{Re}(B^+ B d)` restricted to :math:`S`, where
    :math:`B^+ = B^*` since :math:`B B^* = I`). Write :math:`d_{\ker} = \Pi_{\mathcal N}d`
    and :math:`d_\perp = d - d_{\ker}`; then :math:`B d_{\ker} = 0` and
    :math:`\langle d_{\ker}, d_\perp\rangle = 0`.

Controlled visibility
    For a template :math:`d` (a small disk, optionally checkerboard-modulated), the
    detail is :math:`\delta = d_{\ker} + t\,d_\perp` with :math:`t \ge 0` chosen so
    that the visibility ratio is a prescribed :math:`\kappa`:

    .. math::

        \frac{\|B\delta\|}{\|\delta\|}
        = \frac{t\,a}{\sqrt{c^2 + t^2 b^2}} = \kappa
        \iff t = \frac{\kappa\, c}{\sqrt{a^2 - \kappa^2 b^2}},
        \qquad a = \|B d\|,\ b = \|d_\perp\|,\ c = \|d_{\ker}\|,

    which needs :math:`a > \kappa b`. Since :math:`d_\perp` lives on :math:`S` and each
    conjugate pair :math:`\pm k` has at least one member in Ω,
    :math:`a^2 \ge b^2/2` (Fourier; :math:`a = b` for Walsh), so every
    :math:`\kappa \le 1/2` is reachable. The detail is not clipped (that would move it
    off the prescribed visibility), so :math:`x'` may leave :math:`[0, 1]` slightly.

Templates (pixel ``(i, j)``, centre ``(c_i, c_j)`` on the pixel grid, radius ρ, contrast
:math:`\gamma`)
    * ``blob``: :math:`\gamma\,\mathbb 1[(i-c_i)^2 + (j-c_j)^2 \le \rho^2]`;
    * ``texture``: the blob times :math:`(-1)^{i+j}` — a small patch of the finest
      checkerboard texture. Its spectrum is the blob's shifted by :math:`(n/2, n/2)`,
      into the sparsely sampled high frequencies, so most of it lies in
      :math:`\mathcal N` (a fine detail a subsampled scan cannot see).

Both the projector and the template family commute with circular shifts (the mask acts
in the frequency domain), so every detail of one radius and contrast is a shifted copy
of one pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["KernelProjector", "TestPairs", "detail_template", "detail_windows",
           "draw_details", "make_pairs", "near_kernel_detail"]


class KernelProjector:
    r"""Orthogonal projector of :math:`\mathbb R^N` onto the real kernel of ``A.measure``.

    Parameters
    ----------
    A : SamplingOperator
        Needs ``transform``, ``mask``, ``shape``, ``U`` (the unitary transform) and
        ``measure``.

    Attributes
    ----------
    support : torch.Tensor of bool, shape ``A.shape``
        :math:`S`: the symmetrised mask (Fourier) or the mask (Walsh).
    """

    def __init__(self, A: Any):
        mask = np.asarray(torch.as_tensor(A.mask).cpu().numpy(), dtype=bool)
        if A.transform == "fourier":
            axes = tuple(range(mask.ndim))
            mirrored = np.roll(np.flip(mask, axes), 1, axes)  # index k -> -k mod n
            mask = mask | mirrored
        self.A = A
        self.support = torch.as_tensor(mask)

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        r""":math:`\Pi_{\mathcal N} d` for real images ``d`` of shape ``(..., *A.shape)``."""
        U = self.A.U
        cdt = torch.complex128 if self.A.transform == "fourier" else torch.float64
        spec = U.forward(d.to(cdt)) * (~self.support).to(d.device)
        out = U.adjoint(spec)
        return out.real if out.is_complex() else out

    def visibility(self, delta: torch.Tensor) -> torch.Tensor:
        r""":math:`\|B\delta\| / \|\delta\|` per image (shape ``delta.shape[:-2]``)."""
        meas = self.A.measure(delta.to(self.A.dtype))
        return (torch.linalg.vector_norm(meas, dim=-1)
                / torch.linalg.vector_norm(delta.flatten(-2), dim=-1))


def detail_template(n: int, kind: str, centre: tuple[int, int], radius: float,
                    contrast: float) -> torch.Tensor:
    """The template d: a disk (``blob``) or a checkerboard-modulated disk (``texture``).

    Parameters
    ----------
    n : int
        Image side.
    kind : {"texture", "blob"}
    centre : (int, int)
        Centre pixel ``(row, column)``.
    radius : float
        Radius in pixels (pixels whose centre lies within it belong to the disk).
    contrast : float
        Amplitude γ.

    Returns
    -------
    torch.Tensor, float64, shape ``(n, n)``
    """
    i, j = np.mgrid[0:n, 0:n]
    disk = ((i - centre[0]) ** 2 + (j - centre[1]) ** 2 <= radius**2).astype(np.float64)
    if kind == "texture":
        disk = disk * (-1.0) ** (i + j)
    elif kind != "blob":
        raise ValueError(f"kind {kind!r} is not valid; expected texture or blob")
    return torch.from_numpy(contrast * disk)


def near_kernel_detail(d: torch.Tensor, proj: KernelProjector, kappa: float) -> torch.Tensor:
    r"""The detail :math:`\delta = d_{\ker} + t\,d_\perp` with visibility exactly ``kappa``.

    Parameters
    ----------
    d : torch.Tensor, float64, shape ``(..., n, n)``
        Templates.
    proj : KernelProjector
    kappa : float
        Target :math:`\|B\delta\|/\|\delta\|`, ``0 <= kappa <= 1/2``.

    Returns
    -------
    torch.Tensor, float64, same shape as ``d``

    Raises
    ------
    ValueError
        A template entirely visible (:math:`d_{\ker} = 0`) or entirely invisible
        (:math:`d_\perp = 0` while ``kappa > 0``), for which no such δ exists.
    """
    if not 0.0 <= kappa <= 0.5:
        raise ValueError(f"kappa {kappa!r} is not valid; expected 0 <= kappa <= 0.5")
    d = d.to(torch.float64)
    d_ker = proj(d)
    d_perp = d - d_ker
    norm = lambda v: torch.linalg.vector_norm(v.flatten(-2), dim=-1)  # noqa: E731
    a = torch.linalg.vector_norm(proj.A.measure(d.to(proj.A.dtype)), dim=-1)
    b, c = norm(d_perp), norm(d_ker)
    if bool((c <= 1e-12 * norm(d)).any()):
        raise ValueError("a detail template has no component in the kernel of A; "
                         "use a smaller or finer (texture) detail")
    if kappa > 0 and bool((b <= 1e-12 * norm(d)).any()):
        raise ValueError("a detail template lies entirely in the kernel of A; its "
                         f"visibility is 0, not kappa = {kappa}")
    t = kappa * c / torch.sqrt(torch.clamp(a**2 - kappa**2 * b**2, min=1e-300))
    return d_ker + t[..., None, None] * d_perp


def _uniform(rng: np.random.Generator, spec: Any, count: int) -> np.ndarray:
    if isinstance(spec, list | tuple):
        return rng.uniform(float(spec[0]), float(spec[1]), count)
    return np.full(count, float(spec))


def draw_details(count: int, A: Any, detail: dict[str, Any], rng: np.random.Generator,
                 proj: KernelProjector | None = None) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Draw ``count`` near-kernel details of a config's ``detail`` block.

    Parameters
    ----------
    count : int
    A : SamplingOperator
    detail : dict
        ``kind``, ``radius``, ``contrast`` (numbers or ``[min, max]``), ``kappa``,
        ``margin`` (pixels; centres are uniform integers in ``[margin, n - margin)``).
    rng : numpy.random.Generator
        Draws, per detail and in this order: centre row, centre column (integers),
        radius, contrast.
    proj : KernelProjector, optional
        Reused when given.

    Returns
    -------
    deltas : torch.Tensor, float64, shape ``(count, n, n)``
    info : dict of numpy arrays
        ``row``, ``col``, ``radius``, ``contrast``.
    """
    proj = proj or KernelProjector(A)
    n = int(A.shape[0])
    margin = int(detail.get("margin", n // 4))
    rows = rng.integers(margin, n - margin, count)
    cols = rng.integers(margin, n - margin, count)
    radius = _uniform(rng, detail["radius"], count)
    contrast = _uniform(rng, detail["contrast"], count)
    d = torch.stack([detail_template(n, detail["kind"], (int(r), int(c)), float(rad),
                                     float(con))
                     for r, c, rad, con in zip(rows, cols, radius, contrast, strict=True)])
    deltas = near_kernel_detail(d, proj, float(detail["kappa"]))
    return deltas, {"row": rows, "col": cols, "radius": radius, "contrast": contrast}


def detail_windows(n: int, info: dict[str, np.ndarray], pad: float) -> torch.Tensor:
    """Indicator of the disk of radius ``radius + pad`` around each detail's centre.

    Parameters
    ----------
    n : int
        Image side.
    info : dict
        ``row``, ``col``, ``radius`` per detail (from :func:`draw_details`).
    pad : float
        Pixels added to the detail's radius.

    Returns
    -------
    torch.Tensor, float64, shape ``(count, n, n)``
        1 inside the window, 0 outside.
    """
    i, j = np.mgrid[0:n, 0:n]
    wins = [((i - r) ** 2 + (j - c) ** 2 <= (rad + pad) ** 2).astype(np.float64)
            for r, c, rad in zip(info["row"], info["col"], info["radius"], strict=True)]
    return torch.from_numpy(np.stack(wins))


@dataclass
class TestPairs:
    r"""Test pairs :math:`(x_i, x'_i = x_i + \delta_i)`.

    Attributes
    ----------
    x, x_prime, delta : torch.Tensor, float64, shape ``(count, n, n)``
    info : dict of numpy arrays
        The detail parameters (see :func:`draw_details`).
    """

    __test__ = False  # not a pytest class

    x: torch.Tensor
    x_prime: torch.Tensor
    delta: torch.Tensor
    info: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.x.shape[0])


def make_pairs(count: int, A: Any, detail: dict[str, Any],
               ss: np.random.SeedSequence) -> TestPairs:
    """Draw test pairs: phantoms (:func:`stablesweep.signals.ellipse_phantoms`) and details.

    Parameters
    ----------
    count : int
    A : SamplingOperator
    detail : dict
        The config's ``detail`` block.
    ss : numpy.random.SeedSequence
        Spawns two streams: the phantoms, then the details.
    """
    from stablesweep.signals import ellipse_phantoms

    img_ss, det_ss = ss.spawn(2)
    x = ellipse_phantoms(count, int(A.shape[0]), np.random.default_rng(img_ss))
    delta, info = draw_details(count, A, detail, np.random.default_rng(det_ss))
    return TestPairs(x=x, x_prime=x + delta, delta=delta, info=info)
