r"""Largest singular value of a network's Jacobian with respect to its input."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ._common import attack_mode, check_generator, check_int, check_real, draw, norms

__all__ = ["JacobianResult", "jacobian_sigma_max"]

Network = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class JacobianResult:
    r"""Outcome of :func:`jacobian_sigma_max`.

    Attributes
    ----------
    sigma : numpy.ndarray, shape batch
        Estimate of :math:`\sigma_{\max}(J)` per image (float64, ≥ 0).
    vector : torch.Tensor, shape (*batch, m)
        Unit top right singular vector :math:`v_1` (dtype of ``y``; for complex ``y``
        the real vector :math:`(\mathrm{Re}\,v_1, \mathrm{Im}\,v_1)` stored as complex).
    iterations : numpy.ndarray of int, shape batch
        Power iterations until each image met the tolerance (``iters`` when it did not).
    converged : numpy.ndarray of bool, shape batch
        Whether the relative change of σ fell to ``tol``.
    """

    sigma: np.ndarray
    vector: torch.Tensor
    iterations: np.ndarray
    converged: np.ndarray


def _inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Real inner product :math:`\mathrm{Re}\sum \bar a\, b` summed over everything."""
    if a.is_complex() and b.is_complex():  # no conj(): lazily conjugated gradients upset
        return (a.real * b.real + a.imag * b.imag).sum()  # some custom backward passes
    return (a.real * b.real).sum() if a.is_complex() or b.is_complex() else (a * b).sum()


def _unit(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``v`` (shape (b, m)) normalised (zero rows stay zero) and their norms."""
    n = norms(v, 1)
    return v / torch.where(n > 0, n, 1.0).unsqueeze(-1), n


def jacobian_sigma_max(
    net: Network,
    y: torch.Tensor,
    *,
    iters: int = 50,
    tol: float = 1e-6,
    generator: torch.Generator,
) -> JacobianResult:
    r"""Power iteration for the largest singular value of the input Jacobian of ``net``.

    Let :math:`J` be the Jacobian at :math:`e = 0` of the map
    :math:`e \mapsto \varphi(y + e)`, one map per image of the batch. For complex
    ``y`` (or complex outputs) the map is read as a real-linear map
    :math:`\mathbb{R}^{2m} \to \mathbb{R}^{2N}` on :math:`(\mathrm{Re}, \mathrm{Im})`,
    with the inner product :math:`\langle a, b\rangle = \mathrm{Re}\sum \bar a b`; for a
    complex-linear :math:`\varphi(y) = M y` its singular values are those of :math:`M`
    (each twice), so :math:`\sigma_{\max}(J) = \sigma_{\max}(M)`. The iteration

    .. math::

        v_0 = g/\|g\|,\ g \sim N(0, I); \qquad
        w_k = J v_k,\quad \sigma_k = \|w_k\|,\quad
        v_{k+1} = J^{\mathsf T} w_k / \|J^{\mathsf T} w_k\|

    stops when :math:`|\sigma_k - \sigma_{k-1}| \le \mathrm{tol}\cdot\sigma_k` for every
    image, or after ``iters`` iterations.

    Parameters
    ----------
    net : callable
        ``net(y) -> output``, batched over the leading dimensions of ``y`` and
        twice differentiable by autograd. Checkpointing (``net.checkpointing``) is
        switched *off* while it runs (checkpointed segments refuse double backward),
        parameters are frozen; both are restored on exit.
    y : torch.Tensor, shape (*batch, m)
        Point of linearisation, real or complex.
    iters : int, default 50
        Maximum number of power iterations (≥ 1).
    tol : float, default 1e-6
        Relative tolerance on σ (≥ 0).
    generator : torch.Generator
        Source of the random start.

    Returns
    -------
    JacobianResult
        ``sigma`` (shape batch), unit ``vector`` :math:`v_1` (shape of ``y``),
        ``iterations`` and ``converged`` per image.

    Raises
    ------
    ValueError
        For an invalid ``iters``/``tol`` or a ``y`` without a measurement dimension,
        or when ``net(y)`` is not batched like ``y``.
    TypeError
        When ``y`` is not a tensor or ``generator`` not a :class:`torch.Generator`.

    Notes
    -----
    One forward pass builds the graph of :math:`\varphi(y + e)`. The vector–Jacobian
    product :math:`J^{\mathsf T} u = \nabla_e \langle u, \varphi(y+e)\rangle` is built
    once with ``create_graph=True`` at a dummy :math:`u`; being linear in :math:`u`, its
    gradient :math:`\nabla_u \langle J^{\mathsf T} u, v\rangle = J v` gives the
    Jacobian–vector product (double backward). Each iteration is thus one double
    backward and one backward pass. PyTorch's gradient with respect to a complex leaf is
    :math:`\partial/\partial\mathrm{Re} + i\,\partial/\partial\mathrm{Im}`, exactly the
    real gradient in the :math:`(\mathrm{Re}, \mathrm{Im})` identification, so no
    conjugation is needed. Converges at the rate :math:`(\sigma_2/\sigma_1)^{2k}`;
    a tiny gap means a slow, not a wrong, estimate (σ_k increases towards σ_max).
    """
    iters = check_int("iters", iters, 1)
    tol = check_real("tol", tol, low=0.0)
    generator = check_generator(generator)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor; got {type(y).__name__}")
    if y.ndim < 1 or y.shape[-1] < 1:
        raise ValueError(f"y must have shape (*batch, m) with m >= 1; got {tuple(y.shape)}")
    batch_shape = tuple(y.shape[:-1])
    m = int(y.shape[-1])
    b = math.prod(batch_shape)
    yf = y.detach().reshape(b, m)
    rdtype = yf.real.dtype if yf.is_complex() else yf.dtype

    v = draw(torch.randn, (b, m), rdtype, yf.is_complex(), generator, yf.device).to(yf.dtype)
    v, _ = _unit(v)
    sigma = torch.zeros(b, dtype=rdtype, device=yf.device)
    iterations = np.full(b, iters, dtype=np.int64)
    converged = np.zeros(b, dtype=bool)

    with attack_mode(net):
        if hasattr(net, "checkpointing"):
            net.checkpointing = False  # restored by attack_mode on exit
        with torch.enable_grad():
            e = torch.zeros_like(yf, requires_grad=True)
            out = net(yf + e)
            if not isinstance(out, torch.Tensor) or out.ndim < 1 or out.shape[0] != b:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
                raise ValueError(
                    f"net(y) returned {got}; expected a batch of {b} outputs (leading "
                    f"dimension b = {b} for y reshaped to ({b}, {m}))"
                )
            u = torch.zeros_like(out, requires_grad=True)
            (jtu,) = torch.autograd.grad(_inner(u, out), e, create_graph=True)
            if not jtu.requires_grad:  # J^T u does not depend on u: φ is constant in e
                jtu = jtu + 0 * _inner(u, u)
            for k in range(1, iters + 1):
                (jv,) = torch.autograd.grad(_inner(jtu, v), u, retain_graph=True)
                jv = jv.detach()
                new_sigma = norms(jv.reshape(b, -1), 1)
                (jtjv,) = torch.autograd.grad(_inner(out, jv), e, retain_graph=True)
                v_next, n = _unit(jtjv.detach())
                keep = n > 0
                v = torch.where(keep.unsqueeze(-1), v_next, v)
                change = (new_sigma - sigma).abs()
                done = (change <= tol * new_sigma).cpu().numpy() | (new_sigma == 0).cpu().numpy()
                sigma = new_sigma
                newly = done & ~converged
                iterations[newly] = k
                converged |= done
                if converged.all():
                    break
            del out, jtu, u, e

    return JacobianResult(
        sigma=sigma.detach().cpu().numpy().astype(np.float64).reshape(batch_shape),
        vector=v.detach().reshape(*batch_shape, m),
        iterations=iterations.reshape(batch_shape),
        converged=converged.reshape(batch_shape),
    )
