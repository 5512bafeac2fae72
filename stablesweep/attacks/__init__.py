"""Adversarial stability tests of reconstruction networks (DESIGN.md §3).

- :func:`momentum_attack` — momentum gradient ascent on
  ``Q(r) = ½‖φ(y + A r) − ref‖² − (λ/2)‖r‖²`` over image-domain perturbations r;
  returns an :class:`AttackResult`.
- :func:`worst_case_noise` — projected gradient ascent (normalized, or Adam) on
  ``‖φ(y + e) − x‖`` over measurement noise ``‖e‖ ≤ level·‖y‖`` from several starts
  (random, ±ρv₁, user directions) ascended as one batch, each until a stopping rule
  (or a cap) ends it; returns a :class:`WorstCaseResult`.
- :func:`jacobian_sigma_max` — Golub–Kahan–Lanczos bidiagonalisation for σ_max of the
  Jacobian of ``e ↦ φ(y + e)``, with the residual of its singular pair; returns a
  :class:`JacobianResult`.
- :func:`attack_objective` — the objective Q itself; :func:`attack_mode` — the context
  in which networks are attacked (checkpointing on, parameters frozen).
- :data:`ATTACKS` (:mod:`.registry`) — the attack kinds a sweep runs, each declared once
  (:class:`~.kind.AttackKind`: function, parameters and checks, store variables and
  axes, cost, caption; one module per kind: :mod:`.momentum_kind`,
  :mod:`.worst_case_kind`); :func:`register_attack` adds one.

The only interface to a network is ``net(y) -> image``, differentiable and batched, so
every registered network (classical or trained) and any torch module can be attacked.
"""

import importlib

from stablesweep._lazy import lazy_exports

#: public name -> submodule; imported on first use (PEP 562), so that the registry and
#: the store schema that reads it (:mod:`stablesweep.sweep.store.variables`) import without
#: PyTorch.
_EXPORTS = {
    "attack_mode": "._common",
    "JacobianResult": ".jacobian",
    "jacobian_sigma_max": ".jacobian",
    "AttackKind": ".kind",
    "AttackSettings": ".kind",
    "AttackTrial": ".kind",
    "Axis": ".kind",
    "TrialOutcome": ".kind",
    "Variable": ".kind",
    "attack_objective": ".momentum",
    "momentum_attack": ".momentum",
    "ATTACKS": ".registry",
    "attack_kind": ".registry",
    "register_attack": ".registry",
    "RECORDED_METRICS": ".result",
    "STOP_REASONS": ".result",
    "AttackResult": ".result",
    "WorstCaseResult": ".result",
    "worst_case_noise": ".worst_case",
}
#: Submodules reachable as attributes (``stablesweep.attacks.worst_case.setting``).
_SUBMODULES = ("ascent", "jacobian", "kind", "momentum", "momentum_kind", "registry", "result",
               "worst_case", "worst_case_kind")
_exports = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    return _exports(name)


__all__ = sorted(_EXPORTS)
