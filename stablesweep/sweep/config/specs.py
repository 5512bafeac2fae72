"""The normalised experiment config: :class:`SweepConfig` and its parts (networks,
attack, examples), as :func:`stablesweep.sweep.load_config` returns them."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stablesweep.attacks.kind import AttackSettings

from .axes import AXIS_NAMES, OWN_DEPTH
from .network_info import sparsity_parameter

__all__ = [
    "AttackSpec",
    "ExampleSpec",
    "NetworkSpec",
    "SweepConfig",
    "canonical_json",
    "config_hash",
]


@dataclass(frozen=True)
class NetworkSpec:
    """One entry of ``networks``.

    ``algorithmic`` is the registry class's ``algorithmic`` attribute (``False`` for
    the trained networks, which are attacked at their own depth only; ``True`` for
    ``custom``, whose factory takes the depth to truncate to).
    """

    label: str
    name: str
    depth: int
    params: Mapping[str, Any] = field(default_factory=dict)
    factory: str | None = None
    algorithmic: bool = True

    def attacked_depth(self, value: int, explicit: bool) -> tuple[int | None, str]:
        """The depth attacked at ``attack_depth`` value ``value``, or ``None`` and why not.

        Parameters
        ----------
        value : int
            A value of the ``attack_depth`` axis (:data:`OWN_DEPTH` or a depth).
        explicit : bool
            Whether ``attack.depths`` was given (then algorithmic networks are attacked
            at those depths, not at :data:`OWN_DEPTH`).
        """
        if value == OWN_DEPTH:
            if not self.algorithmic or not explicit:
                return self.depth, ""
            return None, ("attacked at the given attack.depths, not at its own depth "
                          f"(attack_depth {OWN_DEPTH})")
        if not self.algorithmic:
            return None, (f"a trained network ({self.name}) is attacked at its own depth "
                          f"{self.depth} only (attack_depth {OWN_DEPTH})")
        if value > self.depth:
            return None, f"attack depth {value} exceeds the network's depth {self.depth}"
        return value, ""


#: The ``attack`` section (declared with the attack kinds, :mod:`stablesweep.attacks.kind`).
AttackSpec = AttackSettings


@dataclass(frozen=True)
class ExampleSpec:
    """One entry of ``examples``: indices into the grid."""

    point: tuple[int, ...]  # index along each swept axis
    network: int
    trial: int
    attack_depth: int | None  # index into attack.depths


@dataclass(frozen=True)
class SweepConfig:
    """A validated experiment config.

    Attributes
    ----------
    text : str
        The YAML text (stored verbatim in the result's attrs).
    data : dict
        The parsed mapping.
    axes : dict of str to tuple
        Swept problem axes in store order, values normalised (patterns as tuples).
    fixed : dict
        Problem parameters that are not swept (defaults filled in; absent ones omitted).
    """

    text: str
    data: Mapping[str, Any]
    experiment: str
    seed: int
    trials: int
    axes: Mapping[str, tuple]
    fixed: Mapping[str, Any]
    networks: tuple[NetworkSpec, ...]
    attack: AttackSpec | None
    examples: tuple[ExampleSpec, ...]
    minimiser: Mapping[str, Any] | None = None
    #: ``store.cells_per_block`` (None: chosen by
    #: :func:`~stablesweep.sweep.store.layout.cell_block`)
    cells_per_block: int | None = None

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the parsed config (comments, order ignored)."""
        return config_hash(self.data)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values())

    def attacked_depth(self, network: int, attack_depth: int) -> tuple[int | None, str]:
        """Depth at which network ``network`` is attacked in entry ``attack_depth`` of
        the ``attack_depth`` axis (indices), or ``None`` (skipped) and the reason."""
        value = self.attack.depths[attack_depth]
        return self.networks[network].attacked_depth(value, self.attack.explicit)

    def weights_source(self, network: int) -> str:
        """Where network ``network``'s l1 weights come from: ``signal``, ``params``,
        ``uniform`` or ``none`` (see "Sparsity weights" in the module docstring)."""
        spec = self.networks[network]
        name = sparsity_parameter(spec.name, spec.factory)
        given = {k: spec.params[k] for k in ("s", "weights") if k in spec.params}
        if name is None and not given:
            return "none"
        if given:
            return "params" if any(v is not None for v in given.values()) else "uniform"
        kinds = self.axes.get("signal", (self.fixed.get("signal"),))
        has_pattern = "sparsity" in self.axes or "sparsity" in self.fixed
        return "signal" if "sparse-in-levels" in kinds and has_pattern else "uniform"

    def point(self, index: Sequence[int]) -> dict[str, Any]:
        """All problem parameters of the grid point with axis indices ``index``."""
        params = dict(self.fixed)
        for (name, values), i in zip(self.axes.items(), index, strict=True):
            params[name] = values[i]
        return {name: params[name] for name in AXIS_NAMES if name in params}

    def points(self) -> Iterator[tuple[tuple[int, ...], dict[str, Any]]]:
        """``(index, parameters)`` of every grid point, in C order."""
        for index in itertools.product(*(range(len(v)) for v in self.axes.values())):
            yield index, self.point(index)


def config_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of a parsed config."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces: equal for equal configs."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
