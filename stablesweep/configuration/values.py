"""Small checks of config values, and helpers (merge, digest), shared by every config kind.

Each ``check_*`` function appends to ``out`` one message per problem, in the form
``<key path>: <value> is not valid; expected <what is allowed>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "check_choice",
    "check_folder_name",
    "check_int",
    "check_mapping",
    "check_range",
    "check_real",
    "digest",
    "is_int",
    "is_real",
    "key_path",
    "merge",
    "non_finite",
    "short",
    "shown",
    "unknown_keys",
]


def is_int(v: Any) -> bool:
    """Whether ``v`` is an integer (``True``/``False`` are not)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v: Any) -> bool:
    """Whether ``v`` is a finite real number (not a boolean)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def short(value: Any, limit: int = 60, *, json_style: bool = False) -> str:
    """``value`` for a message, cut to ``limit`` characters.

    Strings are quoted with ``repr``; other values are shown with ``repr`` or, with
    ``json_style``, as JSON (``true``, ``null``, ``[1, 2]``).
    """
    if json_style and not isinstance(value, str):
        text = json.dumps(value, default=str)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 60) -> str:
    """``value`` for a message in YAML/JSON spelling (``true``, ``null``, ``[1, 2]``;
    strings quoted), cut to ``limit`` characters."""
    return short(value, limit, json_style=True)


def key_path(parts: Sequence[Any]) -> str:
    """A key path for messages: ``("networks", 1, "depth") -> "networks[1].depth"``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "config"


def unknown_keys(path: str, mapping: Mapping, allowed: set[str] | Sequence[str]) -> list[str]:
    """One message per key of ``mapping`` not in ``allowed`` (``path`` ends with ``.``)."""
    return [f"{path}{k}: unknown key; allowed: {', '.join(sorted(allowed))}"
            for k in mapping if k not in allowed]


def check_mapping(out: list[str], path: str, v: Any, allowed: set[str],
                  required: Sequence[str] = ()) -> bool:
    """Check that ``v`` is a mapping with known keys and the ``required`` ones.

    Returns whether ``v`` is a mapping (its entries can be checked further).
    """
    if not isinstance(v, Mapping):
        out.append(f"{path}: {short(v)}; expected a mapping with keys "
                   f"{', '.join(sorted(allowed))}")
        return False
    out += unknown_keys(f"{path}.", v, allowed)
    out += [f"{path}.{k}: missing" for k in required if k not in v]
    return True


def check_choice(out: list[str], path: str, v: Any, allowed: Sequence[Any]) -> None:
    """One of ``allowed``."""
    if v not in allowed:
        out.append(f"{path}: {short(v)} is not valid; expected one of: "
                   f"{', '.join(map(str, allowed))}")


def check_folder_name(out: list[str], path: str, v: Any) -> None:
    """A non-empty folder name of letters, digits, ``-``, ``_``, ``.`` (not starting with
    ``.``): an output folder's name."""
    if not (isinstance(v, str) and v and not v.startswith(".")
            and all(c.isalnum() or c in "-_." for c in v)):
        out.append(f"{path}: {short(v)} is not valid; expected a non-empty folder name of "
                   "letters, digits, '-', '_', '.'")


def check_int(out: list[str], path: str, v: Any, minimum: int,
              maximum: int | None = None) -> None:
    """An integer ``>= minimum`` (and ``<= maximum`` when given)."""
    if not (is_int(v) and v >= minimum and (maximum is None or v <= maximum)):
        rng = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        out.append(f"{path}: {short(v)} is not valid; expected an integer {rng}")


def check_real(out: list[str], path: str, v: Any, lo: float, hi: float | None = None, *,
               lo_open: bool = True, hi_open: bool = False) -> None:
    """A finite number in the interval from ``lo`` to ``hi`` (open or closed ends)."""
    ok = is_real(v) and (v > lo if lo_open else v >= lo)
    if hi is not None:
        ok = ok and (v < hi if hi_open else v <= hi)
    if not ok:
        left = "(" if lo_open else "["
        right = "]" if hi is None or not hi_open else ")"
        top = "inf)" if hi is None else f"{hi:g}{right}"
        out.append(f"{path}: {short(v)} is not valid; expected a number in {left}{lo:g}, {top}")


def check_range(out: list[str], path: str, v: Any, lo: float) -> None:
    """A number > ``lo``, or a ``[min, max]`` pair of such numbers with min <= max."""
    if is_real(v):
        if v <= lo:
            out.append(f"{path}: {short(v)} is not valid; expected a number > {lo:g} or a "
                       f"[min, max] pair of them")
        return
    if (isinstance(v, list) and len(v) == 2 and all(is_real(t) and t > lo for t in v)
            and v[0] <= v[1]):
        return
    out.append(f"{path}: {short(v)} is not valid; expected a number > {lo:g} or a "
               f"[min, max] pair of them with min <= max")


def digest(data: Any, digits: int = 16) -> str:
    """SHA-256 of the sorted JSON of ``data`` (a config's identity), first ``digits`` hex
    digits."""
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:digits]


def non_finite(node: Any, path: str = "config") -> list[str]:
    """Every NaN or infinite number anywhere in a config (YAML's ``.nan``, ``.inf``)."""
    if isinstance(node, float) and not math.isfinite(node):
        return [f"{path}: {node} is not allowed; expected a finite number"]
    if isinstance(node, Mapping):
        return [m for k, v in node.items()
                for m in non_finite(v, str(k) if path == "config" else f"{path}.{k}")]
    if isinstance(node, list):
        return [m for i, v in enumerate(node) for m in non_finite(v, f"{path}[{i}]")]
    return []


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge (profiles, defaults): mappings merge key by key, any other value
    replaces; neither input is modified."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
