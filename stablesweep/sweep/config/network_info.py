"""What the sweep learns about networks and attacks by inspecting their code.

The network registry (:data:`stablesweep.networks.NETWORKS`, entries added at run time
included) and the constructors' signatures say which parameters a network takes,
whether it is a family of truncations (``algorithmic``) and through which parameter it
receives the signal's sparsity pattern; the attack registry says which attack kinds
exist.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "attack_kinds",
    "is_algorithmic",
    "named_parameters",
    "network_signature",
    "param_default",
    "registry",
    "resolve_factory",
    "sparsity_parameter",
]


def registry() -> tuple[Mapping, str | None]:
    """The live network registry (entries added at run time count), or the import error."""
    try:
        from stablesweep.networks import NETWORKS
    except Exception as err:  # pragma: no cover - depends on the networks package
        return {}, f"{type(err).__name__}: {err}"
    return NETWORKS, None


def network_signature(name: str) -> inspect.Signature | None:
    """Signature of a registered network's constructor (None when unknown)."""
    known, _ = registry()
    target = known.get(name)
    if target is None:
        return None
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def is_algorithmic(name: str) -> bool:
    """The registry class's ``algorithmic`` flag (``True`` for ``custom`` and unknown names).

    Trained networks (``algorithmic = False``) are not a family of truncations: they are
    attacked at their own depth only.
    """
    if name == "custom":
        return True
    known, _ = registry()
    return bool(getattr(known.get(name), "algorithmic", True))


def sparsity_parameter(name: str, factory: str | None = None) -> str | None:
    """``"s"`` or ``"weights"``: the parameter through which the sweep passes the
    signal's sparsity pattern to a network (``None``: it takes neither by name).

    The registry class's constructor of network ``name``, or for ``custom`` the
    ``factory`` (``"package.module:function"``), is inspected; a parameter named ``s``
    wins over ``weights`` (parameters hidden in ``**kwargs`` do not count).
    """
    if name == "custom":
        try:
            sig = inspect.signature(resolve_factory(factory))
        except Exception:
            return None
    else:
        sig = network_signature(name)
    if sig is None:
        return None
    named = {p for p, par in sig.parameters.items() if par.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}
    return "s" if "s" in named else ("weights" if "weights" in named else None)


def param_default(name: str, param: str) -> Any:
    """The default of a registered network's constructor parameter (None: none or unknown)."""
    sig = network_signature(name)
    if sig is None or param not in sig.parameters:
        return None
    default = sig.parameters[param].default
    return None if default is inspect.Parameter.empty else default


def resolve_factory(spec: str) -> Callable[..., Any]:
    """Import ``"pkg.module:function"`` (the one implementation, in the networks)."""
    from stablesweep.networks.custom import resolve_factory as resolve

    return resolve(spec)


def named_parameters(name: str) -> set[str]:
    """Every parameter name of a registered network's constructor (empty when unknown)."""
    sig = network_signature(name)
    return set() if sig is None else set(sig.parameters)


def attack_kinds() -> Mapping[str, Any]:
    """The live attack registry (:data:`stablesweep.attacks.registry.ATTACKS`, kinds added
    at run time included)."""
    from stablesweep.attacks.registry import ATTACKS

    return ATTACKS
