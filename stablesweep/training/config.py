r"""Training configs: loading, profiles, validation and the normalised :class:`TrainingConfig`.

A training config is a YAML mapping::

    name: unet-64                  # the model goes to <models dir>/<name>/model.pt
    seed: 0                        # data, initialisation and shuffling (non-negative int)
    network:
      name: unet                   # unet | learned-pd
      params: {channels: 16, scales: 3}
    problem:
      transform: fourier           # fourier | walsh
      resolution: 64               # image side, a power of two (2-D images)
      wavelet: haar                # orthogonal PyWavelets wavelet (default haar)
      sampling:                    # the FIXED mask the network is trained for
        scheme: theory             # theory | uniform | radial (with lines: L, no rate/seed)
        rate: 0.2                  # m = round(rate * N)
        sparsity: [4, 12, 36, 96, 160, 192]   # local sparsities (scheme theory)
        seed: 1                    # seed of the mask draw
        # or: mask_from: results/models/other/model.pt   (reuse a trained mask)
    data:
      train: 1000                  # training images (random ellipse phantoms)
      validation: 100              # validation images (drawn from their own stream)
      details: true                # small low-contrast details in the phantoms
      noise: 0.0                   # relative measurement noise ||e|| / ||Ax||
    training:
      epochs: 20
      batch_size: 16
      lr: 1.0e-3                   # Adam
      weight_decay: 0.0
      schedule: cosine             # cosine | constant (learning rate over the epochs)
      dtype: float32               # float32 | float64 (the saved network runs in float64)
      device: auto                 # auto (cuda when available) | cpu | cuda | cuda:1 ...
      keep: best                   # best (lowest validation loss) | last
    profiles:                      # optional named overrides, merged in by `--profile`
      paper: {data: {train: 20000}, training: {epochs: 200, batch_size: 32}}

A profile is merged recursively into the config (mappings merge, other values
replace) and its name is appended to ``name`` (``unet-64`` -> ``unet-64-paper``), so
the two models never share a folder.

Seeds
    ``seed`` feeds a :class:`numpy.random.SeedSequence`; its spawned children seed, in
    this order, the training images (and their noise), the validation images, the
    network initialisation and the shuffling generator. The mask has its own
    ``sampling.seed``, so that networks trained with different data seeds can share a
    mask. Two configs with the same ``problem`` give the same mask.

Errors
    :func:`load_training_config` raises one :class:`TrainingConfigError` (a
    :class:`stablesweep.configuration.ConfigError`) listing every problem found, each
    naming the key path, the value and what is allowed; the checks are declared as the
    config kind :data:`TRAINING`.
"""

from __future__ import annotations

import copy
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
    merge,
    short,
)

__all__ = [
    "network_names",
    "TRAINING",
    "TrainingConfig",
    "TrainingConfigError",
    "load_training_config",
    "merge",
    "parse_training_config",
]

_TRAINING_DEFAULTS: dict[str, Any] = {
    "epochs": 20, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.0, "schedule": "cosine",
    "dtype": "float32", "device": "auto", "keep": "best",
}
_DATA_DEFAULTS: dict[str, Any] = {"validation": 100, "details": True, "noise": 0.0}


class TrainingConfigError(ConfigError):
    """An invalid training config (the :class:`ConfigError` of kind ``training``)."""

    default_kind = "training"


@dataclass(frozen=True)
class TrainingConfig(LoadedConfig):
    """A validated training config (a :class:`LoadedConfig`: ``data``, ``text``,
    ``source``, ``name``, ``seed``, ``hash``).

    Attributes
    ----------
    data : dict
        The normalised config (profile merged in, defaults filled, ``profiles`` removed).
    text : str
        YAML of ``data`` (stored in the model file).
    source : str or None
        Path of the YAML file.
    profile : str or None
        The profile merged in.
    """

    profile: str | None = None

    @property
    def network(self) -> str:
        return str(self.data["network"]["name"])

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.data["network"].get("params") or {})

    @property
    def problem(self) -> dict[str, Any]:
        return self.data["problem"]

    @property
    def sampling(self) -> dict[str, Any]:
        return self.data["problem"]["sampling"]

    @property
    def dataset(self) -> dict[str, Any]:
        return self.data["data"]

    @property
    def training(self) -> dict[str, Any]:
        return self.data["training"]

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainingConfig:
        """A new validated config with ``overrides`` merged in (see :func:`merge`)."""
        return parse_training_config(merge(self.data, overrides), source=self.source)


def load_training_config(
    path: str | os.PathLike, profile: str | None = None
) -> TrainingConfig:
    """Read, merge a profile into, and validate a training config.

    Parameters
    ----------
    path : path-like
        YAML file.
    profile : str, optional
        Name of an entry of ``profiles`` to merge in.

    Returns
    -------
    TrainingConfig

    Raises
    ------
    TrainingConfigError
        Every problem found (unknown keys, bad values, unknown profile), or the one
        that stops reading: a missing file, a directory, invalid YAML, or a config of
        another kind (named, with the command that runs it).
    """
    _, raw, where = TRAINING.read(os.fspath(path))
    return parse_training_config(raw, source=where, profile=profile)


def parse_training_config(
    raw: Any, *, source: str | None = None, profile: str | None = None
) -> TrainingConfig:
    """Validate a config mapping (see the module docstring); see :func:`load_training_config`."""
    if not isinstance(raw, Mapping):
        TRAINING.raise_problems(TRAINING.problems(raw), source)
    data = copy.deepcopy(dict(raw))
    profiles = data.pop("profiles", None) or {}
    problems: list[str] = []
    if not isinstance(profiles, Mapping):
        problems.append(f"profiles: {short(profiles)}; expected a mapping of name -> overrides")
        profiles = {}
    if profile is not None:
        if profile not in profiles:
            known = ", ".join(map(str, profiles)) or "(none defined)"
            raise TrainingConfigError(
                [f"profile {profile!r} is not defined; expected one of: {known}"], source
            )
        if not isinstance(profiles[profile], Mapping):
            raise TrainingConfigError(
                [f"profiles.{profile}: {short(profiles[profile])}; expected a mapping"], source
            )
        data = merge(data, profiles[profile])
        if isinstance(data.get("name"), str):
            data["name"] = f"{data['name']}-{profile}"
    problems += TRAINING.problems(data)
    TRAINING.raise_problems(problems, source)
    data["training"] = {**_TRAINING_DEFAULTS, **(data.get("training") or {})}
    data["data"] = {**_DATA_DEFAULTS, **data["data"]}
    data["problem"].setdefault("wavelet", "haar")
    data["network"].setdefault("params", {})
    text = yaml.safe_dump(data, sort_keys=False)
    return TrainingConfig(data=data, text=text, source=source, profile=profile)


# --------------------------------------------------------------------------- validation

#: The JSON schema of a training config (keys, types, allowed values, ranges).
SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


def _validate(data: Mapping[str, Any]) -> list[str]:
    """The checks the schema cannot express (each skips values of the wrong type: the
    schema reports those)."""
    out: list[str] = []
    if isinstance(data.get("name"), str):
        check_folder_name(out, "name", data["name"])
    out += _validate_network(data.get("network"))
    out += _validate_problem(data.get("problem"))
    out += _validate_data(data.get("data"))
    out += _validate_training(data.get("training"))
    return out


def network_names() -> tuple[str, ...]:
    """The trainable networks: the entries of :data:`stablesweep.networks.NETWORKS`
    marked ``trainable`` (the registry is imported here, on first use, with PyTorch)."""
    from stablesweep.networks import trainable_networks

    return tuple(trainable_networks())


def _validate_network(net: Any) -> list[str]:
    if not isinstance(net, Mapping) or not isinstance(net.get("name"), str):
        return []
    if net["name"] not in network_names():
        return [f"network.name: unknown value {net['name']!r}; expected one of: "
                f"{', '.join(network_names())}"]
    params = net.get("params") or {}
    if not isinstance(params, Mapping):
        return []
    out = [f"network.params.{bad}: not allowed in a training config"
           for bad in ("checkpoint", "allow_mask_mismatch", "depth") if bad in params]
    allowed = _arch_params(net["name"])
    out += [f"network.params.{k}: unknown parameter of {net['name']!r}; allowed: "
            f"{', '.join(allowed)}" for k in params if k not in allowed and k not in
            ("checkpoint", "allow_mask_mismatch", "depth")]
    return out


def _arch_params(name: str) -> list[str]:
    if name == "unet":
        return ["channels", "scales", "convs", "kernel_size", "real_output", "residual"]
    return ["layers", "hidden", "kernel_size", "threshold", "real_output"]


def _validate_problem(problem: Any) -> list[str]:
    if not isinstance(problem, Mapping):
        return []
    out: list[str] = []
    res = problem.get("resolution")
    power = is_int(res) and res >= 4 and res & (res - 1) == 0
    if is_int(res) and res >= 4 and not power:
        out.append(f"problem.resolution: {short(res)} is not valid; expected a power of two "
                   ">= 4")
    wav = problem.get("wavelet", "haar")
    if isinstance(wav, str):
        try:
            from stablesweep.transforms import check_wavelet

            check_wavelet(wav)
        except (ValueError, TypeError) as err:
            out.append(f"problem.wavelet: {err}")
    s = problem.get("sampling")
    if not isinstance(s, Mapping):
        return out
    if "mask_from" in s:
        extra = sorted(set(s) - {"mask_from"})
        if extra:
            out.append(f"problem.sampling: {', '.join(extra)} given together with mask_from; "
                       "expected either mask_from or scheme/rate/seed")
        if isinstance(s["mask_from"], str) and os.path.isdir(s["mask_from"]):
            out.append(f"problem.sampling.mask_from: {s['mask_from']!r} is a directory; "
                       "expected a model file written by `stablesweep train` "
                       "(<models dir>/<name>/model.pt)")
        return out
    if s.get("scheme") == "radial":
        if "lines" not in s:
            out.append("problem.sampling.lines: missing; scheme 'radial' needs the number of "
                       "radial lines")
        extra = sorted(set(s) & {"rate", "seed", "sparsity"})
        if extra:
            out.append(f"problem.sampling: {', '.join(extra)} not used by scheme 'radial' "
                       "(its mask is the lines, no draw); remove them")
        if problem.get("transform") == "walsh":
            out.append("problem.sampling.scheme: 'radial' is not valid with transform "
                       "'walsh'; expected transform 'fourier'")
        return out
    if "lines" in s:
        out.append(f"problem.sampling.lines: only used by scheme 'radial', not "
                   f"{s.get('scheme')!r}")
    for key in ("scheme", "rate", "seed"):
        if key not in s:
            out.append(f"problem.sampling.{key}: missing (or give mask_from)")
    sp = s.get("sparsity")
    if s.get("scheme") == "theory":
        if sp is None:
            out.append("problem.sampling.sparsity: missing; scheme 'theory' needs the local "
                       "sparsities (one per wavelet level)")
        elif power and isinstance(sp, list) and len(sp) != res.bit_length() - 1:
            out.append(f"problem.sampling.sparsity: {len(sp)} entries but resolution {res} has "
                       f"{res.bit_length() - 1} levels; expected {res.bit_length() - 1}")
    elif sp is not None and s.get("scheme") == "uniform":
        out.append("problem.sampling.sparsity: only used by scheme 'theory'")
    return out


def _validate_data(d: Any) -> list[str]:
    if not isinstance(d, Mapping):
        return []
    ne = d.get("n_ellipses")
    if isinstance(ne, list) and len(ne) == 2 and all(is_int(v) for v in ne) and ne[0] > ne[1]:
        return [f"data.n_ellipses: {short(ne)} is not valid; expected an integer >= 0 or "
                "a range [low, high] with low <= high"]
    return []


def _validate_training(t: Any) -> list[str]:
    if not isinstance(t, Mapping):
        return []
    dev = t.get("device")
    if isinstance(dev, str) and not (dev in ("auto", "cpu") or dev.startswith("cuda")):
        return [f"training.device: {short(dev)} is not valid; expected auto, cpu, cuda or "
                "cuda:<index>"]
    return []


#: The training config kind: its JSON schema, then the checks above; all problems at once.
TRAINING = ConfigKind(SIGNATURES["training"], error=TrainingConfigError, schema=SCHEMA_PATH,
                      checks=(_validate,))
