r"""Configs of the kernel trade-off experiment: loading, validation, defaults.

A config is a YAML mapping (``config/tradeoff/kernel-32.yaml``)::

    name: kernel-32                  # default output folder results/tradeoff/<name>
    seed: 0                          # every random draw except the mask (non-negative int)
    problem:
      transform: fourier             # fourier | walsh
      resolution: 32                 # image side, a power of two >= 8
      wavelet: haar                  # wavelet of FIRENET / FISTA
      sampling:                      # multilevel mask (see stablesweep.tradeoff.problem)
        rate: 0.25                   # m = round(rate * N)
        full_levels: 3               # bands with max level <= 3 fully sampled
        decay: 0.4                   # density ratio between successive outer levels
        seed: 1                      # seed of the mask draw
    detail:                          # the near-kernel details (stablesweep.tradeoff.pairs)
      kind: texture                  # texture (checkerboard-modulated disk) | blob (disk)
      radius: [2.5, 3.5]             # pixels, drawn uniformly (a number fixes it)
      contrast: [0.8, 1.2]           # amplitude, drawn uniformly (a number fixes it)
      kappa: 0.1                     # visibility ||A delta|| / ||delta||, in (0, 0.5]
      margin: 8                      # centre at least this many pixels from the border
      window: 3                      # local bound: disk of radius + 3 pixels around it
    training:                        # the U-Net trained on data with details
      train: 2000                    # training images
      validation: 100
      detail_fraction: 0.5           # share of training images that carry a detail
      epochs: 30
      batch_size: 16
      lr: 2.0e-3                     # Adam, cosine-annealed
      channels: 16                   # U-Net width at full resolution
      scales: 3
    networks:                        # which networks to measure, with their parameters
      unet: {}                       # the detail-trained U-Net (required)
      unet-plain: {}                 # the same U-Net trained without details (optional)
      firenet: {n: 10, p: 20, lam: 1.0e-3}
      fista: {depth: 200, lam: 1.0e-3}
    pairs: 16                        # test pairs (x, x + delta)
    attack:                          # optional: worst-case amplification at a budget
      level: 0.01                    # ||e|| <= level * ||y||
      steps: 10
      restarts: 1
      jacobian_iters: 30

Errors
    :func:`load_tradeoff_config` raises one :class:`TradeoffConfigError` (a
    :class:`stablesweep.configuration.ConfigError`) listing every problem found, each
    naming the key path, the value and what is allowed; the checks are declared as the
    config kind :data:`TRADEOFF`.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from stablesweep.configuration import (
    SIGNATURES,
    ConfigError,
    ConfigKind,
    LoadedConfig,
    check_choice,
    check_folder_name,
    check_int,
    check_mapping,
    check_range,
    check_real,
    is_int,
    short,
    unknown_keys,
)

__all__ = [
    "NETWORK_KINDS",
    "TRADEOFF",
    "TradeoffConfig",
    "TradeoffConfigError",
    "load_tradeoff_config",
    "parse_tradeoff_config",
]

#: networks the experiment can measure, in table order
NETWORK_KINDS = ("unet", "unet-plain", "firenet", "fista")
DETAIL_KINDS = ("texture", "blob")
_TOP = {"name", "seed", "problem", "detail", "training", "networks", "pairs", "attack"}
_REQUIRED_TOP = ("name", "seed", "problem", "detail", "training", "networks", "pairs")
_PROBLEM = {"transform", "resolution", "wavelet", "sampling"}
_SAMPLING = {"rate", "full_levels", "decay", "seed"}
_DETAIL = {"kind", "radius", "contrast", "kappa", "margin", "window"}
_TRAINING = {"train", "validation", "detail_fraction", "epochs", "batch_size", "lr",
             "channels", "scales"}
_TRAINING_DEFAULTS: dict[str, Any] = {"validation": 100, "detail_fraction": 0.5,
                                      "batch_size": 16, "lr": 2e-3, "channels": 16,
                                      "scales": 3}
_NET_PARAMS = {"unet": set(), "unet-plain": set(), "firenet": {"n", "p", "lam"},
               "fista": {"depth", "lam"}}
_ATTACK = {"level", "steps", "restarts", "jacobian_iters"}
_ATTACK_DEFAULTS: dict[str, Any] = {"steps": 10, "restarts": 1, "jacobian_iters": 30}


class TradeoffConfigError(ConfigError):
    """An invalid trade-off config (the :class:`ConfigError` of kind ``tradeoff``)."""

    default_kind = "tradeoff"


@dataclass(frozen=True)
class TradeoffConfig(LoadedConfig):
    """A validated config, defaults filled in (a :class:`LoadedConfig`: ``data``,
    ``text``, ``source``, ``name``, ``seed``, ``hash``)."""

    @property
    def problem(self) -> dict[str, Any]:
        return self.data["problem"]

    @property
    def detail(self) -> dict[str, Any]:
        return self.data["detail"]

    @property
    def training(self) -> dict[str, Any]:
        return self.data["training"]

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        """``{kind: params}`` in the order of :data:`NETWORK_KINDS`."""
        nets = self.data["networks"]
        return {k: dict(nets[k] or {}) for k in NETWORK_KINDS if k in nets}

    @property
    def pairs(self) -> int:
        return int(self.data["pairs"])

    @property
    def attack(self) -> dict[str, Any] | None:
        return self.data.get("attack")


def load_tradeoff_config(path: str | os.PathLike) -> TradeoffConfig:
    """Read and validate a trade-off config file.

    Parameters
    ----------
    path : path-like
        YAML file.

    Returns
    -------
    TradeoffConfig

    Raises
    ------
    TradeoffConfigError
        Unknown keys or bad values (all of them, one line each), or the one problem
        that stops reading: a missing or unreadable file, a directory, invalid YAML, or
        a config of another kind (named, with the command that runs it).
    """
    _, raw, where = TRADEOFF.read(os.fspath(path))
    return parse_tradeoff_config(raw, source=where)


def parse_tradeoff_config(raw: Any, *, source: str | None = None) -> TradeoffConfig:
    """Validate a config mapping; see :func:`load_tradeoff_config`."""
    TRADEOFF.raise_problems(TRADEOFF.problems(raw), source)
    data = copy.deepcopy(dict(raw))
    data["training"] = {**_TRAINING_DEFAULTS, **data["training"]}
    data["problem"].setdefault("wavelet", "haar")
    data["detail"].setdefault("margin", max(1, int(data["problem"]["resolution"]) // 4))
    data["detail"].setdefault("window", 3)
    data["networks"] = {k: dict(v or {}) for k, v in data["networks"].items()}
    if data.get("attack") is not None:
        data["attack"] = {**_ATTACK_DEFAULTS, **data["attack"]}
    else:
        data.pop("attack", None)
    text = yaml.safe_dump(data, sort_keys=False)
    return TradeoffConfig(data=data, text=text, source=source)


# --------------------------------------------------------------------------- validation


def _validate(data: Mapping[str, Any]) -> list[str]:
    out = unknown_keys("", data, _TOP)
    out += [f"{k}: missing" for k in _REQUIRED_TOP if k not in data]
    if "name" in data:
        check_folder_name(out, "name", data["name"])
    if "seed" in data:
        check_int(out, "seed", data["seed"], 0)
    if "pairs" in data:
        check_int(out, "pairs", data["pairs"], 1, 10_000)
    n = _validate_problem(out, data.get("problem")) if "problem" in data else None
    if "detail" in data:
        _validate_detail(out, data["detail"], n)
    if "training" in data:
        _validate_training(out, data["training"])
    if "networks" in data:
        _validate_networks(out, data["networks"])
    if data.get("attack") is not None:
        a = data["attack"]
        if check_mapping(out, "attack", a, _ATTACK, ("level",)):
            if "level" in a:
                check_real(out, "attack.level", a["level"], 0.0, 1.0)
            for k in ("steps", "restarts", "jacobian_iters"):
                if k in a:
                    check_int(out, f"attack.{k}", a[k], 1, 10_000)
    return out


def _validate_problem(out: list[str], p: Any) -> int | None:
    if not check_mapping(out, "problem", p, _PROBLEM, ("transform", "resolution", "sampling")):
        return None
    if "transform" in p:
        check_choice(out, "problem.transform", p["transform"], ("fourier", "walsh"))
    n = p.get("resolution")
    ok_n = is_int(n) and 8 <= n <= 1024 and n & (n - 1) == 0
    if "resolution" in p and not ok_n:
        out.append(f"problem.resolution: {short(n)} is not valid; expected a power of two "
                   "in 8..1024")
    if "wavelet" in p:
        try:
            from stablesweep.transforms import check_wavelet

            if not isinstance(p["wavelet"], str):
                raise ValueError(f"{short(p['wavelet'])} is not a wavelet name")
            check_wavelet(p["wavelet"])
        except (ValueError, TypeError) as err:
            out.append(f"problem.wavelet: {err}")
    s = p.get("sampling")
    if "sampling" in p and check_mapping(out, "problem.sampling", s, _SAMPLING, ("rate", "seed")):
        if "rate" in s:
            check_real(out, "problem.sampling.rate", s["rate"], 0.0, 1.0)
        if "seed" in s:
            check_int(out, "problem.sampling.seed", s["seed"], 0)
        if "decay" in s:
            check_real(out, "problem.sampling.decay", s["decay"], 0.0, 1.0)
        if "full_levels" in s:
            r = int(math.log2(n)) if ok_n else 30
            check_int(out, "problem.sampling.full_levels", s["full_levels"], 0, r)
    return int(n) if ok_n else None


def _validate_detail(out: list[str], d: Any, n: int | None) -> None:
    if not check_mapping(out, "detail", d, _DETAIL, ("kind", "radius", "contrast", "kappa")):
        return
    if "kind" in d:
        check_choice(out, "detail.kind", d["kind"], DETAIL_KINDS)
    if "radius" in d:
        check_range(out, "detail.radius", d["radius"], 0.0)
    if "contrast" in d:
        check_range(out, "detail.contrast", d["contrast"], 0.0)
    if "kappa" in d:
        check_real(out, "detail.kappa", d["kappa"], 0.0, 0.5)
    if "margin" in d:
        hi = n // 2 - 1 if n else 10_000
        check_int(out, "detail.margin", d["margin"], 0, hi)
    if "window" in d:
        check_real(out, "detail.window", d["window"], 0.0, lo_open=False)


def _validate_training(out: list[str], t: Any) -> None:
    if not check_mapping(out, "training", t, _TRAINING, ("train", "epochs")):
        return
    for key, lo in (("train", 2), ("validation", 1), ("epochs", 1), ("batch_size", 1),
                    ("channels", 1), ("scales", 1)):
        if key in t:
            check_int(out, f"training.{key}", t[key], lo, 1_000_000)
    if "detail_fraction" in t:
        check_real(out, "training.detail_fraction", t["detail_fraction"], 0.0, 1.0, lo_open=False)
    if "lr" in t:
        check_real(out, "training.lr", t["lr"], 0.0, 1.0)


def _validate_networks(out: list[str], nets: Any) -> None:
    if not check_mapping(out, "networks", nets, set(NETWORK_KINDS), ("unet",)):
        return
    for kind, params in nets.items():
        if kind not in _NET_PARAMS:
            continue
        path = f"networks.{kind}"
        if params is None:
            continue
        if not isinstance(params, Mapping):
            out.append(f"{path}: {short(params)}; expected a mapping of parameters "
                       f"({', '.join(sorted(_NET_PARAMS[kind])) or 'none'})")
            continue
        allowed = _NET_PARAMS[kind]
        out += [f"{path}.{k}: unknown parameter; allowed: {', '.join(sorted(allowed)) or 'none'}"
                for k in params if k not in allowed]
        for k in ("n", "p", "depth"):
            if k in params and k in allowed:
                check_int(out, f"{path}.{k}", params[k], 1, 100_000)
        if "lam" in params and "lam" in allowed:
            check_real(out, f"{path}.lam", params["lam"], 0.0)


#: The trade-off config kind: hand-written checks (no JSON schema), all problems at once.
TRADEOFF = ConfigKind(SIGNATURES["tradeoff"], error=TradeoffConfigError, checks=(_validate,))
