r"""Momentum (heavy-ball) gradient ascent for adversarial perturbations.

The stability test of DESIGN.md §3: find a small image-domain perturbation ``r`` whose
measurements ``A r`` change the network's output a lot.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from numbers import Integral
from typing import Any, Literal

import numpy as np
import torch

from ._common import (
    attack_mode,
    check_generator,
    check_int,
    check_optional_bound,
    check_real,
    clean_reconstruction,
    draw,
    flat_problem,
    half_sq_norms,
    norms,
    project_ball,
    real_dtype,
)
from .result import RECORDED_METRICS, STOP_REASONS, AttackResult

__all__ = ["momentum_attack", "attack_objective"]

Network = Callable[[torch.Tensor], torch.Tensor]

#: Number of snapshots (perturbation and reconstruction) kept by default.
DEFAULT_N_KEPT = 3


def _evaluate(
    net: Network, A: Any, y: torch.Tensor, r: torch.Tensor, reference: torch.Tensor, d: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``A r``, ``φ(y + A r)`` and ``½‖φ(y + A r) − reference‖²`` (per image)."""
    Ar = A.measure(r)
    out = net(y + Ar)
    return Ar, out, half_sq_norms(out - reference, d)


def attack_objective(
    net: Network,
    A: Any,
    y: torch.Tensor,
    r: torch.Tensor,
    reference: torch.Tensor,
    *,
    lam: float,
) -> torch.Tensor:
    r"""The objective ``Q(r)`` maximised by :func:`momentum_attack`, per image.

    .. math::

        Q(r) = \tfrac12 \|\varphi(y + A r) - \mathrm{ref}\|_2^2
               - \tfrac{\lambda}{2} \|r\|_2^2 ,
        \qquad A r = P_\Omega U r \;(\texttt{A.measure}(r)).

    Differentiable in ``r`` (call it on an ``r`` that requires grad). The network is
    called as it is; wrap the call in :func:`attack_mode` for checkpointing.

    Parameters
    ----------
    net : callable
        ``net(y) -> image``, batched: ``(b, m) -> (b, *A.shape)``.
    A : SamplingOperator
        Needs ``A.measure`` (image ``(..., *shape)`` -> measurements ``(..., m)``).
    y : torch.Tensor, shape (b, m)
        Measurements.
    r : torch.Tensor, shape (b, *A.shape)
        Image-domain perturbations.
    reference : torch.Tensor, shape (b, *A.shape)
        ``φ(y)`` (ref="pred") or ``x`` (ref="true").
    lam : float
        Weight λ ≥ 0 of the penalty on ``‖r‖``.

    Returns
    -------
    torch.Tensor, shape (b,)
        ``Q(r)`` for each image.
    """
    d = len(A.shape)
    _, _, half_sq = _evaluate(net, A, y, r, reference, d)
    return half_sq - lam * half_sq_norms(r, d)


def _record_schedule(record_at: int | Iterable[int], steps: int) -> np.ndarray:
    """Sorted unique recorded steps in ``[0, steps]``; ``steps`` itself is always recorded."""
    if isinstance(record_at, Integral) and not isinstance(record_at, bool):
        every = check_int("record_at", record_at, 1)
        return np.unique(np.append(np.arange(0, steps + 1, every), steps)).astype(np.int64)
    try:
        values = list(record_at)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"record_at must be an int k >= 1 (record every k steps) or an iterable of "
            f"step indices in [0, {steps}]; got {record_at!r}"
        ) from None
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, Integral)
           or not 0 <= v <= steps]
    if bad or not values:
        raise ValueError(
            f"record_at must contain integer steps in [0, steps={steps}] and not be empty; "
            f"got {values!r}"
        )
    return np.unique(np.append(np.asarray(values, dtype=np.int64), steps))


def _kept_schedule(
    keep: None | Literal["all"] | Iterable[int], records: np.ndarray
) -> np.ndarray:
    """Steps at which to keep perturbations and reconstructions (a subset of ``records``).

    Default: ``DEFAULT_N_KEPT`` recorded steps spread evenly over the positive recorded
    steps, the last one being the final step — all of them when there are fewer.
    """
    if keep is None:
        positive = records[records > 0] if np.any(records > 0) else records
        k = min(DEFAULT_N_KEPT, positive.size)
        pos = np.ceil(np.arange(1, k + 1) * positive.size / k).astype(np.int64) - 1
        return positive[pos]
    if isinstance(keep, str):
        if keep != "all":
            raise ValueError(
                f"keep_perturbations_at must be None, 'all' or an iterable of recorded "
                f"steps; got {keep!r}"
            )
        return records.copy()
    try:
        values = list(keep)
    except TypeError:
        raise TypeError(
            f"keep_perturbations_at must be None, 'all' or an iterable of recorded steps; "
            f"got {keep!r}"
        ) from None
    missing = [v for v in values if v not in set(records.tolist())]
    if missing:
        shown = ", ".join(map(str, records[:8])) + (", …" if records.size > 8 else "")
        raise ValueError(
            f"keep_perturbations_at contains {missing!r}, which are not recorded steps; "
            f"recorded steps are {shown} (see record_at)"
        )
    return np.unique(np.asarray(values, dtype=np.int64))


def momentum_attack(
    net: Network,
    A: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lam: float,
    eta: float,
    gamma: float = 0.9,
    tau: float,
    steps: int,
    ref: Literal["pred", "true"] = "pred",
    record_at: int | Iterable[int] = 1,
    keep_perturbations_at: None | Literal["all"] | Iterable[int] = None,
    max_pert_norm: float | None = None,
    max_output_change: float | None = None,
    complex_perturbation: bool | None = None,
    generator: torch.Generator,
    max_norm: float | None = None,
) -> AttackResult:
    r"""Search for a small perturbation with a large effect by momentum gradient ascent.

    Maximises, for each image of the batch independently,

    .. math::

        Q(r) = \tfrac12 \|\varphi(y + A r) - \mathrm{ref}\|_2^2
               - \tfrac{\lambda}{2}\|r\|_2^2,
        \qquad \mathrm{ref} = \varphi(y)\ (\texttt{"pred"})\ \text{or}\ x\ (\texttt{"true"}),

    over image-domain perturbations ``r`` (``A r`` is ``A.measure(r)`` = P_Ω U r) with
    heavy-ball momentum:

    .. math::

        v_{j+1} = \gamma v_j + \eta \nabla Q(r_j), \quad r_{j+1} = r_j + v_{j+1},
        \quad v_0 = 0, \quad r_0 = \tau\,(u + i u'),\ u, u' \sim U[0,1)^N .

    Parameters
    ----------
    net : callable
        The network ``net(y) -> image``, differentiable, batched over a leading
        dimension: ``(b, m) -> (b, *A.shape)``. Any registered network or torch
        module. It must treat batch elements independently (the gradient of the summed
        objective is taken). ``net.checkpointing`` is switched on during the attack
        when present (see :func:`attack_mode`).
    A : SamplingOperator
        Measurement operator; uses ``A.measure``, ``A.shape``, ``A.m``, ``A.dtype``.
    x : torch.Tensor, shape (*batch, *A.shape)
        True images.
    y : torch.Tensor, shape (*batch, A.m)
        Their (noisy) measurements.
    lam : float
        λ ≥ 0, penalty weight on ``‖r‖²``.
    eta : float
        η > 0, step size.
    gamma : float, default 0.9
        Momentum γ ∈ [0, 1).
    tau : float
        τ ≥ 0, scale of the random start (τ > 0 when ``ref="pred"``: r = 0 is then a
        stationary point of Q).
    steps : int
        Number of ascent steps (≥ 1); the iterates are r_0, …, r_steps. Costs
        ``steps + 2`` forward passes (one for φ(y)) and ``steps`` backward passes.
    ref : {"pred", "true"}, default "pred"
        Reference of the objective: φ(y) (change of the output) or x (error).
    record_at : int or iterable of int, default 1
        Steps at which metrics are recorded: an int k records steps 0, k, 2k, …; an
        iterable lists steps in ``[0, steps]``. The final step is always recorded.
        Recording costs no extra network evaluation (the metrics come from the forward
        pass of the gradient), so the default records every step.
    keep_perturbations_at : None, "all" or iterable of int, default None
        Recorded steps at which ``r_j`` and ``φ(y + A r_j)`` are stored (each costs
        two images per batch element). ``None`` keeps 3 steps spread evenly over the
        recorded steps, ending with the final one; ``()`` keeps none.
    max_pert_norm : float, optional
        Stop an image once ``‖r_j‖ > max_pert_norm``.
    max_output_change : float, optional
        Stop an image once ``‖φ(y + A r_j) − φ(y)‖ > max_output_change``.
    max_norm : float, optional
        Cap ``‖r_j‖ ≤ max_norm·‖x‖`` per image (relative to the image's norm; finite
        and > 0). Unlike ``max_pert_norm``, which stops the attack, the cap keeps it
        running on the ball: the random start and every iterate are projected onto
        ``{‖r‖ ≤ ρ_r = max_norm·‖x‖}``, ``r_{j+1} = P(r_j + v_{j+1})``, and the velocity
        is replaced by the step actually taken, ``v_{j+1} ← r_{j+1} − r_j`` (projected
        heavy ball: the momentum never carries motion the projection removed, so it
        does not build up against the sphere). ``None`` (default): no cap, and the
        iteration is exactly the unconstrained one.
    complex_perturbation : bool, optional
        Whether ``r`` is complex. Default: complex when ``A.dtype``, ``x`` or ``y`` is
        complex (a Fourier model), real otherwise (Walsh with real images).
    generator : torch.Generator
        Source of the random start; the same seed gives the same result.

    Returns
    -------
    AttackResult
        Final perturbation, recorded metrics ``(n_records, *batch)``, kept snapshots,
        ``stopped_at`` and ``stop_reason`` per image.

    Raises
    ------
    ValueError
        For an invalid setting or mismatched shapes, before any network evaluation.
    TypeError
        When ``generator`` is not a :class:`torch.Generator`.

    Notes
    -----
    *Gradient.* For a real function Q of a complex ``r``, PyTorch's autograd returns
    ``∂Q/∂Re r + i ∂Q/∂Im r`` (twice the conjugate Wirtinger derivative), which is the
    steepest-ascent direction in ``C^N ≅ R^{2N}``; it is used as it is, and
    ``∇(λ/2‖r‖²) = λ r``.

    *Early stopping.* With a bound set, each iterate's ``‖r_j‖`` and output change are
    checked when it is evaluated. An image whose iterate exceeds a bound is frozen at
    its *last iterate within the bounds*, ``r_{j−1}`` (so the returned perturbation
    satisfies the bounds and networks can be compared at equal perturbation size;
    ``stopped_at = j − 1``). If the random start ``r_0`` already exceeds a bound it is
    kept and ``stopped_at = 0``. Frozen images are no longer evaluated; the attack
    ends when every image has stopped, and later records repeat the frozen values.
    ``stop_reason`` says why each image stopped: ``"steps"`` (ran all steps),
    ``"max_pert_norm"``, ``"max_output_change"`` or ``"non-finite"``: an iterate
    whose output, objective or gradient is not finite is treated like a bound (the
    last finite iterate is kept, with a :class:`RuntimeWarning`) rather than
    poisoning the batch with NaN.

    *Memory.* Only the current iterate, velocity and kept snapshots are stored; the
    autograd graph of one forward pass lives at a time, and with
    ``net.checkpointing`` it is reduced to segment boundaries.

    References
    ----------
    .. [1] V. Antun, F. Renna, C. Poon, B. Adcock, A. C. Hansen, "On instabilities of
       deep learning in image reconstruction and the potential costs of AI", PNAS 117
       (2020) 30088–30095.
    .. [2] B. T. Polyak, "Some methods of speeding up the convergence of iteration
       methods", USSR Comput. Math. Math. Phys. 4 (1964) 1–17.
    """
    # ---- validation, before any work
    steps = check_int("steps", steps, 1)
    lam = check_real("lam", lam, low=0.0)
    eta = check_real("eta", eta, low=0.0, low_open=True)
    gamma = check_real("gamma", gamma, low=0.0, high=1.0, high_open=True)
    tau = check_real("tau", tau, low=0.0)
    if ref not in ("pred", "true"):
        raise ValueError(f"ref must be one of 'pred', 'true'; got {ref!r}")
    if ref == "pred" and tau == 0.0:
        raise ValueError(
            "tau must be > 0 when ref='pred' (r = 0 is a stationary point of Q); got tau=0"
        )
    max_pert_norm = check_optional_bound("max_pert_norm", max_pert_norm)
    max_output_change = check_optional_bound("max_output_change", max_output_change)
    max_norm = check_optional_bound("max_norm", max_norm)
    if complex_perturbation is not None and not isinstance(complex_perturbation, bool):
        raise TypeError(
            f"complex_perturbation must be None, True or False; got {complex_perturbation!r}"
        )
    generator = check_generator(generator)
    flat = flat_problem(A, x, y)
    batch_shape, image_shape, m, b, d, yf, xf = flat
    records = _record_schedule(record_at, steps)
    kept = _kept_schedule(keep_perturbations_at, records)

    device = y.device
    rdtype = real_dtype(y)
    if complex_perturbation is None:
        complex_perturbation = (
            torch.empty((), dtype=getattr(A, "dtype", rdtype)).is_complex()
            or x.is_complex()
            or y.is_complex()
        )

    row_of = {int(s): i for i, s in enumerate(records)}
    kept_of = {int(s): i for i, s in enumerate(kept)}
    values = {name: np.full((records.size, b), np.nan) for name in RECORDED_METRICS}
    cur = {name: np.full(b, np.nan) for name in RECORDED_METRICS}
    stopped_at = np.full(b, steps, dtype=np.int64)
    reason = np.zeros(b, dtype=np.int64)  # index into STOP_REASONS

    with attack_mode(net):
        pred, clean_error = clean_reconstruction(net, flat)
        reference = pred if ref == "pred" else xf

        rshape = (b, *image_shape)
        r = tau * draw(torch.rand, rshape, rdtype, complex_perturbation, generator, device)
        cap = None
        if max_norm is not None:
            cap = max_norm * norms(xf, d).to(rdtype)
            r = project_ball(r, cap, d)
        v = torch.zeros_like(r)
        r_keep = r.clone()  # last iterate within the bounds, per image
        # allocated at the first evaluation, in the dtype of φ(y + A r) (complex when r is)
        out_keep = reconstructions = torch.empty(0)
        perturbations = torch.zeros((kept.size, *rshape), dtype=r.dtype, device=device)
        active = torch.ones(b, dtype=torch.bool, device=device)
        filled = np.zeros(records.size, dtype=bool)

        def record(step: int) -> None:
            i = row_of[step]
            for name in RECORDED_METRICS:
                values[name][i] = cur[name]
            filled[i] = True
            if step in kept_of:
                perturbations[kept_of[step]] = r_keep
                reconstructions[kept_of[step]] = out_keep

        for j in range(steps + 1):
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            want_grad = j < steps
            ra = r[idx].requires_grad_(want_grad)
            with torch.set_grad_enabled(want_grad):
                Ar, out, half_sq = _evaluate(net, A, yf[idx], ra, reference[idx], d)
            with torch.no_grad():
                if j == 0:
                    out_keep = torch.empty_like(out, requires_grad=False)
                    reconstructions = out.new_zeros((kept.size, *rshape))
                r_norm = norms(ra, d)
                change = norms(out - pred[idx], d)
                # why each evaluated image stops here (0: it does not)
                code = torch.zeros(idx.shape, dtype=torch.int64, device=device)
                if max_pert_norm is not None:
                    code[(code == 0) & (r_norm > max_pert_norm)] = 1
                if max_output_change is not None:
                    code[(code == 0) & (change > max_output_change)] = 2
                finite = torch.isfinite(r_norm) & torch.isfinite(change) & torch.isfinite(
                    half_sq.detach())
                code[(code == 0) & ~finite] = 3
                exceed = code > 0
                accept = torch.ones_like(exceed) if j == 0 else ~exceed
                ia = idx[accept]
                r_keep[ia] = ra.detach()[accept]
                out_keep[ia] = out.detach()[accept]
                new = {
                    "r_norm": r_norm,
                    "Ar_norm": norms(Ar, 1),
                    "output_change": change,
                    "error": norms(out - xf[idx], d),
                    "amplification": change / norms(Ar, 1),
                    "objective": half_sq - lam * 0.5 * r_norm.square(),
                }
                accept_np = accept.cpu().numpy()
                for name, val in new.items():
                    cur[name][ia.cpu().numpy()] = val.detach().cpu().numpy()[accept_np]
                if bool(exceed.any()):
                    ie = idx[exceed]
                    active[ie] = False
                    stopped_at[ie.cpu().numpy()] = max(j - 1, 0)
                    reason[ie.cpu().numpy()] = code[exceed].cpu().numpy()
            if want_grad and not bool(exceed.all()):
                cont = ~exceed
                (grad,) = torch.autograd.grad(half_sq[cont].sum(), ra)
                with torch.no_grad():
                    grad = grad[cont] - lam * ra.detach()[cont]
                    ic = idx[cont]
                    ok = torch.isfinite(grad).flatten(1).all(dim=1)
                    if not bool(ok.all()):  # no ascent direction: stop at this iterate
                        active[ic[~ok]] = False
                        stopped_at[ic[~ok].cpu().numpy()] = j
                        reason[ic[~ok].cpu().numpy()] = 3
                        ic, grad = ic[ok], grad[ok]
                    v[ic] = gamma * v[ic] + eta * grad
                    if cap is None:
                        r[ic] = r[ic] + v[ic]
                    else:
                        r_new = project_ball(r[ic] + v[ic], cap[ic], d)
                        v[ic] = r_new - r[ic]
                        r[ic] = r_new
                del grad
            del Ar, out, half_sq
            if j in row_of:
                record(j)

        for step in records[~filled]:  # every image stopped early: the state is final
            record(int(step))

    n_bad = int(np.sum(reason == 3))
    if n_bad:
        warnings.warn(
            f"momentum_attack: {n_bad} of {b} image(s) stopped at a non-finite value of "
            f"φ(y + A r), of Q or of its gradient (stop_reason 'non-finite'; the last finite "
            f"iterate is kept). A NaN gradient usually comes from the network's backward "
            f"pass (e.g. sqrt or a norm at 0); an inf from r growing without bound "
            f"(set max_pert_norm).",
            RuntimeWarning,
            stacklevel=2,
        )

    def shaped(a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[:-1] + batch_shape)

    return AttackResult(
        record_steps=records,
        **{name: shaped(val) for name, val in values.items()},
        r=r_keep.reshape(*batch_shape, *image_shape),
        kept_steps=kept,
        perturbations=perturbations.reshape(kept.size, *batch_shape, *image_shape),
        reconstructions=reconstructions.reshape(kept.size, *batch_shape, *image_shape),
        clean_reconstruction=pred.reshape(*batch_shape, *image_shape),
        clean_error=clean_error.reshape(batch_shape),
        stopped_at=stopped_at.reshape(batch_shape),
        stop_reason=np.asarray(STOP_REASONS)[reason].reshape(batch_shape),
        params={
            "lam": lam,
            "eta": eta,
            "gamma": gamma,
            "tau": tau,
            "steps": steps,
            "ref": ref,
            "max_pert_norm": max_pert_norm,
            "max_output_change": max_output_change,
            "complex_perturbation": bool(complex_perturbation),
            "max_norm": max_norm,
        },
    )
