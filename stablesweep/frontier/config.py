r"""Configs of the accuracy–stability frontier: loading, validation, the models they name.

A config is a YAML mapping (``config/frontier/frontier-32.yaml``)::

    name: frontier-32                # results/frontier/<name>
    seed: 0                          # test pairs and attacks (training: training.seeds)
    problem:                         # as in a trade-off config (stablesweep.tradeoff.config)
      transform: fourier
      resolution: 32
      wavelet: haar
      sampling: {scheme: radial, lines: 5}   # or a multilevel block {rate, seed, ...}
    detail:                          # the near-kernel details (stablesweep.tradeoff.pairs);
      kind: texture                  # kappa is the visibility of the grid's models
      radius: [2.5, 3.5]
      contrast: [0.8, 1.2]
      kappa: 0.1
    training:                        # one recipe for every trained model
      train: 1000
      validation: 100
      epochs: 15
      batch_size: 16
      lr: 2.0e-3                     # Adam, cosine-annealed
      seeds: [0, 1, 2]
    architectures:                   # the trained networks and their parameters
      unet: {channels: 16, scales: 3}
      learned-pd: {layers: 4, hidden: 16}
    grid:                            # every architecture x weight x noise x seed
      detail_weight: [0.0, 0.25, 0.5, 1.0]   # share of training images with a detail
      noise: [0.0, 0.02, 0.08]       # training jitter: ||e|| = u * noise * ||y||, u ~ U(0,1)
    visibility:                      # extra models for the 1/kappa sweep
      kappa: [0.05, 0.1, 0.2]
      detail_weight: 1.0             # (one of grid.detail_weight)
      noise: 0.0                     # (one of grid.noise)
    references:                      # untrained reference networks (all optional)
      firenet: {n: 10, p: 20, lam: 1.0e-3}
      fista: {depth: 200, lam: 1.0e-3}
      primal-dual: {depth: 200, lam: 1.0e-3}
      zero-filling: {}
    models: models/frontier-32       # shipped model files, used where their hash matches
    pairs: 16                        # test pairs (x, x + delta) per visibility
    attack: {steps: 50, restarts: 1, jacobian_iters: 10, tol: 1.0e-3, patience: 5}
    robustness:                      # worst-case error over ||e|| <= eta ||y||, per budget
      budgets: [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08]
      steps: 50
      restarts: 1
      tol: 1.0e-3
      patience: 5

Models
    :func:`model_specs` lists every trained model the config names: the grid
    (architecture × detail weight × noise × seed, at ``detail.kappa``) and, for the
    visibility sweep, ``architecture × visibility.kappa × seed`` at
    ``visibility.detail_weight`` and ``visibility.noise`` (those at ``detail.kappa`` are
    grid models). :func:`reference_specs` lists the untrained references. Each has an id
    (:attr:`ModelSpec.id`, e.g. ``unet-w0.5-n0.02-k0.1-s1``) that names its model file,
    its measurement file and its workflow job.

Errors
    :func:`load_frontier_config` raises one :class:`FrontierConfigError` (a
    :class:`stablesweep.configuration.ConfigError`) listing every problem, each naming
    the key path, the value and what is allowed.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stablesweep.configuration import SIGNATURES, ConfigError, ConfigKind, is_real, short
from stablesweep.tradeoff.config import PairsExperimentConfig

__all__ = [
    "ARCHITECTURES",
    "FRONTIER",
    "REFERENCES",
    "FrontierConfig",
    "FrontierConfigError",
    "ModelSpec",
    "load_frontier_config",
    "model_specs",
    "parse_frontier_config",
    "reference_specs",
]

#: trained architectures and their parameters' defaults
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "unet": {"channels": 16, "scales": 3},
    "learned-pd": {"layers": 4, "hidden": 16},
}
#: untrained reference networks, in table order
REFERENCES = ("firenet", "fista", "primal-dual", "zero-filling")
_TRAINING_DEFAULTS: dict[str, Any] = {"validation": 100, "batch_size": 16, "lr": 2e-3}
_ATTACK_DEFAULTS: dict[str, Any] = {"steps": 50, "restarts": 1, "jacobian_iters": 10,
                                    "tol": 1e-3, "patience": 5, "step_size": 1.0}
_ROBUST_DEFAULTS: dict[str, Any] = {"steps": 50, "restarts": 1, "jacobian_iters": 10,
                                    "tol": 1e-3, "patience": 5, "step_size": 1.0}


class FrontierConfigError(ConfigError):
    """An invalid frontier config (the :class:`ConfigError` of kind ``frontier``)."""

    default_kind = "frontier"


@dataclass(frozen=True)
class ModelSpec:
    """One network of the frontier: a trained model or an untrained reference.

    Attributes
    ----------
    arch : str
        ``unet``, ``learned-pd`` (trained) or one of :data:`REFERENCES`.
    detail_weight, noise, kappa : float
        Training data: the share of images with a near-kernel detail, the training
        jitter, the details' visibility (NaN for references; ``kappa`` of a reference is
        the config's ``detail.kappa``).
    seed : int
        Training seed (-1 for references).
    """

    arch: str
    detail_weight: float = float("nan")
    noise: float = float("nan")
    kappa: float = float("nan")
    seed: int = -1

    @property
    def trained(self) -> bool:
        return self.arch in ARCHITECTURES

    @property
    def id(self) -> str:
        """File and job name: ``<arch>-w<weight>-n<noise>-k<kappa>-s<seed>`` or ``<arch>``."""
        if not self.trained:
            return self.arch
        return (f"{self.arch}-w{_num(self.detail_weight)}-n{_num(self.noise)}"
                f"-k{_num(self.kappa)}-s{self.seed}")


def _num(v: float) -> str:
    return repr(float(v)).rstrip("0").rstrip(".") if float(v) != 0 else "0"


@dataclass(frozen=True)
class FrontierConfig(PairsExperimentConfig):
    """A validated frontier config, defaults filled in (the trade-off's problem, detail,
    training, models and pairs, and the frontier's own keys)."""

    @property
    def kappa(self) -> float:
        """The grid's visibility, ``detail.kappa``."""
        return float(self.data["detail"]["kappa"])

    @property
    def architectures(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.data["architectures"].items()}

    @property
    def grid(self) -> dict[str, list[float]]:
        return {k: [float(x) for x in v] for k, v in self.data["grid"].items()}

    @property
    def visibility(self) -> dict[str, Any] | None:
        return self.data.get("visibility")

    @property
    def kappas(self) -> list[float]:
        """Every visibility measured: ``detail.kappa`` and those of ``visibility``."""
        ks = {self.kappa}
        if self.visibility:
            ks.update(float(k) for k in self.visibility["kappa"])
        return sorted(ks)

    @property
    def references(self) -> dict[str, dict[str, Any]]:
        refs = self.data.get("references") or {}
        return {k: dict(refs[k] or {}) for k in REFERENCES if k in refs}

    @property
    def attack(self) -> dict[str, Any]:
        return self.data["attack"]

    @property
    def robustness(self) -> dict[str, Any]:
        return self.data["robustness"]

    @property
    def budgets(self) -> list[float]:
        return [float(b) for b in self.robustness["budgets"]]

    def detail_at(self, kappa: float) -> dict[str, Any]:
        """The ``detail`` block with visibility ``kappa``."""
        return {**self.detail, "kappa": float(kappa)}

    def spec(self, model_id: str) -> ModelSpec:
        """The model or reference of this id (``ValueError`` naming the ids otherwise)."""
        for s in [*model_specs(self), *reference_specs(self)]:
            if s.id == model_id:
                return s
        known = [s.id for s in [*model_specs(self), *reference_specs(self)]]
        raise ValueError(f"model {model_id!r} is not in config {self.name}; expected one of "
                         f"{len(known)} ids, e.g. {', '.join(known[:3])} ... {known[-1]}")


def model_specs(cfg: FrontierConfig) -> list[ModelSpec]:
    """Every trained model of the config, in a fixed order (see the module docstring)."""
    out: list[ModelSpec] = []
    for arch in cfg.architectures:
        for w in cfg.grid["detail_weight"]:
            for nz in cfg.grid["noise"]:
                out.extend(ModelSpec(arch, w, nz, cfg.kappa, s) for s in cfg.seeds)
        vis = cfg.visibility
        if vis:
            w, nz = float(vis["detail_weight"]), float(vis["noise"])
            for k in vis["kappa"]:
                if float(k) != cfg.kappa:
                    out.extend(ModelSpec(arch, w, nz, float(k), s) for s in cfg.seeds)
    return out


def reference_specs(cfg: FrontierConfig) -> list[ModelSpec]:
    """The untrained references, each measured at ``detail.kappa``."""
    return [ModelSpec(r, kappa=cfg.kappa) for r in cfg.references]


def load_frontier_config(path: str | os.PathLike) -> FrontierConfig:
    """Read and validate a frontier config file (see the module docstring).

    Raises
    ------
    FrontierConfigError
        Every problem, one line each; or the one that stops reading (a missing file,
        invalid YAML, a config of another kind named with its command).
    """
    _, raw, where = FRONTIER.read(os.fspath(path))
    return parse_frontier_config(raw, source=where)


def parse_frontier_config(raw: Any, *, source: str | None = None) -> FrontierConfig:
    """Validate a config mapping; see :func:`load_frontier_config`."""
    from stablesweep.tradeoff.config import with_shared_defaults

    FRONTIER.raise_problems(FRONTIER.problems(raw), source)
    data = with_shared_defaults(raw, _TRAINING_DEFAULTS)
    data["architectures"] = {k: {**ARCHITECTURES[k], **(v or {})}
                             for k, v in data["architectures"].items()}
    data["references"] = {k: dict(v or {}) for k, v in (data.get("references") or {}).items()}
    data["attack"] = {**_ATTACK_DEFAULTS, **(data.get("attack") or {})}
    data["robustness"] = {**_ROBUST_DEFAULTS, **data["robustness"]}
    text = yaml.safe_dump(data, sort_keys=False)
    return FrontierConfig(data=data, text=text, source=source)


# --------------------------------------------------------------------------- validation


def _schema() -> dict[str, Any]:
    """The frontier schema: the trade-off schema's ``problem``, ``detail`` and attack
    blocks (one definition of each) plus the frontier's own keys."""
    trade = json.loads(Path(__file__).parents[1].joinpath(
        "tradeoff", "config.schema.json").read_text())
    tp = trade["properties"]
    attack = copy.deepcopy(tp["attack"])
    attack["type"] = ["object", "null"]
    robust = copy.deepcopy(tp["attack"])
    robust["type"] = "object"
    robust["required"] = ["budgets"]
    robust["properties"]["budgets"] = {
        "type": "array", "minItems": 1, "maxItems": 100,
        "items": {"type": "number", "minimum": 0, "maximum": 1},
        "description": "relative budgets eta: worst case over ||e|| <= eta ||y||"}
    fraction_list = {"type": "array", "minItems": 1, "maxItems": 100,
                     "items": {"type": "number", "minimum": 0, "maximum": 1}}
    ref = {"type": ["object", "null"]}
    training = copy.deepcopy(tp["training"])
    for key in ("channels", "scales", "detail_fraction"):
        training["properties"].pop(key)
    return {
        "$schema": trade["$schema"],
        "title": "stablesweep accuracy-stability frontier config",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "seed", "problem", "detail", "training", "architectures",
                     "grid", "pairs", "robustness"],
        "properties": {
            "name": tp["name"], "seed": tp["seed"], "pairs": tp["pairs"],
            "models": tp["models"], "problem": tp["problem"], "detail": tp["detail"],
            "training": training,
            "architectures": {
                "type": "object", "additionalProperties": False, "minProperties": 1,
                "properties": {
                    "unet": {"type": ["object", "null"], "additionalProperties": False,
                             "properties": {
                                 "channels": {"type": "integer", "minimum": 1,
                                              "maximum": 1024},
                                 "scales": {"type": "integer", "minimum": 1,
                                            "maximum": 10}}},
                    "learned-pd": {"type": ["object", "null"], "additionalProperties": False,
                                   "properties": {
                                       "layers": {"type": "integer", "minimum": 1,
                                                  "maximum": 1000},
                                       "hidden": {"type": "integer", "minimum": 1,
                                                  "maximum": 1024}}}}},
            "grid": {"type": "object", "additionalProperties": False,
                     "required": ["detail_weight", "noise"],
                     "properties": {"detail_weight": fraction_list, "noise": fraction_list}},
            "visibility": {
                "type": ["object", "null"], "additionalProperties": False,
                "required": ["kappa", "detail_weight", "noise"],
                "properties": {
                    "kappa": {"type": "array", "minItems": 2, "maxItems": 100,
                              "items": {"type": "number", "exclusiveMinimum": 0,
                                        "maximum": 0.5}},
                    "detail_weight": {"type": "number", "minimum": 0, "maximum": 1},
                    "noise": {"type": "number", "minimum": 0, "maximum": 1}}},
            "references": {
                "type": ["object", "null"], "additionalProperties": False,
                "properties": {
                    "firenet": tp["networks"]["properties"]["firenet"],
                    "fista": tp["networks"]["properties"]["fista"],
                    "primal-dual": {**ref, "additionalProperties": False, "properties": {
                        "depth": {"type": "integer", "minimum": 1, "maximum": 100000},
                        "lam": {"type": "number", "exclusiveMinimum": 0}}},
                    "zero-filling": {**ref, "additionalProperties": False,
                                     "properties": {}}}},
            "attack": attack,
            "robustness": robust,
        },
        "$defs": trade["$defs"],
    }


def _validate(data: Mapping[str, Any]) -> list[str]:
    """What the schema cannot say: the trade-off's problem and detail checks, distinct
    grid values and seeds, and a visibility sweep whose weight and noise are grid values."""
    from stablesweep.tradeoff.config import _validate as tradeoff_checks

    shared = {k: data[k] for k in ("name", "problem", "detail") if k in data}
    if isinstance(data.get("training"), Mapping):
        shared["training"] = {"seeds": data["training"].get("seeds")}
    out = tradeoff_checks(shared)
    grid = data.get("grid")
    if isinstance(grid, Mapping):
        for key in ("detail_weight", "noise"):
            v = grid.get(key)
            if isinstance(v, list) and len(set(map(str, v))) < len(v):
                out.append(f"grid.{key}: {short(v)} is not valid; expected distinct values")
    vis = data.get("visibility")
    if isinstance(vis, Mapping) and isinstance(grid, Mapping):
        for key in ("detail_weight", "noise"):
            v, allowed = vis.get(key), grid.get(key)
            if is_real(v) and isinstance(allowed, list) and v not in allowed:
                out.append(f"visibility.{key}: {short(v)} is not valid; expected one of "
                           f"grid.{key} {short(allowed)}")
        ks = vis.get("kappa")
        if isinstance(ks, list) and len(set(map(str, ks))) < len(ks):
            out.append(f"visibility.kappa: {short(ks)} is not valid; expected distinct values")
    return out


#: The frontier config kind: the composed schema, then the checks above.
FRONTIER = ConfigKind(SIGNATURES["frontier"], error=FrontierConfigError, schema=_schema(),
                      checks=(_validate,))
