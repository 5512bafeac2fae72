"""Configs of the K-digits experiment: defaults, ``--quick``, validation.

A config (``config/experiments/k-digits.yaml``) overrides some of :data:`DEFAULTS`;
``--quick`` applies :data:`QUICK` first. Every number may be a fraction string such as
``"1/6"``. :func:`load_barrier_config` and :func:`parse_barrier_config` raise one
:class:`BarrierConfigError` (a :class:`stablesweep.configuration.ConfigError`) listing
every problem, each with key path, value and what is allowed; the checks are declared
as the config kind :data:`BARRIER`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from stablesweep.configuration import (
    SIGNATURES,
    ConfigError,
    ConfigKind,
    digest,
    merge,
)

from .problem import BarrierProblem

__all__ = [
    "BARRIER",
    "DEFAULTS",
    "QUICK",
    "BarrierConfig",
    "BarrierConfigError",
    "load_barrier_config",
    "parse_barrier_config",
    "parse_number",
]

#: the default (full) run: about 5–10 minutes on one CPU core (9 networks x 1600 Adam steps)
DEFAULTS: dict[str, Any] = {
    "experiment": "k-digits",
    "seed": 0,
    "problem": {"N1": 2, "N2": 20, "delta": "1/6", "lam": 1.0, "sparsity": 5, "j": 1,
                "dct": True},
    "grid": {"K": [1, 3, 6], "n": [10, 20, 30]},
    "lista": {"layers": 10, "train": 8000, "validation": 100, "test": 100, "epochs": 100,
              "batch_size": 500, "lr": 1e-3, "theta": 1e-3},
    "firenet": {"p": 50, "n": 30, "delta": 1e-6},
}
#: overrides of ``--quick`` (tests, smoke runs): a few seconds
QUICK: dict[str, Any] = {
    "grid": {"K": [1, 3], "n": [10, 30]},
    "lista": {"train": 400, "validation": 50, "test": 20, "epochs": 30, "batch_size": 100},
    "firenet": {"n": 10},
}


class BarrierConfigError(ConfigError):
    """An invalid K-digits config (the :class:`ConfigError` of kind ``k-digits``)."""

    default_kind = "k-digits"


def parse_number(path: str, v: Any) -> float:
    """A real number, or a fraction string such as ``"1/6"``.

    Raises
    ------
    ValueError
        Naming ``path``, the value and what is allowed.
    """
    if isinstance(v, str):
        try:
            return float(Fraction(v.strip()))
        except (ValueError, ZeroDivisionError):
            pass
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{path}: {v!r} is not a number; expected a real number or a "
                         "fraction such as '1/6'")
    return float(v)


@dataclass(frozen=True)
class BarrierConfig:
    """A validated K-digits experiment config (see :data:`DEFAULTS` for the keys)."""

    data: dict[str, Any]

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def Ks(self) -> list[int]:
        return [int(k) for k in self.data["grid"]["K"]]

    @property
    def ns(self) -> list[int]:
        return [int(k) for k in self.data["grid"]["n"]]

    @property
    def lista(self) -> dict[str, Any]:
        return self.data["lista"]

    @property
    def firenet(self) -> dict[str, Any]:
        return self.data["firenet"]

    def problem(self, K: int, n: int, j: int | None = None) -> BarrierProblem:
        p = self.data["problem"]
        return BarrierProblem(K, n, int(p["j"]) if j is None else j, int(p["N1"]),
                              int(p["N2"]), parse_number("problem.delta", p["delta"]),
                              parse_number("problem.lam", p["lam"]), bool(p["dct"]))

    @property
    def hash(self) -> str:
        """SHA-256 of the config (sorted JSON), first 16 hex digits."""
        return digest(self.data)

    def model_key(self, K: int, n: int) -> str:
        """Hash of what one trained LISTA depends on (seed, problem, LISTA settings)."""
        return digest({"seed": self.seed, "problem": self.data["problem"],
                       "lista": self.lista, "K": K, "n": n})


def _merged(raw: Mapping[str, Any], quick: bool = False) -> dict[str, Any]:
    """Defaults, then ``--quick`` overrides, then ``raw``."""
    return merge(merge(DEFAULTS, QUICK) if quick else DEFAULTS, raw)


_COUNT = {"type": "integer", "minimum": 1}
#: a number >= 0, or a fraction string ("1/6", checked by :func:`_numbers`)
_NUMBER = {"type": ["number", "string"], "minimum": 0}

#: JSON schema of a K-digits config file: every key optional (:data:`DEFAULTS` fill in).
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "stablesweep K-digits barrier config",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "experiment": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0},
        "problem": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"N1": _COUNT, "N2": _COUNT, "delta": _NUMBER, "lam": _NUMBER,
                           "sparsity": {"type": "integer", "minimum": 0}, "j": _COUNT,
                           "dct": {"type": "boolean"}},
        },
        "grid": {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: {"type": "array", "minItems": 1, "items": _COUNT}
                           for k in ("K", "n")},
        },
        "lista": {
            "type": "object",
            "additionalProperties": False,
            "properties": {**{k: _COUNT for k in ("layers", "train", "validation", "test",
                                                  "epochs", "batch_size")},
                           "lr": _NUMBER, "theta": _NUMBER},
        },
        "firenet": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"p": _COUNT, "n": _COUNT, "delta": _NUMBER},
        },
    },
}

#: the keys whose values may be fraction strings
_NUMBER_KEYS = (("problem", "delta"), ("problem", "lam"), ("lista", "lr"),
                ("lista", "theta"), ("firenet", "delta"))


def _numbers(raw: Mapping[str, Any]) -> list[str]:
    """Number strings are fractions (``"1/6"``) >= 0."""
    problems = []
    for sec, key in _NUMBER_KEYS:
        value = raw.get(sec, {}).get(key) if isinstance(raw.get(sec), Mapping) else None
        if not isinstance(value, str):
            continue  # numbers: the schema checks them
        try:
            if parse_number(f"{sec}.{key}", value) < 0:
                problems.append(f"{sec}.{key}: {value!r} is out of range; expected >= 0")
        except ValueError as err:
            problems.append(str(err))
    return problems


def _problem(raw: Mapping[str, Any], *, quick: bool = False) -> list[str]:
    """The problem's own checks (N1, N2, j, delta, lam), on an otherwise valid config."""
    cfg = BarrierConfig(_merged(raw, quick))
    try:
        cfg.problem(cfg.Ks[0], cfg.ns[0])
    except ValueError as err:
        return [f"problem: {err}"]
    return []


#: The K-digits config kind: the schema, fraction strings, then (once everything else
#: is valid) the problem's own checks on the merged config (``quick``: with the
#: ``--quick`` overrides).
BARRIER = ConfigKind(SIGNATURES["k-digits"], error=BarrierConfigError, schema=SCHEMA,
                     checks=(_numbers,), whole_checks=(_problem,))


def parse_barrier_config(raw: Mapping[str, Any] | None = None, quick: bool = False
                         ) -> BarrierConfig:
    """Defaults, then ``--quick`` overrides, then ``raw``; validated.

    Raises
    ------
    BarrierConfigError
        Unknown keys or bad values (all problems listed, each naming the key).
    """
    raw = {} if raw is None else raw
    BARRIER.raise_problems(BARRIER.problems(raw, quick=quick))
    return BarrierConfig(_merged(raw, quick))


def load_barrier_config(path: str | os.PathLike | None, quick: bool = False) -> BarrierConfig:
    """Read ``config/experiments/k-digits.yaml`` (or use the defaults for ``None``).

    Raises
    ------
    BarrierConfigError
        Every problem found, or the one that stops reading: a missing file, a
        directory, invalid YAML, or a config of another kind (named, with the command
        that runs it).
    """
    if path is None:
        return parse_barrier_config({}, quick=quick)
    _, raw, where = BARRIER.read(os.fspath(path))
    raw = {} if raw is None else raw
    BARRIER.raise_problems(BARRIER.problems(raw, quick=quick), where)
    return BarrierConfig(_merged(raw, quick))
