r"""Worst-case measurement noise of a given size (projected gradient ascent)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
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
    graph_fits,
    norms,
    project_ball,
    real_dtype,
)
from .ascent import AscentState, fmax, on_sphere
from .jacobian import JacobianResult, jacobian_sigma_max
from .result import WorstCaseResult

__all__ = ["worst_case_noise", "setting", "OBJECTIVES", "INITS", "METHODS", "PROTOCOLS"]

#: Values of ``objective``: maximise the error ‖φ(y+e) − x‖ or the change ‖φ(y+e) − φ(y)‖.
OBJECTIVES: tuple[str, ...] = ("error", "change")
#: Values of ``init``: random first restart, or ±ρ v₁ from the Jacobian's top singular vector.
INITS: tuple[str, ...] = ("random", "jacobian")
#: Values of ``method``: projected normalized gradient ascent, or projected Adam.
METHODS: tuple[str, ...] = ("normalized", "adam")
#: Named presets of ``protocol``: the settings they give to parameters left out (None).
#: ``"genzel"`` follows Genzel, Macdonald, März, "Solving inverse problems with deep
#: neural networks – robustness included?", IEEE TPAMI 45 (2022), and their code
#: (github.com/jmaces/robust-nets, ``PAdam`` and ``_attackerNet``): projected Adam, 1000
#: steps, 6 starts, the worst kept, no early stop. See :func:`worst_case_noise`.
PROTOCOLS: dict[str, dict[str, Any]] = {
    "genzel": {"method": "adam", "steps": 1000, "restarts": 6, "init": "jacobian",
               "lr": 1000.0, "tol": 0.0},
}
#: Defaults of the parameters a protocol may set (when neither the caller nor it does).
DEFAULTS: dict[str, Any] = {"restarts": 1, "init": "random", "method": "normalized",
                            "tol": 1e-3, "lr": 0.1}


def check_radius(radius: Any, b: int, yf: torch.Tensor) -> torch.Tensor:
    """``radius`` as a real tensor of shape (b,) on y's device, checked (finite, ≥ 0)."""
    rdtype = real_dtype(yf)
    try:
        r = torch.as_tensor(radius, dtype=rdtype).to(yf.device).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"radius must be a number or one number per image ({b}); got "
                         f"{radius!r}") from err
    if r.numel() == 1:
        r = r.expand(b).clone()
    if r.numel() != b:
        raise ValueError(f"radius has {r.numel()} entries; expected 1 or {b} (one per image)")
    if not bool(torch.isfinite(r).all()) or bool((r < 0).any()):
        raise ValueError(f"radius must be finite and >= 0; got {r.tolist()}")
    return r


def setting(params: dict[str, Any], name: str) -> Any:
    """The value :func:`worst_case_noise` uses for ``name`` given the keyword ``params``.

    An explicit (not None) value wins, then the ``protocol`` preset of :data:`PROTOCOLS`,
    then :data:`DEFAULTS`, then the function's own default — the order the attack itself
    resolves them in (the sweep reads e.g. ``init`` and ``steps`` through it).
    """
    if params.get(name) is not None:
        return params[name]
    preset = PROTOCOLS.get(str(params.get("protocol")), {})
    if name in preset:
        return preset[name]
    if name in DEFAULTS:
        return DEFAULTS[name]
    import inspect

    par = inspect.signature(worst_case_noise).parameters.get(name)
    return None if par is None or par.default is inspect.Parameter.empty else par.default

Network = Callable[[torch.Tensor], torch.Tensor]



def worst_case_noise(
    net: Network,
    A: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    budget: float | None = None,
    radius: Any = None,
    steps: int | None = None,
    restarts: int | None = None,
    generator: torch.Generator,
    step_size: float = 1.0,
    objective: str = "error",
    init: str | None = None,
    jacobian_iters: int = 50,
    jacobian: JacobianResult | None = None,
    warm_start: torch.Tensor | None = None,
    directions: Any = None,
    tol: float | None = None,
    patience: int = 5,
    method: str | None = None,
    lr: float | None = None,
    betas: Sequence[float] = (0.9, 0.999),
    protocol: str | None = None,
    start_batch: int | None = None,
    graph_memory_mib: float = 512.0,
) -> WorstCaseResult:
    r"""Largest reconstruction error (or change) caused by measurement noise of a given size.

    For each image, approximately solves

    .. math::

        \max_{e}\ \|\varphi(y + e) - t\|_2 \quad \text{s.t.}\quad
        \|e\|_2 \le \rho = \mathrm{budget}\cdot\|y\|_2, \qquad
        t = x\ (\texttt{objective="error"})\ \text{or}\ t = \varphi(y)\
        (\texttt{objective="change"}),

    by projected gradient ascent from several starts on the sphere ``‖e‖ = ρ`` and keeps
    the iterate with the largest objective over all starts and steps, e*. The starts:

    - ``restarts`` random ones, :math:`e_0 = \rho\, g/\|g\|`, :math:`g \sim N(0, I)`
      (complex when ``y`` is); with ``init="jacobian"`` the first of them starts instead
      from the better of :math:`\pm\rho v_1`, :math:`v_1` the top right singular vector
      of the Jacobian of :math:`e \mapsto \varphi(y+e)` at 0 (:func:`jacobian_sigma_max`;
      for a nearly linear network the largest change lies along it) — its random draw is
      still evaluated as a candidate;
    - one per row of ``directions``: the better of :math:`\pm\rho\, d/\|d\|`.

    All starts of all images ascend together, as one batch through the network (or in
    groups of ``start_batch`` starts); a start leaves the batch once it stops.

    Ascent (``method``):

    - ``"normalized"``:
      :math:`e_{j+1} = P_{\|e\|\le\rho}\bigl(e_j + s\rho\, g_j/\|g_j\|\bigr)`,
      :math:`g_j = \nabla_e \tfrac12\|\varphi(y+e_j)-t\|^2`;
    - ``"adam"``: projected Adam,
      :math:`e_{j+1} = P_{\|e\|\le\rho}\bigl(e_j + \mathrm{lr}\,\tfrac{\rho}{\sqrt n}\,
      \hat m_j/(\sqrt{\hat v_j} + \epsilon)\bigr)` with Adam's bias-corrected moments
      of :math:`g_j` (entrywise on the n real coordinates of e; ``betas``),
      :math:`\epsilon` = 1e-8 times the RMS entry of the start's first gradient. With
      ``lr = 1`` the first step (entries ±ρ/√n) has length ρ.

    *Stopping rule.* ``steps`` is a cap. A start stops after step j ≥ ``patience`` when
    its best objective :math:`B_j` (over its own iterates 0..j) grew by at most ``tol``
    relative over the last ``patience`` steps, :math:`B_j \le (1 + \mathrm{tol})
    B_{j-\mathrm{patience}}`; ``tol = 0`` switches the rule off (every start runs
    ``steps`` steps). The attack ends when every start of every image has stopped or
    reached the cap.

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
    budget : float, optional
        Relative budget ε ≥ 0 (the name it has from the config on: ``attack.budget``):
        the noise ball's radius is :math:`\rho = \varepsilon\|y\|` for every image;
        ``budget = 0`` returns the clean error. Exactly one of ``budget`` and ``radius``
        is given.
    radius : float or array-like, shape batch, optional
        Absolute budgets :math:`\rho_i \ge 0`, one per image (or one for all) — for
        budgets that are not a fraction of ``‖y‖``, e.g. the matched budget
        :math:`\|A\delta_i\|` of the kernel trade-off.
    steps : int
        Cap on the ascent steps per start (≥ 1); required unless ``protocol`` sets it.
        Each step costs one forward and one backward pass of the batch of running starts.
    restarts : int, default 1 (or the protocol's)
        Number of random starts (≥ 1; with ``init="jacobian"`` the first of them starts
        from ±ρ v₁).
    generator : torch.Generator
        Source of the random starts: ``restarts`` draws of shape y, in order (after
        those of :func:`jacobian_sigma_max` when it is called here).
    step_size : float, default 1.0
        s > 0 of ``method="normalized"``: each step moves ``s·ρ`` along the normalized
        gradient before projecting. Larger steps converge faster when the maximiser
        lies on the sphere (for a linear φ = B the iteration is a power iteration on
        ``I + c B*B`` with ``c ≈ s/σ_max(B)²``, contracting by about
        ``(1 + s σ_2²/σ_1²)/(1 + s)`` per step); smaller ones follow a non-linear
        network's landscape more closely.
    objective : {"error", "change"}, default "error"
        Maximise the error ``‖φ(y + e) − x‖`` or the change ``‖φ(y + e) − φ(y)‖``.
        Both are reported at the kept e* whichever is maximised.
    init : {"random", "jacobian"}, default "random" (or the protocol's)
        ``"jacobian"``: the first restart starts from ±ρ v₁ (both signs evaluated as
        candidates, the ascent continues from the better one); its random start is
        still drawn and evaluated (as a candidate and for ``random_errors``), so
        the random draws are the same as with ``"random"`` after the Jacobian's.
    jacobian_iters : int, default 50
        Iterations of :func:`jacobian_sigma_max` (``init="jacobian"`` only).
    jacobian : JacobianResult, optional
        A :func:`jacobian_sigma_max` result for these ``y`` (``init="jacobian"`` only):
        used instead of computing it, so that several budgets at one ``y`` share it.
    warm_start : torch.Tensor, shape like ``y``, optional
        A perturbation to evaluate as a candidate (not a start), as given (projected
        onto the ball) and scaled onto the sphere ‖e‖ = ρ — typically e* of a smaller
        budget: it is feasible here, so the objective found can only grow with the
        budget, as the maximum over a growing set does.
    directions : torch.Tensor (or nested list), shape (k, *y.shape) or y.shape, optional
        k user-given start directions (e.g. the measurements ``A δ`` of a known bad
        image perturbation δ); each is scaled onto the sphere, both signs are evaluated
        and the better one ascends as its own start. So the worst case found is at
        least the objective at ``±ρ d/‖d‖``. Every direction must be finite and
        non-zero for every image; a complex one needs complex ``y``.
    tol : float, default 1e-3 (or the protocol's)
        Relative growth ≥ 0 of the stopping rule; 0: no early stop.
    patience : int, default 5
        Window (≥ 1 steps) of the stopping rule.
    method : {"normalized", "adam"}, default "normalized" (or the protocol's)
        The ascent, see above.
    lr : float, default 0.1 (or the protocol's)
        Adam's learning rate > 0 in units of ρ (``method="adam"`` only).
    betas : (float, float), default (0.9, 0.999)
        Adam's moment decay rates, each in [0, 1) (``method="adam"`` only).
    protocol : {None, "genzel"}, default None
        A preset (:data:`PROTOCOLS`) for the parameters left out (None): ``"genzel"``
        gives ``method="adam"``, ``steps=1000``, ``restarts=6`` with
        ``init="jacobian"`` (6 starts: ±ρv₁ and 5 random), ``lr=1000``, ``tol=0``.
        Parameters given explicitly override it (``init="random"``: Genzel's 6 random
        starts). Genzel et al.'s code runs ``torch.optim.Adam(lr=5, eps=1e-5)``
        (absolute, on images in [0, 1]), 1000 steps (250 for TV) from 6 random starts,
        projecting onto the ball after each step; its steps are hundreds of times ρ/√n
        long, so the projection alone sets their length and the iteration is
        :math:`e_{j+1} \approx \rho\, u_j/\|u_j\|`, :math:`u_j = \hat m_j/\sqrt{\hat
        v_j}` — which any ``lr ≫ 1`` here reproduces (``lr=1000``). Differences that
        remain: their random starts have norm ≈ 3ρ and are projected only after the
        first step; they maximise the error of the real part only.
    start_batch : int, optional
        At most this many starts (each for all images) per batch; default all at once.
        The result does not depend on it (up to rounding); smaller batches save memory.
    graph_memory_mib : float, default 512
        Memory (MiB, ≥ 0) the autograd graph of one batch of starts may take: when the
        estimate (4 image-sized tensors per iteration, per start and image;
        :func:`~stablesweep.attacks._common.graph_fits`) fits, the network runs without
        checkpointing (an ascent step costs about 2.5 forward passes instead of 4);
        otherwise, and for networks without an integer ``depth``, ``net.checkpointing``
        is switched on. 0: always checkpoint. The gradient is the same either way.

    Returns
    -------
    WorstCaseResult
        The kept noise e* and, at e*, the error, change, ``‖e*‖`` and amplification;
        per-restart and per-start best objectives, the steps run and whether the cap
        was hit, the error and change of the random starts (random noise of norm ρ, the
        comparison point), the clean error and the trace of the best objective.

    Raises
    ------
    ValueError, TypeError
        An invalid setting or mismatched shapes (``ValueError``), a ``generator`` that is
        not a :class:`torch.Generator` (``TypeError``): checked before any network
        evaluation, as in :func:`~stablesweep.attacks.momentum_attack`.

    Notes
    -----
    Autograd's gradient with respect to a complex ``e`` is ``∂/∂Re e + i ∂/∂Im e``,
    the ascent direction. Every evaluated iterate and candidate is kept if it is the
    worst, so with ``objective="error"`` ``error ≥ max(random_errors)`` by construction
    (with ``"change"``, ``change ≥ max(random_changes)``). The constraint holds to
    rounding: ``‖e‖ ≤ ρ (1 + O(ε_mach))``. A non-finite gradient skips that start's
    step (with a :class:`RuntimeWarning`); non-finite objectives are never kept.

    Projected Adam's fixed points on the sphere satisfy e ∥ m̂/√v̂, i.e. (entrywise)
    e ∥ sign(∇), not the first-order condition e ∥ ∇ of the ℓ²-ball: it need not
    converge to a maximiser even for a linear φ, while the normalized ascent is a power
    iteration there. ``tests/test_attack_convergence.py`` checks both.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards deep learning
       models resistant to adversarial attacks", ICLR 2018 (projected gradient ascent
       with random restarts).
    .. [2] M. Genzel, J. Macdonald, M. März, "Solving inverse problems with deep neural
       networks – robustness included?", IEEE TPAMI 45 (2022) 1119–1134.
    """
    # ------------------------------------------------------------------ settings
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be None or one of {tuple(PROTOCOLS)}; "
                         f"got {protocol!r}")
    preset = PROTOCOLS.get(protocol, {}) if protocol is not None else {}

    def pick(name: str, value: Any) -> Any:
        if value is not None:
            return value
        return preset.get(name, DEFAULTS.get(name))

    if (budget is None) == (radius is None):
        raise ValueError("give exactly one of budget (relative, rho = budget * ||y||) "
                         f"and radius (absolute budgets); got budget={budget!r}, "
                         f"radius={'None' if radius is None else 'given'}")
    if budget is not None:
        budget = check_real("budget", budget, low=0.0)
    steps = pick("steps", steps)
    if steps is None:
        raise ValueError("steps must be an integer >= 1 (the cap on ascent steps per "
                         "start), unless a protocol sets it; got None")
    steps = check_int("steps", steps, 1)
    restarts = check_int("restarts", pick("restarts", restarts), 1)
    jacobian_iters = check_int("jacobian_iters", jacobian_iters, 1)
    step_size = check_real("step_size", step_size, low=0.0, low_open=True)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}")
    init = pick("init", init)
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    tol = check_real("tol", pick("tol", tol), low=0.0)
    patience = check_int("patience", patience, 1)
    method = pick("method", method)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if lr is not None and method != "adam":
        raise ValueError(f"lr is Adam's learning rate (method='adam'); got lr={lr!r} with "
                         f"method={method!r} (whose step is step_size)")
    lr = check_real("lr", pick("lr", lr), low=0.0, low_open=True)
    betas = check_betas(betas)
    if start_batch is not None:
        start_batch = check_int("start_batch", start_batch, 1)
    graph_memory_mib = check_real("graph_memory_mib", graph_memory_mib, low=0.0)
    generator = check_generator(generator)
    flat = flat_problem(A, x, y)
    batch_shape, image_shape, m, b, d, yf, xf = flat
    dirs = check_directions(directions, y)  # (k, b, m) or None
    if warm_start is not None and warm_start.numel() != b * m:
        raise ValueError(f"warm_start has {warm_start.numel()} entries; expected "
                         f"{b * m} (the shape of y)")
    if jacobian is not None and init == "jacobian" and jacobian.vector.numel() != b * m:
        raise ValueError(f"jacobian is for {jacobian.vector.numel()} measurement entries; "
                         f"expected {b * m} (the batch of y)")
    device = y.device
    if radius is None:
        radius = budget * norms(yf, 1)
    else:
        radius = check_radius(radius, b, yf)
    rdtype = real_dtype(yf)

    jac_sigma = np.full(b, np.nan)
    v1 = None
    if init == "jacobian":
        jac = jacobian
        if jac is None:
            jac = jacobian_sigma_max(net, yf, iters=jacobian_iters, generator=generator)
        jac_sigma = np.asarray(jac.sigma, dtype=np.float64).reshape(b)
        v1 = jac.vector.reshape(b, m).to(yf.dtype)

    k_dirs = 0 if dirs is None else dirs.shape[0]
    n_starts = restarts + k_dirs
    names = [("jacobian" if (i == 0 and v1 is not None) else f"random {i}")
             for i in range(restarts)] + [f"direction {i}" for i in range(k_dirs)]
    group = n_starts if start_batch is None else start_batch

    # the random starts: the same draws, in the same order, as one restart at a time
    rand = []
    for _ in range(restarts):
        g = draw(torch.randn, (b, m), rdtype, yf.is_complex(), generator, device)
        g = g.to(yf.dtype)
        rand.append(on_sphere(g, radius))

    fits = graph_fits(net, group * b, math.prod(image_shape), yf.element_size(),
                      graph_memory_mib)
    with attack_mode(net, checkpointing=not fits):
        clean, clean_error = clean_reconstruction(net, flat)
        target = xf if objective == "error" else clean
        st = AscentState(b=b, n_starts=n_starts, steps=steps, yf=yf, xf=xf, clean=clean,
                    target=target, objective=objective, d=d, rdtype=rdtype, net=net)

        # ---------------------------------------------------- candidates (no gradient)
        cands: list[torch.Tensor] = []
        owner: list[int] = []  # start whose best a candidate counts for (-1: none)
        if warm_start is not None:
            w = project_ball(warm_start.detach().reshape(b, m).to(yf.dtype), radius, 1)
            cands += [w, on_sphere(w, radius)]
            owner += [-1, -1]
        cands += rand
        owner += list(range(restarts))
        signed: list[tuple[int, torch.Tensor]] = []  # (start, +direction on the sphere)
        if v1 is not None:
            signed.append((0, radius.unsqueeze(-1) * v1))
        for i in range(k_dirs):
            signed.append((restarts + i, on_sphere(dirs[i], radius)))
        for s, e in signed:
            cands += [e, -e]
            owner += [s, s]
        objs, errs, chgs = st.evaluate_candidates(torch.stack(cands), group)
        first_rand = 2 if warm_start is not None else 0
        random_errors = errs[first_rand:first_rand + restarts].cpu().numpy()
        random_changes = chgs[first_rand:first_rand + restarts].cpu().numpy()
        pre_max = objs.max(dim=0).values  # the trace starts here (warm start included)
        pre_max = torch.where(torch.isnan(pre_max), -math.inf, pre_max)
        for c, s in enumerate(owner):
            if s >= 0:
                st.start_best[s] = fmax(st.start_best[s], objs[c])

        # ---------------------------------------------------- start points
        e0 = torch.empty((n_starts, b, m), dtype=yf.dtype, device=device)
        for i in range(restarts):
            e0[i] = rand[i]
        base = first_rand + restarts
        for n, (s, e) in enumerate(signed):
            plus = objs[base + 2 * n] >= objs[base + 2 * n + 1]
            e0[s] = torch.where(plus.unsqueeze(-1), e, -e)

        # ---------------------------------------------------- the ascent, in groups
        for s0 in range(0, n_starts, group):
            st.ascend(range(s0, min(s0 + group, n_starts)), e0, radius, method=method,
                      step_size=step_size, lr=lr, betas=betas, tol=tol, patience=patience)

        with torch.no_grad():
            best_obj = st.best_obj
            error = best_obj if objective == "error" else norms(st.out_best - xf, d)
            change = best_obj if objective == "change" else norms(st.out_best - clean, d)
            e_norm = norms(st.e_best, 1)
            amplification = torch.where(e_norm > 0,
                                        change / torch.where(e_norm > 0, e_norm, 1.0),
                                        torch.full_like(change, math.nan))

    if st.non_finite:
        warnings.warn(
            f"worst_case_noise: {st.non_finite} ascent step(s) skipped because the gradient "
            f"of ‖φ(y + e) − x‖² was not finite (usually the network's backward pass, "
            f"e.g. sqrt or a norm at 0); those images kept their iterate",
            RuntimeWarning,
            stacklevel=2,
        )

    # trace: best objective up to step j over all starts, flat after a start stopped
    hist = st.history()  # (steps + 1, n_starts, b)
    trace = torch.maximum(hist.max(dim=1).values, pre_max.unsqueeze(0))
    start_best = torch.maximum(st.start_best, hist[-1])
    start_steps = st.row_steps.reshape(n_starts, b)
    capped = (st.row_hit_cap.reshape(n_starts, b)).any(dim=0)

    def shaped(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float64).reshape(batch_shape)

    def per_start(t: torch.Tensor, dtype: Any = np.float64) -> np.ndarray:
        return t.detach().cpu().numpy().astype(dtype).reshape(-1, *batch_shape)

    return WorstCaseResult(
        error=shaped(error),
        e=st.e_best.reshape(*batch_shape, m),
        reconstruction=st.out_best.reshape(*batch_shape, *image_shape),
        restart_errors=per_start(start_best[:restarts]),
        random_errors=random_errors.astype(np.float64).reshape(restarts, *batch_shape),
        random_error=random_errors.mean(axis=0).astype(np.float64).reshape(batch_shape),
        clean_error=clean_error.reshape(batch_shape),
        radius=radius.cpu().numpy().reshape(batch_shape),
        change=shaped(change),
        amplification=shaped(amplification),
        e_norm=shaped(e_norm),
        random_changes=random_changes.astype(np.float64).reshape(restarts, *batch_shape),
        random_change=random_changes.mean(axis=0).astype(np.float64).reshape(batch_shape),
        trace=trace.cpu().numpy().astype(np.float64).reshape(steps + 1, *batch_shape),
        jacobian_sigma=jac_sigma.reshape(batch_shape),
        params={
            "budget": budget,
            "steps": steps,
            "restarts": restarts,
            "step_size": step_size,
            "objective": objective,
            "init": init,
            "method": method,
            "lr": lr,
            "betas": tuple(betas),
            "tol": tol,
            "patience": patience,
            "protocol": protocol,
            "directions": k_dirs,
            "start_batch": start_batch,
            "graph_memory_mib": graph_memory_mib,
            "checkpointing": not fits,
        },
        steps_run=start_steps.max(dim=0).values.cpu().numpy().astype(np.int64)
        .reshape(batch_shape),
        hit_cap=capped.cpu().numpy().astype(bool).reshape(batch_shape),
        start_objectives=per_start(start_best),
        start_names=tuple(names),
        start_steps=per_start(start_steps, np.int64),
    )


# --------------------------------------------------------------------------- helpers


def check_betas(betas: Any) -> tuple[float, float]:
    """Adam's (β₁, β₂), each in [0, 1)."""
    ok = isinstance(betas, (list, tuple)) and len(betas) == 2
    if ok:
        try:
            return (check_real("betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
                    check_real("betas[1]", betas[1], low=0.0, high=1.0, high_open=True))
        except ValueError:
            ok = False
    raise ValueError(f"betas must be two numbers in [0, 1) (Adam's moment decay rates); "
                     f"got {betas!r}")


def check_directions(directions: Any, y: torch.Tensor) -> torch.Tensor | None:
    """``directions`` as a (k, b, m) tensor of y's dtype and device, or None; checked."""
    if directions is None:
        return None
    try:
        dirs = (directions if isinstance(directions, torch.Tensor)
                else torch.as_tensor(np.asarray(directions)))
    except (TypeError, ValueError) as err:
        raise ValueError(f"directions must be a tensor of shape {tuple(y.shape)} or "
                         f"(k, *{tuple(y.shape)}); got {type(directions).__name__} "
                         f"({err})") from None
    shape = tuple(y.shape)
    if tuple(dirs.shape) == shape:
        dirs = dirs.unsqueeze(0)
    elif not (dirs.ndim == len(shape) + 1 and tuple(dirs.shape[1:]) == shape
              and dirs.shape[0] >= 1):
        raise ValueError(f"directions has shape {tuple(dirs.shape)}; expected y's shape "
                         f"{shape} (one direction) or (k, *{shape}) with k >= 1")
    if not (dirs.is_floating_point() or dirs.is_complex()):
        dirs = dirs.to(real_dtype(y))
    if dirs.is_complex() and not y.is_complex():
        raise ValueError(f"directions is complex ({dirs.dtype}) but y is real ({y.dtype})")
    dirs = dirs.detach().to(device=y.device, dtype=y.dtype).reshape(dirs.shape[0], -1,
                                                                    y.shape[-1])
    if not bool(torch.isfinite(dirs).all()):
        raise ValueError("directions has non-finite entries")
    zero = (norms(dirs, 1) == 0).nonzero()
    if zero.numel():
        k, i = (int(v) for v in zero[0])
        raise ValueError(f"directions[{k}] is zero for image {i} of the batch; every "
                         f"direction must be non-zero for every image")
    return dirs
