r"""Test signals: standard images, random phantoms, image files and noise.

Every image returned here is a float64 tensor of shape ``(n, n)`` (or
``(k, n, n)`` for a stack) with :math:`n` a power of two and values in
:math:`[0, 1]`. Random choices take a :class:`numpy.random.Generator` (or an
int seed), never global state.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from stablesweep.levels import RngLike, as_generator, check_resolution

__all__ = [
    "IMAGE_EXTENSIONS",
    "TEST_IMAGES",
    "add_noise",
    "ellipse_phantom",
    "ellipse_phantoms",
    "load_images",
    "test_image",
]

TEST_IMAGES = ("camera", "ascent", "aero", "shepp-logan")
_PIL_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
IMAGE_EXTENSIONS = (*_PIL_EXTENSIONS, ".npy")
# ITU-R BT.601 luma, the weights PIL's convert("L") uses
_LUMA = np.array([0.299, 0.587, 0.114])


# --------------------------------------------------------------------------- array helpers


def _to_grey(img: np.ndarray, what: str) -> np.ndarray:
    """2-D float64 grey-scale array from (h, w), (h, w, 1|2|3|4)."""
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.float64)
    if not np.issubdtype(img.dtype, np.number) or np.issubdtype(img.dtype, np.complexfloating):
        raise ValueError(f"{what} has dtype {img.dtype}; expected real numbers")
    img = img.astype(np.float64)
    if img.ndim == 3 and img.shape[-1] in (1, 2):  # grey (+ alpha)
        img = img[..., 0]
    elif img.ndim == 3 and img.shape[-1] in (3, 4):  # RGB (+ alpha)
        img = img[..., :3] @ _LUMA
    if img.ndim != 2:
        raise ValueError(
            f"{what} has shape {img.shape}; expected (h, w) grey-scale or (h, w, 3|4) colour"
        )
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{what} contains non-finite values")
    return img


def _centre_crop(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[top : top + side, left : left + side]


def _resize(img: np.ndarray, n: int) -> np.ndarray:
    """Resize a square array to ``(n, n)``.

    Shrinking by an integer factor averages boxes; any other factor uses cubic
    spline interpolation (:func:`scipy.ndimage.zoom`), after a Gaussian
    low-pass of standard deviation ``(factor - 1) / 2`` pixels when shrinking
    (anti-aliasing, as in scikit-image's ``resize``).
    """
    side = img.shape[0]
    if side == n:
        return img.copy()
    if side > n and side % n == 0:
        f = side // n
        return img.reshape(n, f, n, f).mean(axis=(1, 3))
    if side > n:
        img = ndimage.gaussian_filter(img, sigma=(side / n - 1) / 2, mode="reflect")
    out = ndimage.zoom(img, n / side, order=3, mode="reflect", grid_mode=True)
    if out.shape != (n, n):  # pragma: no cover - zoom rounds the output shape
        out = out[:n, :n]
    return out


def _normalise(img: np.ndarray) -> np.ndarray:
    """Affine map onto [0, 1]; a constant image maps to zeros."""
    lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return np.zeros_like(img)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0)


def _prepare(img: np.ndarray, n: int, what: str) -> torch.Tensor:
    return torch.from_numpy(_normalise(_resize(_centre_crop(_to_grey(img, what)), n)))


# --------------------------------------------------------------------------- test images


def test_image(name: str, resolution: int) -> torch.Tensor:
    """A standard grey-scale test image from PyWavelets' or scikit-image's bundled data.

    Parameters
    ----------
    name : {"camera", "ascent", "aero", "shepp-logan"}
        ``pywt.data.camera`` (cameraman), ``pywt.data.ascent`` or
        ``pywt.data.aero`` (all 512 x 512), or the Shepp–Logan phantom
        ``skimage.data.shepp_logan_phantom`` (400 x 400).
    resolution : int
        Side :math:`n` of the output, a power of two.

    Returns
    -------
    torch.Tensor, float64, shape ``(n, n)``
        Centre-cropped to a square, resized (box average when shrinking by an
        integer factor, anti-aliased spline interpolation otherwise) and mapped
        affinely onto :math:`[0, 1]` (minimum 0, maximum 1).
    """
    if name not in TEST_IMAGES:
        raise ValueError(f"unknown test image {name!r}; expected one of: {', '.join(TEST_IMAGES)}")
    n = check_resolution(resolution)
    if name == "shepp-logan":
        from skimage.data import shepp_logan_phantom

        raw = shepp_logan_phantom()
    else:
        import pywt.data

        raw = getattr(pywt.data, name)()
    return _prepare(raw, n, f"test image {name!r}")


test_image.__test__ = False  # not a pytest test, despite the name


# --------------------------------------------------------------------------- phantoms


def _count(n_ellipses: int | tuple[int, int], rng: np.random.Generator) -> int:
    if isinstance(n_ellipses, numbers.Integral) and not isinstance(n_ellipses, bool):
        if n_ellipses < 0:
            raise ValueError(f"n_ellipses {n_ellipses} is negative; expected >= 0")
        return int(n_ellipses)
    try:
        lo, hi = n_ellipses  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(
            f"n_ellipses {n_ellipses!r} is not an int or a (min, max) pair of ints"
        ) from None
    if not all(isinstance(v, numbers.Integral) for v in (lo, hi)) or not 0 <= lo <= hi:
        raise ValueError(f"n_ellipses {n_ellipses!r} is not a (min, max) pair with 0 <= min <= max")
    return int(rng.integers(lo, hi + 1))


def _ellipse(
    grid: tuple[np.ndarray, ...], centre: np.ndarray, axes: np.ndarray, angle: float
) -> np.ndarray:
    """Indicator of the (rotated) ellipse / interval on a pixel-centre grid."""
    if len(grid) == 1:
        return np.abs(grid[0] - centre[0]) <= axes[0]
    u, v = grid[0] - centre[0], grid[1] - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    return ((c * u + s * v) / axes[0]) ** 2 + ((-s * u + c * v) / axes[1]) ** 2 <= 1.0


def _inside(rng: np.random.Generator, axes: np.ndarray, d: int, frac: float) -> np.ndarray:
    """Random point inside ``frac`` times the axis-aligned ellipse with semi-axes ``axes``."""
    if d == 1:
        return rng.uniform(-1, 1, 1) * frac * axes
    radius, theta = np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    return frac * radius * axes * np.array([np.cos(theta), np.sin(theta)])


def ellipse_phantom(
    resolution: int,
    rng: RngLike,
    n_ellipses: int | tuple[int, int] = (5, 12),
    details: bool = False,
    d: int = 2,
) -> torch.Tensor:
    r"""Random Shepp–Logan-like phantom.

    Parameters
    ----------
    resolution : int
        Side :math:`n`, a power of two.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).
    n_ellipses : int or (int, int)
        Number of inner ellipses, or an inclusive range to draw it from.
    details : bool
        Add 3–6 small low-contrast ellipses (fine features that trained
        networks tend to lose).
    d : {1, 2}
        Dimension. In 1-D "ellipses" are intervals, so the signal is piecewise
        constant.

    Returns
    -------
    torch.Tensor, float64, shape ``(n,)`` or ``(n, n)``
        Values in :math:`[0, 1]`, 0 outside the background ellipse, maximum 1
        (without details; details may lower or clip a few pixels).

    Notes
    -----
    On the pixel-centre grid of :math:`[-1, 1]^d`: a background ellipse
    (semi-axes :math:`\mathcal U(0.7, 0.9)`, small random tilt and offset, value
    :math:`\mathcal U(0.3, 0.6)`), then inner ellipses centred inside it with
    semi-axes :math:`\mathcal U(0.05, 0.35)` (times the background's), any
    rotation, and additive values :math:`\mathcal U(-0.3, 0.5)`; the sum is
    clipped at 0 and divided by its maximum. Details, added after that scaling,
    have semi-axes :math:`\mathcal U(0.015, 0.05)` and values
    :math:`\pm\,\mathcal U(0.03, 0.1)`, and the result is clipped to
    :math:`[0, 1]`. They are drawn after everything else, so the same seed gives
    the same phantom with and without them except on the details.
    """
    rng = as_generator(rng)
    n = check_resolution(resolution)
    if d not in (1, 2):
        raise ValueError(f"d {d!r} is not supported; expected 1 or 2")
    coords = (np.arange(n) + 0.5) * (2.0 / n) - 1.0
    grid = (coords,) if d == 1 else tuple(np.meshgrid(coords, coords, indexing="ij"))

    bg_axes = rng.uniform(0.7, 0.9, d)
    bg_centre = rng.uniform(-0.05, 0.05, d)
    bg_angle = rng.uniform(-np.pi / 12, np.pi / 12)
    img = rng.uniform(0.3, 0.6) * _ellipse(grid, bg_centre, bg_axes, bg_angle)

    def rotate(p: np.ndarray) -> np.ndarray:
        if d == 1:
            return p
        c, s = np.cos(bg_angle), np.sin(bg_angle)
        return np.array([c * p[0] - s * p[1], s * p[0] + c * p[1]])

    for _ in range(_count(n_ellipses, rng)):
        axes = rng.uniform(0.05, 0.35, d) * bg_axes
        centre = bg_centre + rotate(_inside(rng, bg_axes, d, 0.75))
        angle = rng.uniform(0, np.pi)
        img = img + rng.uniform(-0.3, 0.5) * _ellipse(grid, centre, axes, angle)
    img = np.clip(img, 0.0, None)
    peak = img.max()
    if peak > 0:
        img = img / peak
    if details:
        for _ in range(int(rng.integers(3, 7))):
            axes = rng.uniform(0.015, 0.05, d)
            centre = bg_centre + rotate(_inside(rng, bg_axes, d, 0.8))
            angle = rng.uniform(0, np.pi)
            value = rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.1)
            img = img + value * _ellipse(grid, centre, axes, angle)
        img = np.clip(img, 0.0, 1.0)
    return torch.from_numpy(img)


def ellipse_phantoms(count: int, resolution: int, rng: RngLike, **kw: object) -> torch.Tensor:
    """A batch of :func:`ellipse_phantom` drawn one after another from ``rng``.

    Parameters
    ----------
    count : int
        Number of phantoms, ``>= 1``.
    resolution : int
        Side, a power of two.
    rng : numpy.random.Generator or int
    **kw
        Passed to :func:`ellipse_phantom` (``n_ellipses``, ``details``, ``d``).

    Returns
    -------
    torch.Tensor, float64, shape ``(count, n, n)`` (or ``(count, n)`` for ``d=1``)
    """
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"count {count!r} is not a positive integer")
    rng = as_generator(rng)
    return torch.stack([ellipse_phantom(resolution, rng, **kw) for _ in range(count)])


# --------------------------------------------------------------------------- files


def _read(path: Path) -> np.ndarray:
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(
            f"unsupported image extension {path.suffix!r} for '{path}'; "
            f"expected one of: {', '.join(IMAGE_EXTENSIONS)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"image file '{path}' does not exist")
    if ext == ".npy":
        return np.load(path, allow_pickle=False)
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
        elif im.mode == "1":
            im = im.convert("L")
        return np.asarray(im)


def load_images(
    paths: str | os.PathLike | Sequence[str | os.PathLike], resolution: int
) -> torch.Tensor:
    """Load images from files as a grey-scale stack.

    Parameters
    ----------
    paths : path or sequence of paths
        ``.npy`` files (a 2-D array, or 3-D with 1–4 channels last) or image
        files PIL reads (``.png``, ``.jpg``, ``.jpeg``, ``.tif``, ``.tiff``,
        ``.bmp``).
    resolution : int
        Side :math:`n` of the output, a power of two.

    Returns
    -------
    torch.Tensor, float64, shape ``(k, n, n)``
        Each image converted to grey-scale (BT.601 luminance
        :math:`0.299 R + 0.587 G + 0.114 B`; alpha dropped), centre-cropped to a
        square, resized as in :func:`test_image` and mapped affinely onto
        :math:`[0, 1]` (a constant image becomes zeros).

    Raises
    ------
    FileNotFoundError
        A path that does not exist.
    ValueError
        An unsupported extension, or an array that is not an image.
    """
    n = check_resolution(resolution)
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths is empty; expected at least one image file")
    return torch.stack([_prepare(_read(p), n, f"image '{p}'") for p in paths])


# --------------------------------------------------------------------------- noise


def add_noise(y: torch.Tensor, relative_level: float, rng: RngLike) -> torch.Tensor:
    r"""Add Gaussian noise of a prescribed relative norm.

    Parameters
    ----------
    y : torch.Tensor, shape ``(..., m)``
        Measurements, real or complex, with leading batch dimensions.
    relative_level : float
        :math:`\eta \ge 0`.
    rng : numpy.random.Generator or int
        Source of randomness (an int is a seed).

    Returns
    -------
    torch.Tensor, shape and dtype of ``y``
        :math:`y + e` with :math:`e = \eta \|y\|\, g / \|g\|` per sample (norms
        over the last dimension), :math:`g` i.i.d. standard normal, or
        :math:`(a + ib)/\sqrt 2` for complex ``y``; so :math:`\|e\| = \eta\|y\|`
        exactly (up to rounding). A sample with :math:`y = 0` gets no noise.
        For :math:`\eta = 0` a copy of ``y`` (no random numbers are drawn).

    Notes
    -----
    The noise is computed from ``y.detach()``: it is a constant for autograd.
    """
    y = torch.as_tensor(y)
    if isinstance(relative_level, bool) or not isinstance(relative_level, numbers.Real):
        raise ValueError(f"relative_level {relative_level!r} is not a real number; expected >= 0")
    if not (relative_level >= 0 and np.isfinite(relative_level)):
        raise ValueError(
            f"relative_level {relative_level} is negative or not finite; "
            "expected a finite number >= 0"
        )
    if y.ndim == 0:
        raise ValueError("y is a scalar; expected shape (..., m)")
    if relative_level == 0:
        return y.clone()
    rng = as_generator(rng)
    shape = tuple(y.shape)
    g = rng.standard_normal(shape)
    if y.is_complex():
        g = (g + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    work = torch.complex128 if y.is_complex() else torch.float64
    g = torch.from_numpy(g).to(device=y.device, dtype=work)
    y_norm = torch.linalg.vector_norm(y.detach().to(work), dim=-1, keepdim=True)
    g_norm = torch.linalg.vector_norm(g, dim=-1, keepdim=True)
    e = g * (float(relative_level) * y_norm / g_norm)
    return y + e.to(y.dtype)
