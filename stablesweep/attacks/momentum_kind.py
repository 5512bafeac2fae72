"""The ``momentum`` attack kind: :func:`~.momentum.momentum_attack` in a sweep.

Records ‖r‖, ‖Ar‖, the output change, the error, the amplification and Q(r) at the
steps ``0, k, 2k, ..., steps`` (``k = params.record_every``, default 1) along the
``attack_step`` axis; the examples keep the perturbed images at a few of those steps
(``params.keep_perturbations_at``: a list of recorded steps or ``"all"``; default three
spread evenly, ending with the last).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .kind import AttackKind, AttackSettings, AttackTrial, Axis, TrialOutcome, Variable

__all__ = ["MOMENTUM", "kept_steps", "record_steps"]

#: The attack's recording axis.
STEP = "attack_step"

#: Store variable -> :class:`~.result.AttackResult` attribute, over (trial, attack_step).
METRICS = {
    "pert_norm": "r_norm",
    "meas_pert_norm": "Ar_norm",
    "output_change": "output_change",
    "attack_error": "error",
    "amplification": "amplification",
    "attack_objective": "objective",
}


def record_steps(settings: AttackSettings) -> tuple[int, ...]:
    """The steps at which the attack records (the ``attack_step`` coordinate)."""
    total = int(settings.params.get("steps", 0))
    every = int(settings.params.get("record_every", 1))
    steps = list(range(0, total + 1, every))
    if steps[-1] != total:
        steps.append(total)
    return tuple(steps)


def kept_steps(settings: AttackSettings) -> tuple[int, ...]:
    """Recorded steps whose perturbations the examples keep (``attack_record``)."""
    steps = record_steps(settings)
    keep = settings.params.get("keep_perturbations_at")
    records = [s for s in steps if s > 0] or list(steps)
    if keep == "all":
        return steps
    if isinstance(keep, list):
        return tuple(sorted(set(int(k) for k in keep)))
    k = min(3, len(records))
    return tuple(records[math.ceil((i + 1) * len(records) / k) - 1] for i in range(k))


def _run(trial: AttackTrial) -> TrialOutcome:
    from .momentum import momentum_attack

    s = trial.settings
    result = momentum_attack(
        trial.net, trial.A, trial.x, trial.y, **MOMENTUM.function_params(s.params),
        record_at=list(record_steps(s)),
        keep_perturbations_at=list(kept_steps(s)) if trial.keep else (),
        generator=trial.generator,
    )
    values = {name: np.asarray(getattr(result, attr), dtype=float).reshape(-1)
              for name, attr in METRICS.items()}
    final = np.array([values[name][-1] for name in METRICS if name != "amplification"])
    images = {}
    if trial.keep:
        images = {"example_output": result.clean_reconstruction,
                  "example_perturbed": [trial.x + r for r in result.perturbations],
                  "example_attacked": list(result.reconstructions)}
    return TrialOutcome(values, float(np.asarray(result.clean_error)), final, images)


def _passes(settings: AttackSettings) -> int:
    """One forward and one backward pass per step, and the clean pass."""
    return int(settings.params.get("steps", 0)) + 1


def _required(params: Mapping[str, Any]) -> dict[str, str]:
    return {"steps": "needed by kind 'momentum'"}


def _check(params: Mapping[str, Any]) -> list[str]:
    steps, every = params.get("steps"), params.get("record_every", 1)
    if (isinstance(steps, int) and isinstance(every, int) and not isinstance(every, bool)
            and every > steps):
        return [f"attack.params.record_every: {every} exceeds steps = {steps}; "
                f"expected 1 <= record_every <= {steps}"]
    return []


def _v(name: str, long_name: str) -> Variable:
    return Variable(name, ("trial", STEP), float, "1", long_name, source="momentum")


MOMENTUM = AttackKind(
    name="momentum",
    function="stablesweep.attacks.momentum:momentum_attack",
    summary="momentum gradient ascent on Q(r) over image-domain perturbations r",
    axes=(Axis(STEP, "attack ascent step j", record_steps),),
    variables=(
        _v("pert_norm", "norm ||r|| of the image-domain perturbation"),
        _v("meas_pert_norm", "norm ||A r|| of the perturbation in measurement space"),
        _v("output_change", "output change ||phi(y + A r) - phi(y)||"),
        _v("attack_error", "error ||phi(y + A r) - x|| of the perturbed reconstruction"),
        _v("amplification", "amplification ||phi(y + A r) - phi(y)|| / ||A r||"),
        _v("attack_objective", "attack objective Q(r)"),
    ),
    run=_run,
    passes=_passes,
    caption=lambda section: [],
    kept=Axis("attack_record", "kept attack step j", kept_steps),
    supplied=frozenset({"net", "A", "x", "y", "generator", "record_at"}),
    config_params=("record_every", "keep_perturbations_at"),
    param_types={"record_every": "int"},
    required=_required,
    check=_check,
)
