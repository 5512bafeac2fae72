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

from ._common import attack_mode
from .jacobian import JacobianResult, jacobian_sigma_max
from .kind import AttackKind, AttackSettings, AttackTrial, Axis, TrialOutcome, Variable
from .momentum import attack_objective, momentum_attack
from .registry import ATTACKS, attack_kind, register_attack
from .result import RECORDED_METRICS, STOP_REASONS, AttackResult, WorstCaseResult
from .worst_case import worst_case_noise

__all__ = [
    "ATTACKS",
    "RECORDED_METRICS",
    "AttackKind",
    "AttackSettings",
    "AttackTrial",
    "Axis",
    "TrialOutcome",
    "Variable",
    "attack_kind",
    "register_attack",
    "STOP_REASONS",
    "AttackResult",
    "JacobianResult",
    "WorstCaseResult",
    "attack_mode",
    "attack_objective",
    "jacobian_sigma_max",
    "momentum_attack",
    "worst_case_noise",
]
