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
    :func:`load_tradeoff_config` raises one :class:`TradeoffConfigError` listing every
    problem found, each naming the key path, the value and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stablesweep.yaml_loader import load_yaml

__all__ = [
    "NETWORK_KINDS",
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


class TradeoffConfigError(ValueError):
    """An invalid trade-off config; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" {source}" if source else ""
        n = len(self.problems)
        head = f"invalid tradeoff config{where}: {n} problem{'s' if n != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True)
class TradeoffConfig:
    """A validated config (defaults filled in).

    Attributes
    ----------
    data : dict
        The normalised config.
    text : str
        YAML of ``data`` (stored as provenance).
    source : str or None
        The YAML file it came from.
    """

    data: dict[str, Any]
    text: str
    source: str | None = None

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

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

    @property
    def hash(self) -> str:
        """SHA-256 of the normalised config (sorted JSON), first 16 hex digits."""
        blob = json.dumps(self.data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


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
        A missing or unreadable file, YAML syntax, unknown keys or bad values (all of
        them, one line each).
    """
    path = Path(path)
    if not path.is_file():
        raise TradeoffConfigError([f"file '{path}' does not exist"], str(path))
    try:
        raw = load_yaml(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise TradeoffConfigError([f"YAML syntax: {err}"], str(path)) from err
    return parse_tradeoff_config(raw, source=str(path))


def parse_tradeoff_config(raw: Any, *, source: str | None = None) -> TradeoffConfig:
    """Validate a config mapping; see :func:`load_tradeoff_config`."""
    if not isinstance(raw, Mapping):
        raise TradeoffConfigError(
            [f"top level: {_short(raw)}; expected a mapping with keys "
             f"{', '.join(_REQUIRED_TOP)}"], source)
    data = copy.deepcopy(dict(raw))
    problems = _validate(data)
    if problems:
        raise TradeoffConfigError(problems, source)
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


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _unknown(path: str, mapping: Mapping, allowed: set[str]) -> list[str]:
    return [f"{path}{k}: unknown key; allowed: {', '.join(sorted(allowed))}"
            for k in mapping if k not in allowed]


def _mapping(out: list[str], path: str, v: Any, allowed: set[str],
             required: Sequence[str] = ()) -> bool:
    """Check that ``v`` is a mapping with known keys and the required ones."""
    if not isinstance(v, Mapping):
        out.append(f"{path}: {_short(v)}; expected a mapping with keys "
                   f"{', '.join(sorted(allowed))}")
        return False
    out += _unknown(f"{path}.", v, allowed)
    out += [f"{path}.{k}: missing" for k in required if k not in v]
    return True


def _int(out: list[str], path: str, v: Any, minimum: int, maximum: int | None = None) -> None:
    if not (_is_int(v) and v >= minimum and (maximum is None or v <= maximum)):
        rng = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        out.append(f"{path}: {_short(v)} is not valid; expected an integer {rng}")


def _real(out: list[str], path: str, v: Any, lo: float, hi: float | None = None, *,
          lo_open: bool = True, hi_open: bool = False) -> None:
    ok = _is_real(v) and (v > lo if lo_open else v >= lo)
    if hi is not None:
        ok = ok and (v < hi if hi_open else v <= hi)
    if not ok:
        left = "(" if lo_open else "["
        right = "]" if hi is None or not hi_open else ")"
        top = "inf)" if hi is None else f"{hi:g}{right}"
        out.append(f"{path}: {_short(v)} is not valid; expected a number in {left}{lo:g}, {top}")


def _range(out: list[str], path: str, v: Any, lo: float) -> None:
    """A number > lo, or a [min, max] pair of such numbers with min <= max."""
    if _is_real(v):
        if v <= lo:
            out.append(f"{path}: {_short(v)} is not valid; expected a number > {lo:g} or a "
                       f"[min, max] pair of them")
        return
    if (isinstance(v, list) and len(v) == 2 and all(_is_real(t) and t > lo for t in v)
            and v[0] <= v[1]):
        return
    out.append(f"{path}: {_short(v)} is not valid; expected a number > {lo:g} or a "
               f"[min, max] pair of them with min <= max")


def _validate(data: Mapping[str, Any]) -> list[str]:
    out = _unknown("", data, _TOP)
    out += [f"{k}: missing" for k in _REQUIRED_TOP if k not in data]
    if "name" in data:
        name = data["name"]
        if not (isinstance(name, str) and name and not name.startswith(".")
                and all(c.isalnum() or c in "-_." for c in name)):
            out.append(f"name: {_short(name)} is not valid; expected a non-empty folder name "
                       "of letters, digits, '-', '_', '.'")
    if "seed" in data:
        _int(out, "seed", data["seed"], 0)
    if "pairs" in data:
        _int(out, "pairs", data["pairs"], 1, 10_000)
    n = _validate_problem(out, data.get("problem")) if "problem" in data else None
    if "detail" in data:
        _validate_detail(out, data["detail"], n)
    if "training" in data:
        _validate_training(out, data["training"])
    if "networks" in data:
        _validate_networks(out, data["networks"])
    if data.get("attack") is not None:
        a = data["attack"]
        if _mapping(out, "attack", a, _ATTACK, ("level",)):
            if "level" in a:
                _real(out, "attack.level", a["level"], 0.0, 1.0)
            for k in ("steps", "restarts", "jacobian_iters"):
                if k in a:
                    _int(out, f"attack.{k}", a[k], 1, 10_000)
    return out


def _validate_problem(out: list[str], p: Any) -> int | None:
    if not _mapping(out, "problem", p, _PROBLEM, ("transform", "resolution", "sampling")):
        return None
    if "transform" in p and p["transform"] not in ("fourier", "walsh"):
        out.append(f"problem.transform: {_short(p['transform'])} is not valid; expected one "
                   "of: fourier, walsh")
    n = p.get("resolution")
    ok_n = _is_int(n) and 8 <= n <= 1024 and n & (n - 1) == 0
    if "resolution" in p and not ok_n:
        out.append(f"problem.resolution: {_short(n)} is not valid; expected a power of two "
                   "in 8..1024")
    if "wavelet" in p:
        try:
            from stablesweep.transforms import check_wavelet

            if not isinstance(p["wavelet"], str):
                raise ValueError(f"{_short(p['wavelet'])} is not a wavelet name")
            check_wavelet(p["wavelet"])
        except (ValueError, TypeError) as err:
            out.append(f"problem.wavelet: {err}")
    s = p.get("sampling")
    if "sampling" in p and _mapping(out, "problem.sampling", s, _SAMPLING, ("rate", "seed")):
        if "rate" in s:
            _real(out, "problem.sampling.rate", s["rate"], 0.0, 1.0)
        if "seed" in s:
            _int(out, "problem.sampling.seed", s["seed"], 0)
        if "decay" in s:
            _real(out, "problem.sampling.decay", s["decay"], 0.0, 1.0)
        if "full_levels" in s:
            r = int(math.log2(n)) if ok_n else 30
            _int(out, "problem.sampling.full_levels", s["full_levels"], 0, r)
    return int(n) if ok_n else None


def _validate_detail(out: list[str], d: Any, n: int | None) -> None:
    if not _mapping(out, "detail", d, _DETAIL, ("kind", "radius", "contrast", "kappa")):
        return
    if "kind" in d and d["kind"] not in DETAIL_KINDS:
        out.append(f"detail.kind: {_short(d['kind'])} is not valid; expected one of: "
                   f"{', '.join(DETAIL_KINDS)}")
    if "radius" in d:
        _range(out, "detail.radius", d["radius"], 0.0)
    if "contrast" in d:
        _range(out, "detail.contrast", d["contrast"], 0.0)
    if "kappa" in d:
        _real(out, "detail.kappa", d["kappa"], 0.0, 0.5)
    if "margin" in d:
        hi = n // 2 - 1 if n else 10_000
        _int(out, "detail.margin", d["margin"], 0, hi)
    if "window" in d:
        _real(out, "detail.window", d["window"], 0.0, lo_open=False)


def _validate_training(out: list[str], t: Any) -> None:
    if not _mapping(out, "training", t, _TRAINING, ("train", "epochs")):
        return
    for key, lo in (("train", 2), ("validation", 1), ("epochs", 1), ("batch_size", 1),
                    ("channels", 1), ("scales", 1)):
        if key in t:
            _int(out, f"training.{key}", t[key], lo, 1_000_000)
    if "detail_fraction" in t:
        _real(out, "training.detail_fraction", t["detail_fraction"], 0.0, 1.0, lo_open=False)
    if "lr" in t:
        _real(out, "training.lr", t["lr"], 0.0, 1.0)


def _validate_networks(out: list[str], nets: Any) -> None:
    if not _mapping(out, "networks", nets, set(NETWORK_KINDS), ("unet",)):
        return
    for kind, params in nets.items():
        if kind not in _NET_PARAMS:
            continue
        path = f"networks.{kind}"
        if params is None:
            continue
        if not isinstance(params, Mapping):
            out.append(f"{path}: {_short(params)}; expected a mapping of parameters "
                       f"({', '.join(sorted(_NET_PARAMS[kind])) or 'none'})")
            continue
        allowed = _NET_PARAMS[kind]
        out += [f"{path}.{k}: unknown parameter; allowed: {', '.join(sorted(allowed)) or 'none'}"
                for k in params if k not in allowed]
        for k in ("n", "p", "depth"):
            if k in params and k in allowed:
                _int(out, f"{path}.{k}", params[k], 1, 100_000)
        if "lam" in params and "lam" in allowed:
            _real(out, f"{path}.lam", params["lam"], 0.0)
