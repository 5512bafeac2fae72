"""The attack registry: every attack kind a sweep can run, declared once.

:data:`ATTACKS` maps ``attack.kind`` to its :class:`~.kind.AttackKind` (function,
parameters and their checks, store variables and axes, cost, caption). The config
schema's ``attack.kind`` choices, the config checks, the store layout, the cell, the
estimate, the integrity checks and the report's captions all read it; a new kind is one
module that builds an :class:`~.kind.AttackKind` and one :func:`register_attack` call
(see ``tests/test_attack_registry.py``, which adds a kind without touching the package).

The budget key was called ``levels`` before; :func:`normalise_section` reads it as
``budget`` (with a :class:`FutureWarning` from :func:`deprecated_keys`), so old configs
and the configs stored in old stores still load.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from .kind import BUDGET, STR, AttackKind, Variable
from .momentum_kind import MOMENTUM
from .worst_case_kind import WORST_CASE

__all__ = [
    "ATTACKS",
    "COMMON_VARIABLES",
    "DEPRECATED_KEYS",
    "attack_kind",
    "deprecated_keys",
    "normalise_section",
    "register_attack",
]

#: ``attack.kind`` -> its declaration (entries added at run time count everywhere).
ATTACKS: dict[str, AttackKind] = {k.name: k for k in (MOMENTUM, WORST_CASE)}

#: Old keys of the ``attack`` section -> their names now.
DEPRECATED_KEYS = {"levels": BUDGET}

#: Variables every attack kind's cells store (group ``attack``), over (trial,).
COMMON_VARIABLES: tuple[Variable, ...] = (
    Variable("attack_clean_error", ("trial",), float, "1",
             "error ||phi(y) - x|| of the truncated (attacked) network"),
    Variable("jacobian_sigma_max", ("trial",), float, "1",
             "largest singular value of the Jacobian of e -> phi(y + e) at e = 0 (Lanczos "
             "bidiagonalisation; worst-case attacks with init: jacobian)",
             "NaN unless the attack starts from the Jacobian (init: jacobian)",
             "worst-case (init: jacobian)"),
    Variable("jacobian_residual", ("trial",), float, "1",
             "relative residual ||J^T J v - sigma^2 v|| / sigma^2 of the top singular pair "
             "(evidence that sigma_max converged)",
             "NaN unless the attack starts from the Jacobian (init: jacobian)",
             "worst-case (init: jacobian)"),
    Variable("jacobian_iterations", ("trial",), float, "1",
             "Krylov iterations of the sigma_max computation",
             "NaN unless the attack starts from the Jacobian (init: jacobian)",
             "worst-case (init: jacobian)"),
    Variable("attack_wall_time", ("trial",), float, "s", "wall time of the attack"),
    Variable("attack_status", ("trial",), STR, None,
             "attack status: ok, diverged, error, skipped (not attacked at this attack "
             "depth) ('' pending)"),
    Variable("attack_message", ("trial",), STR, None, "error message of a failed attack"),
)


def attack_kind(name: str) -> AttackKind:
    """The registered kind ``name``.

    Raises
    ------
    ValueError
        For an unknown kind, naming it and the known ones.
    """
    try:
        return ATTACKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown attack kind {name!r}; expected one of: "
                         f"{', '.join(ATTACKS)}") from None


def register_attack(kind: AttackKind, *, replace: bool = False) -> AttackKind:
    """Add ``kind`` to :data:`ATTACKS` (``replace``: over an entry of the same name).

    Its variables must not reuse a name another kind (or the common attack group)
    stores, and its axes must not clash with another kind's axis of another meaning.

    Returns
    -------
    AttackKind
        ``kind`` (so that a module can write ``KIND = register_attack(AttackKind(...))``).
    """
    if kind.name in ATTACKS and not replace:
        raise ValueError(f"attack kind {kind.name!r} is already registered; pass "
                         "replace=True to replace it")
    taken = {v.name: k.name for k in ATTACKS.values() if k.name != kind.name
             for v in k.variables}
    taken.update({v.name: "every attack" for v in COMMON_VARIABLES})
    for v in kind.variables:
        if v.name in taken:
            raise ValueError(f"attack kind {kind.name!r}: variable {v.name!r} is already "
                             f"stored by {taken[v.name]}; expected a new name")
    ATTACKS[kind.name] = kind
    return kind


def deprecated_keys(section: Mapping[str, Any]) -> list[str]:
    """Messages for the deprecated keys of an ``attack`` section (empty: none)."""
    return [f"attack.{old}: deprecated name of attack.{new} (the relative budgets "
            f"||e|| / ||y||); rename it to {new}"
            for old, new in DEPRECATED_KEYS.items() if old in section]


def normalise_section(section: Mapping[str, Any], *, warn: bool = False) -> dict[str, Any]:
    """The ``attack`` section with deprecated keys under their names now.

    Parameters
    ----------
    section : mapping
        A raw ``attack`` section of a config.
    warn : bool
        Issue a :class:`FutureWarning` per deprecated key.

    Raises
    ------
    ValueError
        When both a deprecated key and its new name are given.
    """
    out = dict(section)
    for old, new in DEPRECATED_KEYS.items():
        if old not in out:
            continue
        if new in out:
            raise ValueError(f"attack.{old}: deprecated name of attack.{new}, which is also "
                             f"given; expected only attack.{new}")
        if warn:
            warnings.warn(deprecated_keys({old: None})[0], FutureWarning, stacklevel=2)
        out[new] = out.pop(old)
    return out
