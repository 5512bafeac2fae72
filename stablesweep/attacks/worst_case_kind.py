"""The ``worst-case`` attack kind: :func:`~.worst_case.worst_case_noise` in a sweep.

Runs once per budget ε of ``attack.budget`` (smallest first, each warm-started from the
e* of the next smaller budget, which is feasible at the larger ones) and records, along
the budget axis (:data:`~.kind.BUDGET_DIM`), the worst-case and random-noise errors and
changes, ‖e*‖, the amplification, the steps run and whether a start hit the cap, and
the ascent's trace along ``attack_iter``. With ``init: jacobian`` one Lanczos run per
trial (:func:`~.jacobian.jacobian_sigma_max`) gives the start ±ρv₁ for every budget and
σ_max of the Jacobian with its residual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stablesweep.configuration import shown

from .kind import BUDGET_DIM, AttackKind, AttackSettings, AttackTrial, Axis, TrialOutcome, Variable

__all__ = ["JACOBIAN", "WORST_CASE", "trace_length"]

#: The ascent-step axis of the trace.
ITER = "attack_iter"

#: Store variable -> :class:`~.result.WorstCaseResult` attribute, over (trial, budget).
METRICS = {
    "worst_case_error": "error",
    "random_noise_error": "random_error",
    "worst_case_change": "change",
    "worst_case_pert_norm": "e_norm",
    "worst_case_amplification": "amplification",
    "random_noise_change": "random_change",
    "worst_case_steps": "steps_run",
    "worst_case_hit_cap": "hit_cap",
}

#: Per-trial Jacobian variables (``init: jacobian``): store name -> JacobianResult field.
#: They belong to every attack's group (``attack``; NaN unless this kind starts from
#: the Jacobian), as in every store written so far.
JACOBIAN = {
    "jacobian_sigma_max": "sigma",
    "jacobian_residual": "residual",
    "jacobian_iterations": "iterations",
}


def trace_length(settings: AttackSettings) -> int:
    """Entries of the trace (the ``attack_iter`` axis): the step cap + 1, the cap read as
    the attack reads it (explicit, else the protocol's)."""
    from .worst_case import setting

    return int(setting(dict(settings.params), "steps") or 0) + 1


def _run(trial: AttackTrial) -> TrialOutcome:
    import torch

    from .jacobian import jacobian_sigma_max
    from .worst_case import setting, worst_case_noise

    s = trial.settings
    params = WORST_CASE.function_params(s.params)
    jac = None  # one Lanczos run per trial, shared by the budgets
    if setting(dict(params), "init") == "jacobian":
        jac = jacobian_sigma_max(trial.net, trial.y, iters=int(params.get("jacobian_iters", 100)),
                                 generator=trial.generator)
    n = len(s.budget)
    values: dict[str, Any] = {name: np.full(n, np.nan) for name in METRICS}
    values["worst_case_trace"] = np.full((n, trace_length(s)), np.nan)
    outputs, perturbed = [None] * n, [None] * n
    clean = np.nan
    warm = None  # e* of the next smaller budget: feasible at the larger ones
    for j in sorted(range(n), key=lambda i: s.budget[i]):
        wc = worst_case_noise(trial.net, trial.A, trial.x, trial.y, budget=s.budget[j],
                              generator=trial.generator, jacobian=jac, warm_start=warm,
                              **params)
        warm = wc.e
        for name, attr in METRICS.items():
            values[name][j] = float(np.asarray(getattr(wc, attr, np.nan), dtype=float))
        values["worst_case_trace"][j] = np.asarray(wc.trace, dtype=float).reshape(-1)
        clean = float(np.asarray(wc.clean_error))
        outputs[j] = wc.reconstruction
        if trial.keep:
            with torch.no_grad():
                perturbed[j] = trial.x + trial.A.measure_adjoint(wc.e)
    if jac is not None:
        for name, attr in JACOBIAN.items():
            values[name] = float(np.asarray(getattr(jac, attr, np.nan),
                                            dtype=float).reshape(-1)[0])
    images = {}
    if trial.keep:
        with torch.no_grad():
            images["example_output"] = trial.net(trial.y)
        images["example_attacked"] = outputs
        images["example_perturbed"] = perturbed
    return TrialOutcome(values, clean, values["worst_case_error"], images)


def _passes(settings: AttackSettings) -> int:
    """Per budget: each start's steps + 1 and the clean pass; the Lanczos run once."""
    from .worst_case import setting

    params = dict(settings.params)
    steps = int(setting(params, "steps") or 0)
    restarts = int(setting(params, "restarts"))
    jac_start = setting(params, "init") == "jacobian"
    starts = restarts + (1 if jac_start else 0)
    passes = len(settings.budget) * (starts * (steps + 1) + 1)
    if jac_start:
        passes += int(settings.params.get("jacobian_iters", 100)) + 1
    return passes


def _required(params: Mapping[str, Any]) -> dict[str, str]:
    if params.get("protocol") is not None:
        return {}
    return {"steps": "needed by kind 'worst-case' without a protocol; it is the cap of the "
                     "stopping rule"}


def _check(params: Mapping[str, Any]) -> list[str]:
    """``objective``, ``init``, ``method`` and ``protocol``: one of the attack's values."""
    from .worst_case import INITS, METHODS, OBJECTIVES, PROTOCOLS

    out = []
    for key, allowed in (("objective", OBJECTIVES), ("init", INITS), ("method", METHODS),
                         ("protocol", tuple(PROTOCOLS))):
        if key in params and params[key] not in allowed:
            out.append(f"attack.params.{key}: unknown value {shown(params[key])}; expected one of: "
                       f"{', '.join(allowed)}")
    return out


def _v(name: str, long_name: str, dims: tuple[str, ...] = ("trial", BUDGET_DIM),
       comment: str | None = None) -> Variable:
    return Variable(name, dims, float, "1", long_name, comment, source="worst-case")


WORST_CASE = AttackKind(
    name="worst-case",
    function="stablesweep.attacks.worst_case:worst_case_noise",
    summary="projected ascent on ||phi(y + e) - x|| over noise ||e|| <= budget ||y||",
    axes=(
        Axis(BUDGET_DIM, "relative noise level ||e|| / ||y|| of the worst-case search",
             lambda s: s.budget),
        Axis(ITER, "ascent step of the worst-case search (0: the start)",
             lambda s: range(trace_length(s))),
    ),
    variables=(
        _v("worst_case_error", "error ||phi(y + e*) - x|| at the attack's perturbation e*, "
                               "||e*|| <= level ||y||"),
        _v("random_noise_error", "mean error ||phi(y + e) - x|| for random e, "
                                 "||e|| = level ||y||"),
        _v("worst_case_change", "output change ||phi(y + e*) - phi(y)|| at the attack's e*"),
        _v("worst_case_pert_norm", "norm ||e*|| of the attack's perturbation"),
        _v("worst_case_amplification", "amplification ||phi(y + e*) - phi(y)|| / ||e*||"),
        _v("random_noise_change", "mean change ||phi(y + e) - phi(y)|| for random e, "
                                  "||e|| = level ||y||"),
        _v("worst_case_steps", "ascent steps the attack ran (the most of any start) before "
                               "its stopping rule or its cap"),
        _v("worst_case_hit_cap", "1 where a start reached the step cap without meeting the "
                                 "stopping rule (not converged), else 0"),
        _v("worst_case_trace", "largest attack objective (error or change, a norm) found up "
                               "to ascent step j, over the restarts",
           ("trial", BUDGET_DIM, ITER), "NaN in pending, skipped or failed attacks"),
    ),
    run=_run,
    passes=_passes,
    caption=lambda section: [("budgets ε", section.get("budget"))],
    kept=Axis("attack_record", "noise level of the kept worst-case reconstruction",
              lambda s: s.budget),
    uses_budget=True,
    supplied=frozenset({"net", "A", "x", "y", "generator", "budget", "jacobian",
                        "warm_start", "directions", "radius"}),
    required=_required,
    check=_check,
)
