"""The problem axes of an experiment config: names, key paths in ``problem``, defaults.

In ``problem`` any value may be a list, which makes it a sweep axis (see
:mod:`stablesweep.sweep.config`). This module knows where each axis lives in the
config, which values are patterns (``budgets``, ``sparsity``: a flat list is one
value), and how values are normalised and labelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AXES",
    "AXIS_NAMES",
    "OWN_DEPTH",
    "PATTERN_AXES",
    "axis_values",
    "is_axis",
    "lookup",
    "normalise",
    "pattern_label",
]

#: Problem axes in store order: (axis name, key path in ``problem``, default).
#: ``None`` default: absent unless given (and then not a coordinate).
AXES: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("transform", ("transform",), None),
    ("resolution", ("resolution",), None),
    ("dim", ("dim",), 2),
    ("wavelet", ("wavelet",), "haar"),
    ("scheme", ("sampling", "scheme"), None),
    ("rate", ("sampling", "rate"), None),
    ("budgets", ("sampling", "budgets"), None),
    ("mask_from", ("sampling", "mask_from"), None),
    ("signal", ("signal", "kind"), None),
    ("sparsity", ("signal", "sparsity"), None),
    ("image", ("signal", "name"), None),
    ("complex", ("signal", "complex"), False),
    ("details", ("signal", "details"), None),
    ("noise", ("noise",), 0.0),
)
AXIS_NAMES = tuple(name for name, _, _ in AXES)
PATTERN_AXES = ("budgets", "sparsity")
AXIS_PATH = {name: path for name, path, _ in AXES}

#: ``attack_depth`` value meaning "each network's own (full) depth".
OWN_DEPTH = -1


def pattern_label(value: Sequence[int]) -> str:
    """Coordinate label of a pattern value: ``[2, 4, 8] -> "2,4,8"``."""
    return ",".join(str(int(v)) for v in value)


def lookup(problem: Mapping, path: tuple[str, ...]) -> tuple[bool, Any]:
    """``(present, value)`` of the key path ``path`` in ``problem``."""
    node: Any = problem
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def is_axis(name: str, raw: Any) -> bool:
    """Whether a problem value is a sweep axis (see the module docstring)."""
    if not isinstance(raw, list):
        return False
    if name in PATTERN_AXES:
        return len(raw) > 0 and all(isinstance(v, list) for v in raw)
    return True


def normalise(name: str, value: Any) -> Any:
    """A value of axis ``name`` in normal form (patterns as tuples of ints, numbers
    as float or int, flags as bool)."""
    if name in PATTERN_AXES:
        return tuple(int(v) for v in value)
    if name in ("rate", "noise"):
        return float(value)
    if name in ("resolution", "dim"):
        return int(value)
    if name in ("complex", "details"):
        return bool(value)
    return value


def axis_values(problem: Mapping, name: str) -> list[tuple[str, Any]]:
    """``(key path, value)`` of each value of a problem parameter (axis or scalar)."""
    path = AXIS_PATH[name]
    present, raw = lookup(problem, path)
    base = "problem." + ".".join(path)
    if not present:
        default = dict((n, d) for n, _, d in AXES)[name]
        return [] if default is None else [(f"{base} (default)", default)]
    if is_axis(name, raw):
        return [(f"{base}[{i}]", v) for i, v in enumerate(raw)]
    return [(base, raw)]
