"""Semantic checks of an experiment config's ``networks`` and ``attack``.

Network names and parameters are checked against the live registry and the
constructors' signatures (:mod:`stablesweep.sweep.config.network_info`), trained networks'
model files against the problem (:mod:`stablesweep.sweep.config.model_files`); attack
parameters against the attack registry (:mod:`stablesweep.attacks.registry`: each
kind's function signature, required keys and own checks), attack depths against the
networks' depths.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import Any

from stablesweep.attacks.kind import BUDGET
from stablesweep.attacks.registry import normalise_section
from stablesweep.configuration import is_int, shown

from .model_files import check_checkpoint
from .network_info import (
    attack_kinds,
    is_algorithmic,
    named_parameters,
    network_signature,
    param_default,
    registry,
    resolve_factory,
)

__all__ = ["check_attack", "check_attack_depths", "check_networks"]

#: Network parameters of a known type (attack parameters are typed by their kinds).
_INT_PARAMS = {"p", "steps", "n"}
_REAL_PARAMS = {"lam", "eta", "delta", "tau", "sigma", "gamma", "theta", "L", "L_A", "eps0",
                "step_size", "mu", "tol"}


def check_networks(data: Mapping[str, Any], *, check_files: bool = True) -> list[str]:
    """``networks``: known names and parameters, unique labels, importable factories,
    firenet depths that are multiples of ``p``, trained networks' model files."""
    nets = data.get("networks")
    if not isinstance(nets, list):
        return []
    out = []
    known_networks, import_error = registry()
    known = sorted(known_networks) + ["custom"]
    labels: dict[str, int] = {}
    for i, net in enumerate(nets):
        if not isinstance(net, Mapping) or not isinstance(net.get("name"), str):
            continue
        path = f"networks[{i}]"
        name = net["name"]
        params = net.get("params") if isinstance(net.get("params"), Mapping) else {}
        label = net.get("label", name)
        if label in labels:
            out.append(f"{path}.label: {label!r} is already used by networks[{labels[label]}]; "
                       "expected a unique label (add `label:` to tell entries apart)")
        labels.setdefault(label, i)
        if name == "custom":
            factory = net.get("factory")
            if isinstance(factory, str) and ":" in factory:
                try:
                    resolve_factory(factory)
                except Exception as err:
                    out.append(f"{path}.factory: cannot import {factory!r} "
                               f"({type(err).__name__}: {err}); expected an importable "
                               "'package.module:function'")
        else:
            if "factory" in net:
                out.append(f"{path}.factory: only allowed with name 'custom', got name "
                           f"{name!r}")
            if import_error is not None:
                out.append(f"{path}.name: cannot check {name!r}: stablesweep.networks does "
                           f"not import ({import_error})")
            elif name not in known_networks:
                out.append(f"{path}.name: unknown network {name!r}; expected one of: "
                           f"{', '.join(known)}")
            else:
                out += _check_network_params(path, name, params)
        out += _check_param_types(f"{path}.params", params)
        depth = net.get("depth")
        p = params.get("p", param_default(name, "p")) if name == "firenet" else None
        if name == "firenet" and is_int(depth) and is_int(p) and p > 0 and depth % p:
            out.append(f"{path}.depth: {depth} is not a multiple of params.p = {p}; "
                       "expected a multiple of p (firenet depth = restarts x p)")
        if (name != "custom" and isinstance(params.get("checkpoint"), str)
                and "checkpoint" in named_parameters(name)):
            out += check_checkpoint(data, path, label, name, params, check_files)
    return out


def check_attack_depths(data: Mapping[str, Any]) -> list[str]:
    """Given attack depths: within some network's depth; multiples of firenet's p."""
    attack, nets = data.get("attack"), data.get("networks")
    if not (isinstance(attack, Mapping) and isinstance(attack.get("depths"), list)
            and isinstance(nets, list)):
        return []
    entries = []  # (key path, label, name, depth, p) of the networks that can be truncated
    trained = []
    for i, net in enumerate(nets):
        if not (isinstance(net, Mapping) and isinstance(net.get("name"), str)
                and is_int(net.get("depth"))):
            continue
        name = net["name"]
        if not is_algorithmic(name):
            trained.append(name)
            continue
        params = net.get("params") if isinstance(net.get("params"), Mapping) else {}
        p = params.get("p", param_default(name, "p")) if name == "firenet" else None
        entries.append((f"networks[{i}]", net.get("label", name), name, net["depth"], p))
    if not entries:
        if trained:
            return [f"attack.depths: no network here can be truncated: trained networks "
                    f"({', '.join(dict.fromkeys(trained))}) are attacked at their own depth "
                    "only; leave attack.depths out"]
        return []
    deepest = max(entries, key=lambda e: e[3])
    out = []
    for j, ad in enumerate(attack["depths"]):
        if not is_int(ad):
            continue
        if ad > deepest[3]:
            out.append(f"attack.depths[{j}]: {ad} exceeds the depth of every network (the "
                       f"deepest, {deepest[0]} ({deepest[1]}), has depth {deepest[3]}); "
                       f"expected <= {deepest[3]}")
            continue
        for path, label, name, depth, p in entries:
            if name == "firenet" and is_int(p) and p > 0 and ad <= depth and ad % p:
                out.append(f"attack.depths[{j}]: {ad} is not a multiple of p = {p} of "
                           f"{path} ({label}); expected a multiple of {p}")
    return out


def _check_network_params(path: str, name: str, params: Mapping) -> list[str]:
    sig = network_signature(name)
    if sig is None:
        return []
    kinds = {p.kind for p in sig.parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return []
    allowed = [p for p, par in sig.parameters.items()
               if p not in ("A", "depth", "self") and par.kind in
               (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return [f"{path}.params.{k}: unknown parameter of network {name!r}; allowed: "
            f"{', '.join(allowed)}" for k in params if k not in allowed]


def _check_param_types(path: str, params: Mapping) -> list[str]:
    out = []
    for k, v in params.items():
        if k in _INT_PARAMS and not (is_int(v) and v >= 1):
            out.append(f"{path}.{k}: {shown(v)} is not valid; expected a positive integer")
        elif k in _REAL_PARAMS and not (
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0
        ):
            out.append(f"{path}.{k}: {shown(v)} is not valid; expected a finite number >= 0")
    return out


def check_attack(data: Mapping[str, Any]) -> list[str]:
    """``attack``: a registered kind, its budget, the params its function takes and the
    kind's own checks (:class:`stablesweep.attacks.kind.AttackKind`)."""
    attack = data.get("attack")
    if not isinstance(attack, Mapping) or not isinstance(attack.get("kind"), str):
        return []
    kinds = attack_kinds()
    kind = kinds.get(attack["kind"])
    if kind is None:
        return [f"attack.kind: unknown value {shown(attack['kind'])}; expected one of: "
                f"{', '.join(kinds)}"]
    try:
        attack = normalise_section(attack)
    except ValueError as err:
        return [str(err)]
    out = []
    params = attack.get("params") if isinstance(attack.get("params"), Mapping) else {}
    if kind.uses_budget and BUDGET not in attack:
        out.append(f"attack: missing key {BUDGET!r} (needed by kind {kind.name!r}); expected "
                   "a list of relative budgets ||e|| / ||y|| > 0")
    if not kind.uses_budget and BUDGET in attack:
        takers = [k.name for k in kinds.values() if k.uses_budget]
        out.append(f"attack.{BUDGET}: only used by kind{'s' * (len(takers) != 1)} "
                   f"{', '.join(repr(k) for k in takers)}; kind {kind.name!r} takes none")
    out += kind.param_problems(params)
    allowed = kind.allowed_params()
    out += [f"attack.params.{k}: unknown parameter of the {kind.name} attack; allowed: "
            f"{', '.join(allowed)}" for k in params if k not in allowed]
    for key, why in kind.required_params(params).items():
        if key not in params:
            expected = ("; expected a positive integer"
                        if kind.param_kinds().get(key) == "int" else "")
            out.append(f"attack.params: missing key {key!r} ({why}){expected}")
    out += kind.check(params)
    return out
