r"""Configs of the kernel trade-off experiment: loading, validation, defaults.

A config is a YAML mapping (``config/tradeoff/kernel-32.yaml``)::

    name: kernel-32                  # default output folder results/tradeoff/<name>
    seed: 0                          # every random draw except the mask (non-negative int)
    problem:
      transform: fourier             # fourier | walsh
      resolution: 32                 # image side, a power of two >= 8
      wavelet: haar                  # wavelet of FIRENET / FISTA
      sampling:                      # multilevel mask (see stablesweep.tradeoff.problem),
                                     # or {scheme: radial, lines: L}: L radial lines
                                     # (stablesweep.sampling.radial_mask, Fourier only)
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
      seeds: [0, 1, 2]               # training seeds (distinct); default [seed]
    models: models/tradeoff-kernel-32   # optional: shipped model files, used where they
                                     # match (stablesweep.tradeoff.models); else trained
    networks:                        # which networks to measure, with their parameters
      unet: {}                       # the detail-trained U-Net (required)
      unet-plain: {}                 # the same U-Net trained without details (optional)
      firenet: {n: 10, p: 20, lam: 1.0e-3}
      fista: {depth: 200, lam: 1.0e-3}
    pairs: 16                        # test pairs (x, x + delta)
    attack:                          # optional: worst case at the matched budget
      steps: 50                      # ||e|| <= ||A delta|| per pair, started from A delta
      restarts: 1                    # (and the Jacobian's top singular vector)
      jacobian_iters: 30
      tol: 1.0e-3                    # stop when the best grew by < tol over patience steps
      patience: 5
      step_size: 1.0

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
from pathlib import Path
from typing import Any

import yaml

from stablesweep.configuration import (
    SIGNATURES,
    ConfigError,
    ConfigKind,
    LoadedConfig,
    check_folder_name,
    is_int,
    is_real,
    short,
)

__all__ = [
    "NETWORK_KINDS",
    "PairsExperimentConfig",
    "TRADEOFF",
    "TradeoffConfig",
    "TradeoffConfigError",
    "load_tradeoff_config",
    "parse_tradeoff_config",
]

#: networks the experiment can measure, in table order
NETWORK_KINDS = ("unet", "unet-plain", "firenet", "fista")
#: kinds of near-kernel detail (the schema's detail.kind)
DETAIL_KINDS = ("texture", "blob")
_TRAINING_DEFAULTS: dict[str, Any] = {"validation": 100, "detail_fraction": 0.5,
                                      "batch_size": 16, "lr": 2e-3, "channels": 16,
                                      "scales": 3}
_ATTACK_DEFAULTS: dict[str, Any] = {"steps": 50, "restarts": 1, "jacobian_iters": 30,
                                    "tol": 1e-3, "patience": 5, "step_size": 1.0}


class TradeoffConfigError(ConfigError):
    """An invalid trade-off config (the :class:`ConfigError` of kind ``tradeoff``)."""

    default_kind = "tradeoff"


@dataclass(frozen=True)
class PairsExperimentConfig(LoadedConfig):
    """What the trade-off and the frontier configs share: a problem, near-kernel details,
    a training recipe with its seeds, shipped models and test pairs (a
    :class:`LoadedConfig`: ``data``, ``text``, ``source``, ``name``, ``seed``, ``hash``)."""

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
    def seeds(self) -> list[int]:
        """``training.seeds``: each trained network is trained once per seed."""
        return [int(s) for s in self.training["seeds"]]

    @property
    def models(self) -> str | None:
        """``models``: the folder of shipped model files, or None."""
        return self.data.get("models")

    @property
    def pairs(self) -> int:
        return int(self.data["pairs"])


@dataclass(frozen=True)
class TradeoffConfig(PairsExperimentConfig):
    """A validated trade-off config, defaults filled in."""

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        """``{kind: params}`` in the order of :data:`NETWORK_KINDS`."""
        nets = self.data["networks"]
        return {k: dict(nets[k] or {}) for k in NETWORK_KINDS if k in nets}

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


def with_shared_defaults(raw: Any, training_defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a validated config with the defaults of the blocks the trade-off and
    the frontier share: ``training`` (``training_defaults``, ``seeds`` = ``[seed]``),
    ``problem.wavelet`` (haar), ``detail.margin`` (a quarter of the side) and
    ``detail.window`` (3 pixels)."""
    data = copy.deepcopy(dict(raw))
    data["training"] = {**training_defaults, **data["training"]}
    data["training"]["seeds"] = [int(s) for s in data["training"].get("seeds",
                                                                     [data["seed"]])]
    data["problem"].setdefault("wavelet", "haar")
    data["detail"].setdefault("margin", max(1, int(data["problem"]["resolution"]) // 4))
    data["detail"].setdefault("window", 3)
    return data


def parse_tradeoff_config(raw: Any, *, source: str | None = None) -> TradeoffConfig:
    """Validate a config mapping; see :func:`load_tradeoff_config`."""
    TRADEOFF.raise_problems(TRADEOFF.problems(raw), source)
    data = with_shared_defaults(raw, _TRAINING_DEFAULTS)
    data["networks"] = {k: dict(v or {}) for k, v in data["networks"].items()}
    if data.get("attack") is not None:
        data["attack"] = {**_ATTACK_DEFAULTS, **data["attack"]}
    else:
        data.pop("attack", None)
    text = yaml.safe_dump(data, sort_keys=False)
    return TradeoffConfig(data=data, text=text, source=source)


# --------------------------------------------------------------------------- validation

#: The JSON schema of a trade-off config (keys, types, allowed values, ranges).
SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


def _validate(data: Mapping[str, Any]) -> list[str]:
    """The checks the schema cannot express (each skips values of the wrong type: the
    schema reports those)."""
    out: list[str] = []
    if isinstance(data.get("name"), str):
        check_folder_name(out, "name", data["name"])
    n = _validate_problem(out, data.get("problem"))
    t = data.get("training")
    if isinstance(t, Mapping) and isinstance(t.get("seeds"), list):
        seeds = t["seeds"]
        dup = sorted({s for s in seeds if is_int(s) and seeds.count(s) > 1})
        if dup:
            out.append(f"training.seeds: {short(seeds)} is not valid; expected distinct "
                       f"integers >= 0 (repeated: {', '.join(map(str, dup))})")
    a = data.get("attack")
    if isinstance(a, Mapping) and "level" in a:
        out.append(f"attack.level: {short(a['level'])} is no longer used; the attack's budget "
                   "is ||A delta|| of each pair (remove attack.level)")
    d = data.get("detail")
    if isinstance(d, Mapping):
        for key in ("radius", "contrast"):
            v = d.get(key)
            if isinstance(v, list) and len(v) == 2 and all(is_real(t) for t in v) \
                    and v[0] > v[1]:
                out.append(f"detail.{key}: {short(v)} is not valid; expected a number > 0 or "
                           "a [min, max] pair of them with min <= max")
        if n is not None and is_int(d.get("margin")) and d["margin"] > n // 2 - 1:
            out.append(f"detail.margin: {d['margin']} is not valid; expected an integer in "
                       f"0..{n // 2 - 1} (resolution {n})")
    return out


def _validate_problem(out: list[str], p: Any) -> int | None:
    """The resolution's power of two, the wavelet and ``full_levels`` against the
    resolution; returns the resolution where it is valid."""
    if not isinstance(p, Mapping):
        return None
    n = p.get("resolution")
    ok_n = is_int(n) and 8 <= n <= 1024 and n & (n - 1) == 0
    if is_int(n) and 8 <= n <= 1024 and not ok_n:
        out.append(f"problem.resolution: {short(n)} is not valid; expected a power of two "
                   "in 8..1024")
    if isinstance(p.get("wavelet"), str):
        try:
            from stablesweep.transforms import check_wavelet

            check_wavelet(p["wavelet"])
        except (ValueError, TypeError) as err:
            out.append(f"problem.wavelet: {err}")
    s = p.get("sampling")
    if isinstance(s, Mapping) and s.get("scheme") == "radial" and p.get("transform") == "walsh":
        out.append("problem.sampling.scheme: 'radial' is not valid with transform 'walsh'; "
                   "expected transform 'fourier' (Walsh sequencies have no angle)")
    if ok_n and isinstance(s, Mapping) and is_int(s.get("full_levels")):
        r = int(math.log2(n))
        if s["full_levels"] > r:
            out.append(f"problem.sampling.full_levels: {s['full_levels']} is not valid; "
                       f"expected an integer in 0..{r} (resolution {n} has {r} levels)")
    return int(n) if ok_n else None


#: The trade-off config kind: its JSON schema, then the checks above; all problems at once.
TRADEOFF = ConfigKind(SIGNATURES["tradeoff"], error=TradeoffConfigError, schema=SCHEMA_PATH,
                      checks=(_validate,))
