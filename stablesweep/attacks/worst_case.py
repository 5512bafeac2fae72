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
    check_real,
    clean_reconstruction,
    draw,
    flat_problem,
    half_sq_norms,
    norms,
    project_ball,
    real_dtype,
)
from .jacobian import JacobianResult, jacobian_sigma_max
from .result import WorstCaseResult

__all__ = ["worst_case_noise", "OBJECTIVES", "INITS"]

#: Values of ``objective``: maximise the error ‖φ(y+e) − x‖ or the change ‖φ(y+e) − φ(y)‖.
OBJECTIVES: tuple[str, ...] = ("error", "change")
#: Values of ``init``: random first restart, or ±ρ v₁ from the Jacobian's top singular vector.
INITS: tuple[str, ...] = ("random", "jacobian")

Network = Callable[[torch.Tensor], torch.Tensor]


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
    objective: str = "error",
    init: str = "random",
    jacobian_iters: int = 50,
    jacobian: JacobianResult | None = None,
    warm_start: torch.Tensor | None = None,
) -> WorstCaseResult:
    r"""Largest reconstruction error (or change) caused by measurement noise of a given size.

    For each image, approximately solves

    .. math::

        \max_{e}\ \|\varphi(y + e) - t\|_2 \quad \text{s.t.}\quad
        \|e\|_2 \le \rho = \mathrm{level}\cdot\|y\|_2, \qquad
        t = x\ (\texttt{objective="error"})\ \text{or}\ t = \varphi(y)\
        (\texttt{objective="change"}),

    by projected, normalized gradient ascent from ``restarts`` random starts:

    .. math::

        e_0 = \rho\, g / \|g\|,\ g \sim N(0, I)\ (\text{complex when } y \text{ is}), \qquad
        e_{j+1} = P_{\|e\|\le\rho}\!\left(e_j + s\,\rho\,
                  \frac{\nabla_e \|\varphi(y+e_j)-x\|^2}{\|\nabla_e \|\varphi(y+e_j)-x\|^2\|}
                  \right),

    (with ``x`` replaced by ``t``) and keeps the iterate with the largest objective over
    all restarts and steps, e*. With ``init="jacobian"`` the first restart starts instead
    from the better of :math:`\pm\rho v_1`, :math:`v_1` the top right singular vector of
    the Jacobian of :math:`e \mapsto \varphi(y+e)` at 0 (:func:`jacobian_sigma_max`):
    for a nearly linear network the largest change lies along it.

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
    objective : {"error", "change"}, default "error"
        Maximise the error ``‖φ(y + e) − x‖`` or the change ``‖φ(y + e) − φ(y)‖``.
        Both are reported at the kept e* whichever is maximised.
    init : {"random", "jacobian"}, default "random"
        ``"jacobian"``: the first restart starts from ±ρ v₁ (both signs evaluated as
        candidates, the ascent continues from the better one); its random start is
        still drawn and evaluated (as a candidate and for ``random_errors``), so
        the random draws are the same as with ``"random"`` after the Jacobian's.
    jacobian_iters : int, default 50
        Power iterations of :func:`jacobian_sigma_max` (``init="jacobian"`` only).
    jacobian : JacobianResult, optional
        A :func:`jacobian_sigma_max` result for these ``y`` (``init="jacobian"`` only):
        used instead of computing it, so that several budgets at one ``y`` share one
        power iteration (the Jacobian does not depend on the budget).
    warm_start : torch.Tensor, shape like ``y``, optional
        A perturbation to evaluate as a candidate before the restarts, as given
        (projected onto the ball) and scaled onto the sphere ‖e‖ = ρ — typically e* of
        a smaller budget: it is feasible here, so the objective found can only grow with
        the budget, as the maximum over a growing set does.

    Returns
    -------
    WorstCaseResult
        The kept noise e* and, at e*, the error, change, ``‖e*‖`` and amplification;
        per-restart best objectives, the error and change of the random starts (random
        noise of norm ρ, the comparison point), the clean error and the trace of the
        best objective against the step.

    Raises
    ------
    ValueError, TypeError
        An invalid setting or mismatched shapes (``ValueError``), a ``generator`` that is
        not a :class:`torch.Generator` (``TypeError``): checked before any network
        evaluation, as in :func:`~stablesweep.attacks.momentum_attack`.

    Notes
    -----
    Autograd's gradient with respect to a complex ``e`` is ``∂/∂Re e + i ∂/∂Im e``,
    the ascent direction. Every evaluated iterate (including each random start and
    each restart's last iterate) is a candidate, so with ``objective="error"``
    ``error ≥ max(random_errors)`` by construction (with ``"change"``,
    ``change ≥ max(random_changes)``). The constraint holds to rounding:
    ``‖e‖ ≤ ρ (1 + O(ε_mach))``.
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
    jacobian_iters = check_int("jacobian_iters", jacobian_iters, 1)
    step_size = check_real("step_size", step_size, low=0.0, low_open=True)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    generator = check_generator(generator)
    flat = flat_problem(A, x, y)
    batch_shape, image_shape, m, b, d, yf, xf = flat
    device = y.device
    radius = level * norms(yf, 1)
    rdtype = real_dtype(yf)

    jac_sigma = np.full(b, np.nan)
    v1 = None
    if init == "jacobian":
        jac = jacobian
        if jac is None:
            jac = jacobian_sigma_max(net, yf, iters=jacobian_iters, generator=generator)
        elif jac.vector.numel() != b * m:
            raise ValueError(f"jacobian is for {jac.vector.numel()} measurement entries; "
                             f"expected {b * m} (the batch of y)")
        jac_sigma = np.asarray(jac.sigma, dtype=np.float64).reshape(b)
        v1 = jac.vector.reshape(b, m).to(yf.dtype)

    non_finite = 0  # ascent steps skipped for a non-finite gradient
    restart_errors = np.empty((restarts, b))
    random_errors = np.empty((restarts, b))
    random_changes = np.empty((restarts, b))
    trace = torch.full((steps + 1, b), -math.inf, dtype=rdtype, device=device)
    with attack_mode(net):
        clean, clean_error = clean_reconstruction(net, flat)
        target = xf if objective == "error" else clean

        best_obj = torch.full((b,), -math.inf, dtype=rdtype, device=device)
        e_best = torch.zeros_like(yf)
        out_best = clean.clone()

        def evaluate(e: torch.Tensor, want_grad: bool):
            """φ(y + e), ½‖φ(y + e) − target‖², and the error/change/objective norms."""
            e = e.detach().requires_grad_(want_grad)
            with torch.set_grad_enabled(want_grad):
                out = net(yf + e)
                half_sq = half_sq_norms(out - target, d)
            with torch.no_grad():
                obj = torch.sqrt(2.0 * half_sq.detach())
                # the objective's own norm is reused, so "error" runs are unchanged
                err = obj if objective == "error" else norms(out.detach() - xf, d)
                chg = obj if objective == "change" else norms(out.detach() - clean, d)
            return e, out, half_sq, obj, err, chg

        def keep(e: torch.Tensor, out: torch.Tensor, obj: torch.Tensor) -> None:
            """Make (e, φ(y + e)) the kept candidate where its objective is larger."""
            with torch.no_grad():
                better = obj > best_obj
                best_obj.copy_(torch.where(better, obj, best_obj))
                e_best[better] = e.detach()[better]
                out_best[better] = out.detach()[better]

        if warm_start is not None:
            if warm_start.numel() != b * m:
                raise ValueError(f"warm_start has {warm_start.numel()} entries; expected "
                                 f"{b * m} (the shape of y)")
            w = project_ball(warm_start.detach().reshape(b, m).to(yf.dtype), radius, 1)
            wn = norms(w, 1)
            for cand in (w, w * (radius / torch.where(wn > 0, wn, 1.0)).unsqueeze(-1)):
                _, out_w, _, obj_w, _, _ = evaluate(cand, False)
                keep(cand, out_w, obj_w)
                trace.copy_(torch.maximum(trace, obj_w.unsqueeze(0)))
            del out_w

        for k in range(restarts):
            g = draw(torch.randn, (b, m), rdtype, yf.is_complex(), generator, device)
            g = g.to(yf.dtype)
            gn = norms(g, 1)
            e = g * (radius / torch.where(gn > 0, gn, 1.0)).unsqueeze(-1)
            restart_best = torch.full_like(best_obj, -math.inf)
            if k == 0 and v1 is not None:
                # the random start is still evaluated: it is the random-noise comparison
                # point and a candidate; the ascent starts from the better of ±ρ v₁
                _, out0, _, obj0, err0, chg0 = evaluate(e, False)
                random_errors[k] = err0.cpu().numpy()
                random_changes[k] = chg0.cpu().numpy()
                keep(e, out0, obj0)
                restart_best = torch.maximum(restart_best, obj0)
                starts = []
                for sign in (1.0, -1.0):
                    es = sign * radius.unsqueeze(-1) * v1
                    _, out_s, _, obj_s, _, _ = evaluate(es, False)
                    keep(es, out_s, obj_s)
                    restart_best = torch.maximum(restart_best, obj_s)
                    starts.append((es, obj_s))
                plus = starts[0][1] >= starts[1][1]
                e = torch.where(plus.unsqueeze(-1), starts[0][0], starts[1][0])
                del out0, out_s
            for j in range(steps + 1):
                want_grad = j < steps
                e, out, half_sq, obj, err, chg = evaluate(e, want_grad)
                with torch.no_grad():
                    if j == 0 and not (k == 0 and v1 is not None):
                        random_errors[k] = err.cpu().numpy()
                        random_changes[k] = chg.cpu().numpy()
                    keep(e, out, obj)
                    restart_best = torch.maximum(restart_best, obj)
                    trace[j] = torch.maximum(trace[j], restart_best)
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
                    e = project_ball(
                        e.detach() + (step_size * radius).unsqueeze(-1) * direction, radius, 1
                    )
                del out, half_sq, grad
            restart_errors[k] = restart_best.cpu().numpy()

        with torch.no_grad():
            error = best_obj if objective == "error" else norms(out_best - xf, d)
            change = best_obj if objective == "change" else norms(out_best - clean, d)
            e_norm = norms(e_best, 1)
            amplification = torch.where(e_norm > 0, change / torch.where(e_norm > 0, e_norm, 1.0),
                                        torch.full_like(change, math.nan))

    if non_finite:
        warnings.warn(
            f"worst_case_noise: {non_finite} ascent step(s) skipped because the gradient "
            f"of ‖φ(y + e) − x‖² was not finite (usually the network's backward pass, "
            f"e.g. sqrt or a norm at 0); those images kept their iterate",
            RuntimeWarning,
            stacklevel=2,
        )
    def shaped(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float64).reshape(batch_shape)

    return WorstCaseResult(
        error=shaped(error),
        e=e_best.reshape(*batch_shape, m),
        reconstruction=out_best.reshape(*batch_shape, *image_shape),
        restart_errors=restart_errors.reshape(restarts, *batch_shape),
        random_errors=random_errors.reshape(restarts, *batch_shape),
        random_error=random_errors.mean(axis=0).reshape(batch_shape),
        clean_error=clean_error.reshape(batch_shape),
        radius=radius.cpu().numpy().reshape(batch_shape),
        change=shaped(change),
        amplification=shaped(amplification),
        e_norm=shaped(e_norm),
        random_changes=random_changes.reshape(restarts, *batch_shape),
        random_change=random_changes.mean(axis=0).reshape(batch_shape),
        trace=trace.cpu().numpy().astype(np.float64).reshape(steps + 1, *batch_shape),
        jacobian_sigma=jac_sigma.reshape(batch_shape),
        params={
            "level": level,
            "steps": steps,
            "restarts": restarts,
            "step_size": step_size,
            "objective": objective,
            "init": init,
        },
    )
