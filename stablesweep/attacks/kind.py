"""What an attack kind declares once: :class:`AttackKind` and the rows it stores.

An attack kind is everything the sweep needs to run one kind of stability test and to
store, check, estimate and describe it. Its module (:mod:`.momentum_kind`,
:mod:`.worst_case_kind`) builds one :class:`AttackKind`; :mod:`.registry` collects them
in :data:`~stablesweep.attacks.registry.ATTACKS`. The sweep reads the registry and
never branches on a kind's name.

The *budget* of an attack is the relative size ε = ‖e‖/‖y‖ of the perturbations it may
use. It has one name from the config to the attack: ``attack.budget`` in the config
(:data:`BUDGET`), ``budget=`` of the attack function, :attr:`AttackSettings.budget`;
the store keeps it along the dimension :data:`BUDGET_DIM` (``noise_level``: the name
stores have always used, kept so that they stay readable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stablesweep.configuration import shown

__all__ = [
    "BUDGET",
    "BUDGET_DIM",
    "STR",
    "AttackKind",
    "AttackSettings",
    "AttackTrial",
    "Axis",
    "TrialOutcome",
    "Variable",
]

#: The config key (``attack.budget``) and attack keyword (``budget=``) of the budget ε.
BUDGET = "budget"
#: The store dimension of the budget ε (the name stores written before keep).
BUDGET_DIM = "noise_level"
#: The store's string dtype (status and message variables).
STR = np.dtypes.StringDType()


@dataclass(frozen=True)
class Variable:
    """One row of the store schema: a data variable and what it means.

    Attributes
    ----------
    name : str
        The variable's name in the store.
    dims : tuple of str
        Its dimensions after the cell dimensions of its group (e.g. ``("trial",
        "depth")``).
    dtype : type or numpy.dtype
        ``float`` or :data:`STR`.
    units : str or None
        CF units (``"1"``: dimensionless; None: strings).
    long_name : str
        The CF ``long_name``.
    comment : str or None
        What NaN means where NaN is expected (the CF ``comment``).
    source : str
        Which attack kind or config option produces it (``""``: every cell of its group).
    """

    name: str
    dims: tuple[str, ...]
    dtype: Any
    units: str | None
    long_name: str
    comment: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Axis:
    """A store dimension an attack kind records along (besides ``trial``).

    Attributes
    ----------
    name : str
        The dimension (and coordinate) name.
    long_name, units : str
        The coordinate's attributes.
    values : callable
        ``values(settings) -> sequence``: the coordinate values for an attack section.
    """

    name: str
    long_name: str
    values: Callable[[AttackSettings], Any]
    units: str = "1"


@dataclass(frozen=True)
class AttackSettings:
    """The ``attack`` section of a config, as the sweep holds it.

    Attributes
    ----------
    kind : str
        The attack kind (a key of :data:`~stablesweep.attacks.registry.ATTACKS`).
    depths : tuple of int
        The ``attack_depth`` axis (-1: each network's own depth).
    params : mapping
        ``attack.params``.
    budget : tuple of float
        ``attack.budget``: relative budgets ε = ‖e‖/‖y‖ (kinds with ``uses_budget``).
    """

    kind: str
    depths: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    budget: tuple[float, ...] = ()

    @property
    def explicit(self) -> bool:
        """Whether ``attack.depths`` was given (some depth is not -1, "own depth")."""
        return any(d > 0 for d in self.depths)


@dataclass(frozen=True)
class AttackTrial:
    """One trial's attack call: the network and the problem it attacks.

    Attributes
    ----------
    net : callable
        The (truncated) network ``y -> image``.
    A : SamplingOperator
        The measurement operator.
    x, y : torch.Tensor
        True image and measurements.
    settings : AttackSettings
    generator : torch.Generator
        The trial's attack stream.
    keep : bool
        Whether to keep images for the examples.
    """

    net: Callable
    A: Any
    x: Any
    y: Any
    settings: AttackSettings
    generator: Any
    keep: bool = False


@dataclass
class TrialOutcome:
    """What one trial's attack returns to the cell.

    Attributes
    ----------
    values : dict
        Store variable -> this trial's value (shaped as its dims after ``trial``).
    clean_error : float
        ``‖φ(y) − x‖`` of the attacked network.
    final : numpy.ndarray
        Numbers that must be finite for status ``ok`` (else ``diverged``).
    images : dict
        With ``keep``: ``example_output`` (image), ``example_perturbed`` and
        ``example_attacked`` (one image per kept record), tensors or arrays.
    """

    values: dict[str, Any]
    clean_error: float
    final: np.ndarray
    images: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttackKind:
    """An attack kind, declared once.

    Attributes
    ----------
    name : str
        ``attack.kind`` in the config, and the store group of its variables.
    function : callable or str
        The attack itself (its keyword-only parameters, less :attr:`supplied`, are the
        allowed ``attack.params``), or where it lives, ``"package.module:name"``
        (imported on first use: the registry imports without PyTorch).
    summary : str
        One line: what it searches for (errors, docs).
    axes : tuple of Axis
        The dimensions its variables record along, besides ``trial``.
    variables : tuple of Variable
        The store variables it produces, over ``(trial, *axes)`` or a part of it.
    run : callable
        ``run(trial: AttackTrial) -> TrialOutcome``: one trial's attack.
    passes : callable
        ``passes(settings) -> int``: forward and backward passes through the network per
        trial, for the estimate (:mod:`stablesweep.sweep.run.estimate`; an upper bound).
    caption : callable
        ``caption(section) -> str``: the kind's words in a figure caption, from the raw
        ``attack`` section of the config (:mod:`stablesweep.report.captions`).
    kept : Axis
        The ``attack_record`` coordinate: which records the examples keep.
    uses_budget : bool
        Whether ``attack.budget`` is required (True) or refused (False).
    supplied : frozenset of str
        Keywords of :attr:`function` the sweep passes itself (not settable in params).
    config_params : tuple of str
        ``attack.params`` read by the sweep, not by the function (e.g. ``record_every``).
    required : callable
        ``required(params) -> {name: why}``: params needed beyond the function's own
        required keywords (e.g. ``steps`` unless a protocol sets it).
    check : callable
        ``check(params) -> list of str``: further messages about ``attack.params``
        (values out of their choices, inconsistent pairs), each naming key, value and
        what is allowed.
    param_types : mapping
        ``"int"`` or ``"real"`` for :attr:`config_params` (the function's own
        parameters are typed by their annotations; see :meth:`param_problems`).
    """

    name: str
    function: Callable[..., Any] | str
    summary: str
    axes: tuple[Axis, ...]
    variables: tuple[Variable, ...]
    run: Callable[[AttackTrial], TrialOutcome]
    passes: Callable[[AttackSettings], int]
    caption: Callable[[Mapping[str, Any]], str]
    kept: Axis
    uses_budget: bool = False
    supplied: frozenset[str] = frozenset()
    config_params: tuple[str, ...] = ()
    required: Callable[[Mapping[str, Any]], dict[str, str]] = field(
        default=lambda params: {})
    check: Callable[[Mapping[str, Any]], list[str]] = field(default=lambda params: [])
    param_types: Mapping[str, str] = field(default_factory=dict)

    def attack_function(self) -> Callable[..., Any]:
        """:attr:`function`, imported where it is given as ``"package.module:name"``."""
        if callable(self.function):
            return self.function
        import importlib

        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)

    def sizes(self, settings: AttackSettings) -> dict[str, int]:
        """Length of each of :attr:`axes` for an attack section."""
        return {ax.name: len(ax.values(settings)) for ax in self.axes}

    def allowed_params(self) -> list[str]:
        """``attack.params`` this kind accepts: the function's keyword-only parameters the
        sweep does not supply, then :attr:`config_params`."""
        import inspect

        sig = inspect.signature(self.attack_function())
        own = [p for p, par in sig.parameters.items()
               if par.kind == inspect.Parameter.KEYWORD_ONLY and p not in self.supplied]
        return own + [p for p in self.config_params if p not in own]

    def required_params(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Params that must be given: ``{name: why}`` (the function's keyword-only
        parameters without a default, then :attr:`required`)."""
        import inspect

        sig = inspect.signature(self.attack_function())
        out = {p: f"needed by kind {self.name!r}" for p, par in sig.parameters.items()
               if par.kind == inspect.Parameter.KEYWORD_ONLY and p not in self.supplied
               and par.default is inspect.Parameter.empty}
        out.update(self.required(params))
        return out

    def param_kinds(self) -> dict[str, str]:
        """``"int"`` or ``"real"`` per typed parameter: the function's keyword-only
        parameters annotated ``int`` or ``float`` (``| None`` allowed), then
        :attr:`param_types`."""
        import inspect

        out = {}
        for p, par in inspect.signature(self.attack_function()).parameters.items():
            ann = par.annotation
            text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
            parts = {t.strip() for t in text.split("|")} - {"None"}
            if par.kind == inspect.Parameter.KEYWORD_ONLY and parts in ({"int"}, {"float"}):
                out[p] = "int" if parts == {"int"} else "real"
        out.update(self.param_types)
        return out

    def param_problems(self, params: Mapping[str, Any]) -> list[str]:
        """``attack.params`` of the wrong type: an ``int`` parameter must be a positive
        integer, a ``real`` one a finite number >= 0 (one message each, naming key,
        value and what is allowed)."""
        import math
        import numbers

        kinds, out = self.param_kinds(), []
        for k, v in params.items():
            if isinstance(v, bool) or kinds.get(k) is None:
                ok = kinds.get(k) is None
            elif kinds[k] == "int":
                ok = isinstance(v, numbers.Integral) and v >= 1
            else:
                ok = isinstance(v, numbers.Real) and math.isfinite(v) and v >= 0
            if not ok:
                expected = ("a positive integer" if kinds[k] == "int"
                            else "a finite number >= 0")
                out.append(f"attack.params.{k}: {shown(v)} is not valid; expected {expected}")
        return out

    def function_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``attack.params`` less :attr:`config_params`: the keywords for :attr:`function`."""
        return {k: v for k, v in params.items() if k not in self.config_params}
