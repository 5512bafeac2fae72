r"""Worst-case measurement noise of a given size (projected gradient ascent)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ._common import (
    attack_mode,
    check_generator,
    check_int,
    check_output,
    check_problem,
    check_real,
    draw_gaussian,
    half_sq_norms,
    norms,
    real_dtype,
)
from .result import WorstCaseResult

__all__ = ["worst_case_noise"]

Network = Callable[[torch.Tensor], torch.Tensor]


def _project(e: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Project each row of ``e`` (shape (b, m)) onto the ball ``‖e‖ ≤ radius``."""
    n = norms(e, 1)
    scale = torch.where(n > radius, radius / torch.where(n > 0, n, 1.0), 1.0)
    return e * scale.unsqueeze(-1)


def worst_case_noise(
    net: Network,
    A: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    level: float,
    steps: int,
    restarts: int,
    generator: torch.Generator,
    step_size: float = 1.0,
) -> WorstCaseResult:
    r"""Largest reconstruction error caused by measurement noise of a given relative size.

    For each image, approximately solves

    .. math::

        \max_{e}\ \|\varphi(y + e) - x\|_2 \quad \text{s.t.}\quad
        \|e\|_2 \le \rho = \mathrm{level}\cdot\|y\|_2

    by projected, normalized gradient ascent from ``restarts`` random starts:

    .. math::

        e_0 = \rho\, g / \|g\|,\ g \sim N(0, I)\ (\text{complex when } y \text{ is}), \qquad
        e_{j+1} = P_{\|e\|\le\rho}\!\left(e_j + s\,\rho\,
                  \frac{\nabla_e \|\varphi(y+e_j)-x\|^2}{\|\nabla_e \|\varphi(y+e_j)-x\|^2\|}
                  \right),

    and keeps the worst iterate over all restarts and steps.

    Parameters
    ----------
    net : callable
        ``net(y) -> image``, differentiable and batched: ``(b, m) -> (b, *A.shape)``.
        ``net.checkpointing`` is switched on while attacking (see :func:`attack_mode`).
    A : SamplingOperator
        Measurement operator (``A.shape`` and ``A.m`` are checked against x and y).
    x : torch.Tensor, shape (*batch, *A.shape)
        True images.
    y : torch.Tensor, shape (*batch, A.m)
        Measurements; the noise ``e`` lives in this space and has ``y``'s dtype.
    level : float
        Relative noise level ≥ 0; ``level = 0`` returns the clean error.
    steps : int
        Ascent steps per restart (≥ 1); ``restarts · (steps + 1) + 1`` forward passes.
    restarts : int
        Number of random starts (≥ 1), run one after the other.
    generator : torch.Generator
        Source of the random starts.
    step_size : float, default 1.0
        s > 0: each step moves ``s·ρ`` along the normalized gradient before projecting.
        Larger steps converge faster when the maximiser lies on the sphere (for a linear
        φ = B the iteration is a power iteration on ``I + c B*B`` with
        ``c ≈ s/σ_max(B)²``, contracting by about ``(1 + s σ_2²/σ_1²)/(1 + s)`` per
        step); smaller ones follow a non-linear network's landscape more closely.

    Returns
    -------
    WorstCaseResult
        Worst error and its noise ``e``, per-restart worst errors, the errors of the
        random starts (random noise of norm ρ, the comparison point) and the clean error.

    Raises
    ------
    ValueError
        For an invalid setting or mismatched shapes, before any network evaluation.
    TypeError
        When ``generator`` is not a :class:`torch.Generator`.

    Notes
    -----
    Autograd's gradient with respect to a complex ``e`` is ``∂/∂Re e + i ∂/∂Im e``,
    the ascent direction. Every evaluated iterate (including each random start and
    each restart's last iterate) is a candidate, so ``error ≥ max(random_errors)``
    by construction. The constraint holds to rounding: ``‖e‖ ≤ ρ (1 + O(ε_mach))``.
    A non-finite gradient skips that image's step (with a :class:`RuntimeWarning`);
    non-finite errors are never selected as the worst.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards deep learning
       models resistant to adversarial attacks", ICLR 2018 (projected gradient ascent
       with random restarts).
    """
    level = check_real("level", level, low=0.0)
    steps = check_int("steps", steps, 1)
    restarts = check_int("restarts", restarts, 1)
    step_size = check_real("step_size", step_size, low=0.0, low_open=True)
    generator = check_generator(generator)
    batch_shape, image_shape, m = check_problem(A, x, y)

    d = len(image_shape)
    b = math.prod(batch_shape)
    device = y.device
    yf = y.detach().reshape(b, m)
    xf = x.detach().to(device).reshape(b, *image_shape)
    radius = level * norms(yf, 1)

    non_finite = 0  # ascent steps skipped for a non-finite gradient
    restart_errors = np.empty((restarts, b))
    random_errors = np.empty((restarts, b))
    with attack_mode(net):
        with torch.no_grad():
            clean = net(yf)
        check_output(clean, (b, *image_shape))
        clean_error = norms(clean.detach() - xf, d).cpu().numpy()

        worst = torch.full((b,), -math.inf, dtype=real_dtype(yf), device=device)
        e_worst = torch.zeros_like(yf)
        out_worst = torch.zeros_like(clean)
        for k in range(restarts):
            g = draw_gaussian((b, m), real_dtype(yf), yf.is_complex(), generator, device)
            g = g.to(yf.dtype)
            gn = norms(g, 1)
            e = g * (radius / torch.where(gn > 0, gn, 1.0)).unsqueeze(-1)
            best = torch.full_like(worst, -math.inf)
            for j in range(steps + 1):
                want_grad = j < steps
                e = e.detach().requires_grad_(want_grad)
                with torch.set_grad_enabled(want_grad):
                    out = net(yf + e)
                    half_sq = half_sq_norms(out - xf, d)
                with torch.no_grad():
                    err = torch.sqrt(2.0 * half_sq.detach())
                    if j == 0:
                        random_errors[k] = err.cpu().numpy()
                    better = err > worst
                    worst = torch.where(better, err, worst)
                    e_worst[better] = e.detach()[better]
                    out_worst[better] = out.detach()[better]
                    best = torch.maximum(best, err)
                if not want_grad:
                    break
                (grad,) = torch.autograd.grad(half_sq.sum(), e)
                with torch.no_grad():
                    gn = norms(grad, 1)
                    direction = grad / torch.where(gn > 0, gn, 1.0).unsqueeze(-1)
                    finite = torch.isfinite(direction).all(dim=-1)
                    if not bool(finite.all()):  # no ascent direction: this image stays
                        direction[~finite] = 0
                        non_finite += int((~finite).sum())
                    e = _project(e.detach() + (step_size * radius).unsqueeze(-1) * direction,
                                 radius)
                del out, half_sq, grad
            restart_errors[k] = best.cpu().numpy()

    if non_finite:
        warnings.warn(
            f"worst_case_noise: {non_finite} ascent step(s) skipped because the gradient "
            f"of ‖φ(y + e) − x‖² was not finite (usually the network's backward pass, "
            f"e.g. sqrt or a norm at 0); those images kept their iterate",
            RuntimeWarning,
            stacklevel=2,
        )
    return WorstCaseResult(
        error=worst.cpu().numpy().reshape(batch_shape),
        e=e_worst.reshape(*batch_shape, m),
        reconstruction=out_worst.reshape(*batch_shape, *image_shape),
        restart_errors=restart_errors.reshape(restarts, *batch_shape),
        random_errors=random_errors.reshape(restarts, *batch_shape),
        random_error=random_errors.mean(axis=0).reshape(batch_shape),
        clean_error=clean_error.reshape(batch_shape),
        radius=radius.cpu().numpy().reshape(batch_shape),
        params={"level": level, "steps": steps, "restarts": restarts, "step_size": step_size},
    )
