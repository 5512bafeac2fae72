"""Validation, norms, random draws and the network context shared by the attacks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = ["attack_mode"]

@contextmanager
def attack_mode(
    net: Callable[[torch.Tensor], torch.Tensor], *, checkpointing: bool = True
) -> Iterator[None]:
    """Prepare a network for gradients with respect to its input; restore it on exit.

    Inside the context:

    - ``net.checkpointing`` is set to ``checkpointing`` (default ``True``) when the
      network has that attribute (every
      :class:`stablesweep.networks.ReconstructionNetwork` does). On, the forward pass
      keeps only segment boundaries and recomputes the rest during the backward pass:
      memory grows well below linearly in depth, at the price of one more forward
      pass per gradient (an attack step costs about 4 forward passes instead of
      2.5). Off (for graphs that fit in memory, see :func:`graph_fits`), autograd keeps
      every iteration. The gradient is the same either way.
    - parameters of a :class:`torch.nn.Module` stop requiring gradients, so the
      autograd graph holds only what the gradient with respect to the input needs.

    Anything else (a plain callable, a user's module without ``checkpointing``) is used
    as it is. The previous ``checkpointing`` value and ``requires_grad`` flags are
    restored on exit, also when the body raises. The module's train/eval mode is left
    alone: attack a trained network in the mode it is meant to be used in.

    Parameters
    ----------
    net : callable
        The reconstruction map ``net(y) -> image``.
    checkpointing : bool, default True
        The value ``net.checkpointing`` takes inside the context.
    """
    has_checkpointing = hasattr(net, "checkpointing")
    previous = net.checkpointing if has_checkpointing else None
    frozen: list[torch.nn.Parameter] = []
    if isinstance(net, torch.nn.Module):
        frozen = [p for p in net.parameters() if p.requires_grad]
    try:
        if has_checkpointing:
            net.checkpointing = bool(checkpointing)
        for p in frozen:
            p.requires_grad_(False)
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)
        if has_checkpointing:
            net.checkpointing = previous


#: image-sized tensors that autograd keeps per iteration of an unrolled network (measured
#: with saved-tensor hooks at 64², depth 200: FISTA 3.2, primal-dual 3.5, FIRENET 3.9)
GRAPH_TENSORS_PER_ITERATION = 4


def graph_fits(net: Any, rows: int, image_numel: int, element_size: int,
               budget_mib: float) -> bool:
    """Whether the autograd graph of ``rows`` inputs through ``net`` fits ``budget_mib``.

    Estimated as :data:`GRAPH_TENSORS_PER_ITERATION` image-sized tensors per iteration
    (``net.depth``) and row. A network without an integer ``depth`` (a plain callable,
    a user's module) does not fit: it keeps its checkpointing.
    """
    depth = getattr(net, "depth", None)
    if isinstance(depth, bool) or not isinstance(depth, int) or budget_mib <= 0:
        return False
    est = GRAPH_TENSORS_PER_ITERATION * max(depth, 1) * rows * image_numel * element_size
    return est <= budget_mib * 2**20


# --------------------------------------------------------------------------- validation


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int, or raise naming the parameter, value and range."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the interval, or raise naming it."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(
            f"{name} must be a finite number in {left}{lo}, {hi}{right}; got {value!r}"
        )
    return float(value)


def check_optional_bound(name: str, value: Any) -> float | None:
    """``None`` or a finite positive float."""
    if value is None:
        return None
    return check_real(name, value, low=0.0, low_open=True)


def check_generator(generator: Any) -> torch.Generator:
    """The attacks draw every random number from an explicit :class:`torch.Generator`."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)); "
            f"got {type(generator).__name__}"
        )
    return generator


def check_problem(A: Any, x: Any, y: Any) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Check that ``x`` and ``y`` are tensors matching the operator and each other.

    Returns
    -------
    batch_shape : tuple of int
        Leading batch dimensions shared by ``x`` and ``y`` (``()`` for one image).
    image_shape : tuple of int
        ``A.shape``.
    m : int
        Number of measurements ``A.m``.
    """
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    image_shape = tuple(int(n) for n in A.shape)
    m = int(A.m)
    d = len(image_shape)
    if x.ndim < d or tuple(x.shape[x.ndim - d :]) != image_shape:
        raise ValueError(
            f"x has shape {tuple(x.shape)}; expected (..., {', '.join(map(str, image_shape))}) "
            f"to match the operator's image shape A.shape = {image_shape}"
        )
    if y.ndim < 1 or y.shape[-1] != m:
        raise ValueError(
            f"y has shape {tuple(y.shape)}; expected (..., {m}) to match the operator's "
            f"number of measurements A.m = {m}"
        )
    batch_x, batch_y = tuple(x.shape[: x.ndim - d]), tuple(y.shape[:-1])
    if batch_x != batch_y:
        raise ValueError(
            f"x and y have different batch shapes: x {tuple(x.shape)} has batch {batch_x}, "
            f"y {tuple(y.shape)} has batch {batch_y}; they must be equal"
        )
    return batch_x, image_shape, m


class FlatProblem(NamedTuple):
    """A checked problem with the batch flattened to one dimension of size ``b``."""

    batch_shape: tuple[int, ...]  #: the leading batch dimensions of ``x`` and ``y``
    image_shape: tuple[int, ...]  #: ``A.shape``
    m: int  #: ``A.m``
    b: int  #: number of images, ``prod(batch_shape)``
    d: int  #: ``len(image_shape)``
    y: torch.Tensor  #: measurements, detached, shape (b, m)
    x: torch.Tensor  #: true images, detached, on ``y``'s device, shape (b, *image_shape)


def flat_problem(A: Any, x: Any, y: Any) -> FlatProblem:
    """:func:`check_problem`, then ``x`` and ``y`` detached and flattened to ``b`` images."""
    batch_shape, image_shape, m = check_problem(A, x, y)
    b = math.prod(batch_shape)
    yf = y.detach().reshape(b, m)
    xf = x.detach().to(y.device).reshape(b, *image_shape)
    return FlatProblem(batch_shape, image_shape, m, b, len(image_shape), yf, xf)


def clean_reconstruction(
    net: Callable[[torch.Tensor], torch.Tensor], p: FlatProblem
) -> tuple[torch.Tensor, np.ndarray]:
    r""":math:`\varphi(y)` (no gradient, shape-checked, detached) and the clean error
    :math:`\|\varphi(y) - x\|` per image."""
    with torch.no_grad():
        clean = net(p.y)
    check_output(clean, (p.b, *p.image_shape))
    clean = clean.detach()
    return clean, norms(clean - p.x, p.d).cpu().numpy()


def check_output(out: torch.Tensor, expected: tuple[int, ...]) -> None:
    """The network must map a batch of measurements to a batch of images."""
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"net(y) returned {got}; expected a tensor of shape {expected} "
            f"(batch of images of the operator's image shape)"
        )


# --------------------------------------------------------------------------- numerics


def norms(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """Euclidean norm over the last ``ndim`` dimensions (one value per batch element)."""
    return torch.linalg.vector_norm(t, dim=tuple(range(-ndim, 0)))


def half_sq_norms(t: torch.Tensor, ndim: int) -> torch.Tensor:
    r"""``½‖t‖²`` over the last ``ndim`` dimensions, smooth everywhere (also at 0)."""
    sq = t.real.square() + t.imag.square() if t.is_complex() else t.square()
    return 0.5 * sq.sum(dim=tuple(range(-ndim, 0)))


def project_ball(t: torch.Tensor, radius: torch.Tensor, ndim: int) -> torch.Tensor:
    r"""Project each batch element of ``t`` onto the ball :math:`\|t\| \le \rho`.

    Parameters
    ----------
    t : torch.Tensor, shape (b, *s) with ``len(s) = ndim``
    radius : torch.Tensor, shape (b,)
        :math:`\rho \ge 0` per element.
    ndim : int
        Number of trailing dimensions the norm runs over.

    Returns
    -------
    torch.Tensor, shape like ``t``
        :math:`t \cdot \min(1, \rho/\|t\|)` (``t`` itself where :math:`\|t\| \le \rho`).
    """
    n = norms(t, ndim)
    scale = torch.where(n > radius, radius / torch.where(n > 0, n, 1.0), 1.0)
    return t * scale.reshape(-1, *([1] * ndim))


def real_dtype(t: torch.Tensor) -> torch.dtype:
    """Real floating dtype underlying ``t`` (float64 for complex128 and float64)."""
    dtype = t.real.dtype if t.is_complex() else t.dtype
    return dtype if dtype.is_floating_point else torch.get_default_dtype()


def draw(
    sampler: Callable[..., torch.Tensor],
    shape: tuple[int, ...],
    dtype: torch.dtype,
    is_complex: bool,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Random entries from ``sampler`` (``torch.rand``: U[0,1); ``torch.randn``: N(0,1)).

    Drawn on the generator's device in the real ``dtype``; complex: the real part, then
    the imaginary part, each from ``sampler``. Returned on ``device``.
    """
    re = sampler(shape, generator=generator, dtype=dtype, device=generator.device)
    if is_complex:
        im = sampler(shape, generator=generator, dtype=dtype, device=generator.device)
        re = torch.complex(re, im)
    return re.to(device)


def to_numpy(t: torch.Tensor):
    """Detached CPU numpy copy of a tensor."""
    return t.detach().cpu().numpy()
