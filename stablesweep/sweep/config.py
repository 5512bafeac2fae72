"""Experiment configs: loading, validation and the normalised :class:`SweepConfig`.

A config is a YAML mapping with the keys below (the JSON schema, ``config.schema.json``
beside this module, fixes the structure; :func:`validate` adds the semantic checks)::

    experiment: convergence          # results go to results/<experiment>/ unless --out
    seed: 0                          # global seed (non-negative integer)
    trials: 4                        # independent draws (signal, mask, noise) per cell
    problem:                         # any value may be a list: lists are sweep axes
      transform: [fourier, walsh]    # fourier | walsh
      resolution: 64                 # image side, a power of two
      dim: 2                         # 1 or 2 (default 2)
      wavelet: haar                  # orthogonal discrete PyWavelets wavelet (default haar)
      sampling: {scheme: [theory, uniform], rate: [0.15, 0.25]}
      #   or   {budgets: [[...per band...], ...]}  (flat, r**d entries in band-label order)
      #   or   {mask_from: results/models/unet-64/model.pt}  (a trained network's mask)
      signal: {kind: sparse-in-levels, sparsity: [[2, 4, 8, 16, 16, 16]]}
      #   or   {kind: image, name: camera}  |  {kind: ellipses, details: true}
      #   optional: complex: true (complex coefficients for sparse-in-levels)
      noise: [0.0, 0.001, 0.01]      # relative ||e|| / ||Ax|| (default 0)
    networks:                        # the network axis, in this order
      - {name: firenet, depth: 100, params: {lam: 1.0e-3, p: 5, delta: 1.0e-9}}
      - {name: fista, depth: 500, params: {lam: 1.0e-3}, label: fista-small-lam}
      - {name: custom, factory: "pkg.mod:fn", depth: 50, params: {...}}
    attack:                          # optional
      kind: momentum                 # or worst-case (then `levels: [...]`)
      depths: [5, 20]                # optional: attack the networks truncated at these
      params: {lam: 0.01, eta: 0.01, steps: 200, record_every: 10}
    examples:                        # optional: cells whose images are kept for figures
      - {network: firenet, trial: 0, attack_depth: 20, noise: 0.0}

Sweep axes
    In ``problem`` every value may be given as a list, which makes it a sweep axis
    (the grid is the product of all axes). The *list-valued* parameters
    ``signal.sparsity`` and ``sampling.budgets`` are resolved like this: a flat list of
    integers is one value; a list whose elements are lists is a sweep axis of such
    values (so ``sparsity: [2, 4, 8]`` is one pattern, ``sparsity: [[2, 4, 8]]`` is an
    axis of length one). A value written as a list (even of length one) becomes a
    dimension of the result store; a scalar becomes a scalar coordinate.

    The axes are named (in this order): ``transform, resolution, dim, wavelet, scheme,
    rate, budgets, mask_from, signal, sparsity, image, complex, details, noise``;
    ``signal`` is ``signal.kind``, ``image`` is ``signal.name``, ``details`` is
    ``signal.details``, ``scheme``/``rate``/``budgets``/``mask_from`` are the
    ``sampling`` keys. Pattern values are labelled by comma-joined strings
    (``"2,4,8,16,16,16"``). ``mask_from`` is never swept (one path).

Sampling
    Either ``scheme`` with ``rate`` (m = round(rate N) samples split over the bands by
    the scheme), or ``budgets`` (samples per band), or ``mask_from: PATH``: the
    sampling mask stored in a trained network's model file (written by
    ``stablesweep train``; :func:`stablesweep.training.checkpoint.load_mask`). That
    mask is fixed: every trial measures with it (no mask is drawn; signal and noise
    still differ between trials). Relative paths are relative to the working
    directory (the repository root under the workflow). Before anything runs the file
    must exist and hold a mask of the problem's transform and image shape: when
    ``transform``, ``resolution`` or ``dim`` are swept, every value must match.

Signal
    ``kind: ellipses`` draws a random phantom
    (:func:`stablesweep.signals.ellipse_phantom`); ``details: true`` adds its small
    low-contrast details, as the training data of ``config/training/*.yaml`` have
    them (only allowed when some ``kind`` is ``ellipses``; used only at those points).

Networks
    ``label`` (default: ``name``) names the entry on the ``network`` axis; labels must be
    unique. ``depth`` always counts iterations (operator applications); firenet's must be
    a multiple of ``params.p``. ``name: custom`` takes ``factory: "pkg.module:function"``,
    called as ``function(A, depth=depth, **params)`` and returning a
    :class:`~stablesweep.networks.ReconstructionNetwork`.

    *Sparsity weights from the signal.* At a grid point whose signal is
    ``sparse-in-levels``, a network whose constructor (or custom factory) names a
    parameter ``s`` and that sets neither ``s`` nor ``weights`` in ``params`` gets the
    point's sparsity pattern as ``s``, i.e. the weighted l1 norm with
    ``w_k = sqrt(s / s_k)`` on level k (:func:`stablesweep.networks.resolve_weights`);
    a factory that names only ``weights`` gets that weight map as ``weights``. Opt
    out with ``params: {s: null}`` (uniform weights, as the networks' own default) or
    set ``s`` / ``weights`` explicitly. At other points (images, ellipses) nothing is
    added. The store records each network's rule in the ``network_weights``
    coordinate and the ``network_weights`` attr (``signal``, ``params``, ``uniform``
    or ``none``: the network takes no weights).

    A network with ``params.checkpoint`` (a trained network) refuses any mask but the
    one it was trained with, so it needs ``sampling: {mask_from: ...}`` with that same
    mask (or ``params.allow_mask_mismatch: true``); the checkpoint file must exist.

Attack
    ``kind: momentum`` runs :func:`stablesweep.attacks.momentum_attack` with ``params``
    (its keyword arguments; ``record_every: k`` records every k-th step, i.e.
    ``record_at = 0, k, 2k, ..., steps``). ``kind: worst-case`` runs
    :func:`stablesweep.attacks.worst_case_noise` once per entry of ``levels`` (relative
    noise levels).

    *Attack depths.* The store's ``attack_depth`` axis holds the given ``depths`` and,
    where some network is attacked at its own depth, the sentinel :data:`OWN_DEPTH`
    (``-1``: "the network's own, full depth"); the coordinate ``attacked_depth``
    (network, attack_depth) records the depth actually attacked (0: not attacked,
    status ``skipped``).

    - ``depths`` left out: the axis is ``[-1]`` and every network is attacked at its own
      depth (its ``depth``; a U-Net's is 1).
    - ``depths`` given: a network is attacked at each given depth up to its own depth
      and skipped (NaN, ``attack_status`` ``skipped``) at deeper ones. A depth beyond
      every network's depth is an error, as is, for firenet, a depth up to its depth
      that is not a multiple of ``p``.
    - Trained networks (classes with ``algorithmic = False``: unet, learned-pd) are not
      truncated: they are attacked at their own depth only, in the ``-1`` entry (added
      to the axis after the given depths) and skipped at the given depths.

Examples
    Each entry selects one grid point (keys are axis names; an axis left out means its
    first value), one ``network`` (label; default the first), one ``trial`` (default 0)
    and, with an attack, one ``attack_depth`` (a value of the axis, ``-1`` for "own
    depth"; default the first at which that network is attacked; one where it is
    skipped is an error). For these the store keeps the image, the reconstruction
    and, with a momentum attack, the perturbed images ``x + r_j`` and their
    reconstructions.

Errors
    :func:`load_config` raises one :class:`ConfigError` listing every problem found,
    each naming the key path, the value and what is allowed. Files the config names
    (``mask_from``, network checkpoints) are checked too unless
    ``check_files=False`` (e.g. to plan a workflow whose training jobs write them).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from stablesweep.yaml_loader import load_yaml

__all__ = [
    "AXES",
    "OWN_DEPTH",
    "AttackSpec",
    "ConfigError",
    "ExampleSpec",
    "NetworkSpec",
    "SweepConfig",
    "load_config",
    "pattern_label",
    "validate",
]

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")

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
_AXIS_PATH = {name: path for name, path, _ in AXES}

#: ``attack_depth`` value meaning "each network's own (full) depth".
OWN_DEPTH = -1

ATTACK_KINDS = ("momentum", "worst-case")
#: Attack parameters that the sweep itself supplies (not settable in ``attack.params``).
_ATTACK_SUPPLIED = {"net", "A", "x", "y", "generator", "record_at", "level", "jacobian",
                    "warm_start"}
_INT_PARAMS = {"p", "steps", "record_every", "restarts", "n"}
_REAL_PARAMS = {"lam", "eta", "delta", "tau", "sigma", "gamma", "theta", "L", "L_A", "eps0",
                "step_size", "mu"}


class ConfigError(ValueError):
    """An invalid experiment config; ``problems`` lists every problem found.

    Each problem names the key path (``problem.sampling.rate[1]``), the value and what
    is allowed.
    """

    def __init__(self, problems: Sequence[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" {source}" if source else ""
        n = len(self.problems)
        head = f"invalid config{where}: {n} problem{'s' if n != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in self.problems))


# --------------------------------------------------------------------------- specs


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


@dataclass(frozen=True)
class AttackSpec:
    """The ``attack`` section.

    ``depths`` is the ``attack_depth`` axis: the given ``attack.depths``, then
    :data:`OWN_DEPTH` when some network is attacked at its own depth (``depths`` left
    out, or a trained network among the networks); see the module docstring.
    """

    kind: str
    depths: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    levels: tuple[float, ...] = ()

    @property
    def explicit(self) -> bool:
        """Whether ``attack.depths`` was given."""
        return any(d != OWN_DEPTH for d in self.depths)

    @property
    def steps(self) -> tuple[int, ...]:
        """Attack steps at which a momentum attack records (the ``attack_step`` axis)."""
        if self.kind != "momentum":
            return ()
        total = int(self.params.get("steps", 0))
        every = int(self.params.get("record_every", 1))
        steps = list(range(0, total + 1, every))
        if steps[-1] != total:
            steps.append(total)
        return tuple(steps)

    @property
    def kept_steps(self) -> tuple[int, ...]:
        """Recorded steps whose perturbations are kept for the examples (``attack_record``).

        ``params.keep_perturbations_at`` (a list of recorded steps, or ``"all"``) when
        given; otherwise three steps spread evenly over the positive recorded steps,
        ending with the last (the attack's own default). A worst-case attack keeps one
        reconstruction per noise level instead.
        """
        if self.kind != "momentum":
            return ()
        keep = self.params.get("keep_perturbations_at")
        records = [s for s in self.steps if s > 0] or list(self.steps)
        if keep == "all":
            return self.steps
        if isinstance(keep, list):
            return tuple(sorted(set(int(k) for k in keep)))
        k = min(3, len(records))
        return tuple(records[math.ceil((i + 1) * len(records) / k) - 1] for i in range(k))


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
        name = sparsity_parameter(spec)
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
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def pattern_label(value: Sequence[int]) -> str:
    """Coordinate label of a pattern value: ``[2, 4, 8] -> "2,4,8"``."""
    return ",".join(str(int(v)) for v in value)


# --------------------------------------------------------------------------- loading


def load_config(
    source: str | Path | Mapping[str, Any], *, check_files: bool = True
) -> SweepConfig:
    """Load and validate an experiment config.

    Parameters
    ----------
    source : path, YAML text or mapping
        A path to a YAML file, YAML text (anything containing a newline) or an
        already parsed mapping.
    check_files : bool
        Also check the files the config names (``sampling.mask_from``, network
        ``params.checkpoint``): they exist, and their masks fit the problem and each
        other. ``False`` checks everything else (for planning runs whose earlier
        jobs write those files); running a sweep needs ``True``.

    Returns
    -------
    SweepConfig

    Raises
    ------
    ConfigError
        Listing every problem found (schema and semantic checks), or the YAML error.
    """
    where = None
    if isinstance(source, Mapping):
        data = json.loads(json.dumps(source))  # a plain, detached copy
        text = yaml.safe_dump(data, sort_keys=False)
    else:
        if isinstance(source, Path) or "\n" not in str(source):
            path = Path(source)
            if not path.is_file():
                raise ConfigError([f"config file {str(path)!r} does not exist"])
            text, where = path.read_text(), str(path)
        else:
            text = str(source)
        try:
            data = load_yaml(text)
        except yaml.YAMLError as err:
            raise ConfigError([f"not valid YAML: {err}"], where) from None
    problems = validate(data, check_files=check_files)
    if problems:
        raise ConfigError(problems, where)
    return _build(text, data)


def _build(text: str, data: dict) -> SweepConfig:
    problem = data["problem"]
    axes: dict[str, tuple] = {}
    fixed: dict[str, Any] = {}
    for name, path, default in AXES:
        present, raw = _lookup(problem, path)
        if not present:
            if default is not None:
                fixed[name] = default
            continue
        if _is_axis(name, raw):
            axes[name] = tuple(_norm(name, v) for v in raw)
        else:
            fixed[name] = _norm(name, raw)
    networks = tuple(
        NetworkSpec(
            label=entry.get("label", entry["name"]),
            name=entry["name"],
            depth=int(entry["depth"]),
            params=dict(entry.get("params", {})),
            factory=entry.get("factory"),
            algorithmic=is_algorithmic(entry["name"]),
        )
        for entry in data["networks"]
    )
    attack = None
    if "attack" in data:
        a = data["attack"]
        depths = tuple(int(d) for d in a.get("depths", ()))
        if not depths or not all(n.algorithmic for n in networks):
            depths += (OWN_DEPTH,)
        attack = AttackSpec(
            kind=a["kind"],
            depths=depths,
            params=dict(a.get("params", {})),
            levels=tuple(float(v) for v in a.get("levels", ())),
        )
    cfg = SweepConfig(
        text=text,
        data=data,
        experiment=data["experiment"],
        seed=int(data["seed"]),
        trials=int(data["trials"]),
        axes=axes,
        fixed=fixed,
        networks=networks,
        attack=attack,
        examples=(),
        minimiser=minimiser_settings(data.get("minimiser")),
    )
    examples, _ = _examples(cfg, data.get("examples", []))
    return SweepConfig(**{**cfg.__dict__, "examples": tuple(examples)})


#: Defaults of the ``minimiser`` section (see :func:`minimiser_settings`).
MINIMISER_DEFAULTS: Mapping[str, Any] = {"tol": 1e-7, "max_iter": 100_000}


def minimiser_settings(raw: Any) -> dict[str, Any] | None:
    """The ``minimiser`` section as solver settings, or None when it is off.

    ``true`` gives :data:`MINIMISER_DEFAULTS`; a mapping overrides them (``tol``: the
    certificate, a relative primal–dual gap; ``max_iter``: the iteration cap of
    :func:`stablesweep.networks.solve_minimiser`).
    """
    if raw is None or raw is False:
        return None
    return {**MINIMISER_DEFAULTS, **(raw if isinstance(raw, Mapping) else {})}


def _lookup(problem: Mapping, path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = problem
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _is_axis(name: str, raw: Any) -> bool:
    """Whether a problem value is a sweep axis (see the module docstring)."""
    if not isinstance(raw, list):
        return False
    if name in PATTERN_AXES:
        return len(raw) > 0 and all(isinstance(v, list) for v in raw)
    return True


def _norm(name: str, value: Any) -> Any:
    if name in PATTERN_AXES:
        return tuple(int(v) for v in value)
    if name in ("rate", "noise"):
        return float(value)
    if name in ("resolution", "dim"):
        return int(value)
    if name in ("complex", "details"):
        return bool(value)
    return value


# --------------------------------------------------------------------------- validation


@cache
def schema() -> dict:
    """The JSON schema of a config (``config.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text())


def validate(data: Any, *, check_files: bool = True) -> list[str]:
    """Every problem with a parsed config: JSON schema first, then semantic checks.

    ``check_files``: see :func:`load_config`.

    Returns
    -------
    list of str
        Empty when the config is valid. Each message starts with the key path.
    """
    if not isinstance(data, Mapping):
        return [f"config: {_short(data)} is not a mapping; expected a YAML mapping of keys"]
    validator = jsonschema.Draft202012Validator(schema())
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        problems.extend(_schema_messages(err))
    problems.extend(_non_finite(data))
    # semantic checks run on whatever parts are well-formed
    problems.extend(_semantic(data, check_files))
    if not problems:
        # what needs the built grid: examples on the grid, the resources a cell needs,
        # and every network built (custom factories called) on the first grid point
        cfg = _build("", {**data, "examples": []})
        problems.extend(_examples(cfg, data.get("examples", []))[1])
        problems.extend(_check_resources(cfg))
        if not problems and check_files:
            problems.extend(_check_builds(cfg))
    return list(dict.fromkeys(problems))


def _non_finite(node: Any, path: str = "config") -> list[str]:
    """Every NaN or infinite number anywhere in the config (YAML's .nan, .inf)."""
    if isinstance(node, float) and not math.isfinite(node):
        return [f"{path}: {node} is not allowed; expected a finite number"]
    if isinstance(node, Mapping):
        return [m for k, v in node.items()
                for m in _non_finite(v, str(k) if path == "config" else f"{path}.{k}")]
    if isinstance(node, list):
        return [m for i, v in enumerate(node) for m in _non_finite(v, f"{path}[{i}]")]
    return []


#: Environment variable that skips the memory estimate (for a deliberate override).
SKIP_RESOURCE_CHECK = "STABLESWEEP_SKIP_RESOURCE_CHECK"


def cell_memory_bytes(cfg: SweepConfig) -> int:
    """Estimated peak memory of the largest cell: the stored iterates of one forward pass.

    ``(depth + 1) · N · 16`` bytes (complex128 images, N = n^d at the largest resolution,
    one per recorded depth, the deepest network) plus the store's per-trial arrays of
    that cell, ``trials · depth · 8`` bytes per variable.
    """
    n = max(int(v) for v in cfg.axes.get("resolution", (cfg.fixed.get("resolution", 2),)))
    d = max(int(v) for v in cfg.axes.get("dim", (cfg.fixed.get("dim", 2),)))
    depth = max(spec.depth for spec in cfg.networks)
    return (depth + 1) * n**d * 16 + 8 * cfg.trials * depth * 8


def _check_resources(cfg: SweepConfig) -> list[str]:
    """Refuse a sweep whose cells cannot fit this machine's memory (before any work)."""
    import os

    if os.environ.get(SKIP_RESOURCE_CHECK) == "1":
        return []
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except Exception:  # pragma: no cover - psutil is a dependency of distributed
        return []
    need = cell_memory_bytes(cfg)
    if need <= total // 2:
        return []
    gib = 2**30
    return [f"networks: one cell needs about {need / gib:.3g} GiB (depth "
            f"{max(s.depth for s in cfg.networks)} x {cfg.trials} trials at the largest "
            f"resolution); this machine has {total / gib:.3g} GiB and a cell may use at most "
            f"half of it. Lower the depth or the resolution, or set {SKIP_RESOURCE_CHECK}=1 "
            "to run it anyway (e.g. on a larger machine)"]


def _check_builds(cfg: SweepConfig) -> list[str]:
    """Build every network on the first grid point (a custom one also maps a y).

    A parameter the constructor refuses (``L: 0``, a step size too large for ‖A‖) or a
    factory that is not callable, raises, or returns something that does not map a
    measurement to an image of the right shape, is reported now instead of in every
    cell.
    """

    from stablesweep import operators

    from .cell import build_network, fixed_mask

    point = cfg.point((0,) * len(cfg.axes))
    n, d = int(point["resolution"]), int(point.get("dim", 2))
    out = []
    try:
        mask = (fixed_mask(point["mask_from"]) if point.get("mask_from") is not None
                else np.ones((n,) * d, dtype=bool))
        A = operators.SamplingOperator(point["transform"], mask,
                                       wavelet=point.get("wavelet", "haar"))
    except Exception:  # the problem checks report what is wrong with the problem
        return []
    for i, spec in enumerate(cfg.networks):
        where = f"networks[{i}]" + (".factory" if spec.factory else ".params")
        try:
            build_network(spec, A, point=point)
        except Exception as err:
            out.append(f"{where}: network {spec.label!r} cannot be built with these "
                       f"settings: {type(err).__name__}: {err}")
    return out


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "config"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(t: Any) -> str:
    names = {"integer": "an integer", "number": "a number", "string": "a string",
             "boolean": "true or false", "array": "a list", "object": "a mapping",
             "null": "null"}
    if isinstance(t, list):
        return " or ".join(names.get(x, x) for x in t)
    return names.get(t, str(t))


def _schema_messages(err: jsonschema.ValidationError) -> list[str]:
    """Readable messages for one schema error (descending into anyOf branches)."""
    if err.validator in ("anyOf", "oneOf") and err.context:
        branch = _best_branch(err)
        if isinstance(branch, str):
            return [branch]
        return [m for sub in branch for m in _schema_messages(sub)]
    path = _path(err.absolute_path)
    v, schema_ = err.instance, err.schema
    kind = err.validator
    if kind == "enum":
        allowed = ", ".join(str(x) for x in err.validator_value)
        return [f"{path}: unknown value {_short(v)}; expected one of: {allowed}"]
    if kind == "type":
        return [f"{path}: {_short(v)} is not {_type_name(err.validator_value)}"]
    if kind in _BOUNDS:
        bounds = [f"{op} {schema_[k]}" for k, op in _BOUNDS.items() if k in schema_]
        return [f"{path}: {_short(v)} is out of range; expected {' and '.join(bounds)}"]
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [f"{path}: missing required key {missing!r}"]
    if kind == "additionalProperties":
        allowed = sorted(schema_.get("properties", {}))
        extra = sorted(set(v) - set(allowed))
        return [f"{path}: unknown key {k!r}; allowed keys: {', '.join(allowed)}" for k in extra]
    if kind == "pattern":
        what = schema_.get("description", f"the pattern {err.validator_value}")
        return [f"{path}: {_short(v)} is not valid; expected {what}"]
    if kind == "minItems":
        return [f"{path}: {_short(v)} has too few entries; expected at least "
                f"{err.validator_value}"]
    if kind == "maxItems":
        return [f"{path}: {len(v)} entries; expected at most {err.validator_value}"]
    if kind == "uniqueItems":
        return [f"{path}: {_short(v)} has repeated entries; expected distinct values"]
    return [f"{path}: {err.message}"]


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _best_branch(err: jsonschema.ValidationError) -> list | str:
    """The sub-errors of the anyOf branch that best fits the instance, or a message
    saying what is allowed when no branch's type fits.

    A branch fits when its declared type (``type``, or the values of an ``enum``)
    matches the instance's; among those, the one with the fewest errors wins.
    """
    branches: dict[int, list] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [branches.get(i, []) for i, sub in enumerate(err.validator_value)
               if _type_fits(_resolve(sub), err.instance)]
    if fitting:
        return min(fitting, key=len)
    allowed = []
    for sub_schema in err.validator_value:
        sub = _resolve(sub_schema)
        if "enum" in sub:
            allowed.append("one of: " + ", ".join(map(str, sub["enum"])))
        elif sub.get("type") == "array":
            allowed.append("a list of those")
        elif "type" in sub:
            allowed.append(_type_name(sub["type"]))
    return (f"{_path(err.absolute_path)}: {_short(err.instance)} is not valid; expected "
            + " or ".join(allowed))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Integral):
        return "integer"
    if isinstance(value, numbers.Real):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _type_fits(sub: Mapping, value: Any) -> bool:
    kind = _json_type(value)
    if "enum" in sub:
        return kind not in ("array", "object")
    declared = sub.get("type")
    if declared is None:
        return True
    declared = declared if isinstance(declared, list) else [declared]
    return kind in declared or (kind == "integer" and "number" in declared)


def _resolve(sub: Mapping) -> Mapping:
    ref = sub.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(schema()["$defs"][ref.split("/")[-1]])
    return sub


# --------------------------------------------------------------------------- semantics


def _values(problem: Mapping, name: str) -> list[tuple[str, Any]]:
    """``(key path, value)`` of each value of a problem parameter (axis or scalar)."""
    path = _AXIS_PATH[name]
    present, raw = _lookup(problem, path)
    base = "problem." + ".".join(path)
    if not present:
        default = dict((n, d) for n, _, d in AXES)[name]
        return [] if default is None else [(f"{base} (default)", default)]
    if _is_axis(name, raw):
        return [(f"{base}[{i}]", v) for i, v in enumerate(raw)]
    return [(base, raw)]


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _semantic(data: Mapping, check_files: bool = True) -> list[str]:
    problems: list[str] = []
    problem = data.get("problem")
    if isinstance(problem, Mapping):
        problems += _check_problem(problem, check_files)
    problems += _check_networks(data, check_files)
    problems += _check_attack(data)
    problems += _check_attack_depths(data)
    return problems


def _check_problem(problem: Mapping, check_files: bool = True) -> list[str]:
    from stablesweep import levels, sampling, transforms

    out: list[str] = []
    resolutions = [(p, v) for p, v in _values(problem, "resolution") if _is_int(v)]
    for p, v in resolutions:
        try:
            levels.check_resolution(v)
        except ValueError as err:
            out.append(f"{p}: {err}")
    for p, v in _values(problem, "wavelet"):
        if isinstance(v, str):
            try:
                transforms.check_wavelet(v)
            except (ValueError, TypeError) as err:
                out.append(f"{p}: {err}")
    shapes = []
    for (_, n), (_, d) in itertools.product(resolutions, _values(problem, "dim")):
        if _is_int(n) and n >= 2 and not n & (n - 1) and d in (1, 2):
            shapes.append((n,) * d)

    sampling_ = problem.get("sampling")
    if isinstance(sampling_, Mapping):
        out += _check_sampling(problem, sampling_, shapes, sampling)
        if "mask_from" in sampling_:
            out += _check_mask_from(problem, sampling_, check_files)
    signal = problem.get("signal")
    if isinstance(signal, Mapping):
        out += _check_signal(problem, signal, shapes, levels)
    return out


def _check_sampling(problem, sampling_, shapes, sampling) -> list[str]:
    out = []
    has_rate, has_budgets = "rate" in sampling_, "budgets" in sampling_
    if "mask_from" in sampling_:
        others = sorted(k for k in sampling_ if k != "mask_from")
        if others:
            out.append(
                f"problem.sampling: {', '.join(others)} given together with 'mask_from'; "
                "expected either 'mask_from' alone (a trained network's fixed mask), "
                "'rate' (with 'scheme') or 'budgets'")
        return out
    if has_rate == has_budgets:
        out.append(
            f"problem.sampling: keys {sorted(sampling_)}; expected either 'rate' (with "
            "'scheme'), 'budgets' (samples per band) or 'mask_from' (a trained network's "
            "mask), not several or none"
        )
    if has_budgets and "scheme" in sampling_:
        out.append("problem.sampling.scheme: not used with 'budgets'; give 'scheme' and "
                   "'rate', or 'budgets' alone")
    if has_rate and "scheme" not in sampling_:
        out.append("problem.sampling: missing required key 'scheme' (with 'rate'); "
                   f"expected one of: {', '.join(sampling.SCHEMES)}")
    for p, v in _values(problem, "scheme"):
        if isinstance(v, str) and v not in sampling.SCHEMES:
            out.append(f"{p}: unknown scheme {v!r}; expected one of: "
                       f"{', '.join(sampling.SCHEMES)}")
    transforms_ = [v for _, v in _values(problem, "transform") if v in sampling.TRANSFORMS]
    for p, b in _values(problem, "budgets"):
        if not (isinstance(b, list) and all(_is_int(x) for x in b)):
            continue
        for shape, t in itertools.product(shapes, transforms_):
            try:
                sampling.budgets(shape, t, None, b)
            except ValueError as err:
                out.append(f"{p}: {_short(b)} does not fit resolution {shape[0]}, dim "
                           f"{len(shape)}, transform {t}: {err}")
            else:
                if sum(b) == 0:
                    out.append(f"{p}: {_short(b)} takes no samples; expected a positive total")
    # theory budgets need a sparsity pattern of the right length
    schemes = [v for _, v in _values(problem, "scheme")]
    signal = problem.get("signal") if isinstance(problem.get("signal"), Mapping) else {}
    if "theory" in schemes and has_rate and "sparsity" not in signal:
        out.append("problem.signal.sparsity: missing; scheme 'theory' needs the local "
                   "sparsities (one non-negative integer per level)")
    for p, rate in _values(problem, "rate"):
        if isinstance(rate, numbers.Real) and not isinstance(rate, bool) and rate > 0:
            for shape in shapes:
                if round(rate * math.prod(shape)) < 1:
                    out.append(f"{p}: {rate} gives no samples at resolution {shape[0]} "
                               f"(dim {len(shape)}); expected rate >= {1 / math.prod(shape):.3g}")
    return out


def _check_mask_from(problem: Mapping, sampling_: Mapping, check_files: bool) -> list[str]:
    """The mask file exists and fits every transform, resolution and dim of the problem."""
    path = sampling_.get("mask_from")
    if not isinstance(path, str) or not check_files:
        return []
    rec, message = _record_or_problem("problem.sampling.mask_from", path)
    if rec is None:
        return [message]
    out = []
    shape, transform = tuple(rec["shape"]), rec["transform"]
    what = f"the {transform} mask of shape {shape} in problem.sampling.mask_from ({path!r})"
    for p, v in _values(problem, "transform"):
        if isinstance(v, str) and v != transform:
            out.append(f"{p}: {v!r} does not match {what}; with mask_from every transform "
                       f"must be {transform!r}")
    for p, v in _values(problem, "resolution"):
        if _is_int(v) and v != shape[0]:
            out.append(f"{p}: {v} does not match {what}; with mask_from every resolution "
                       f"must be {shape[0]}")
    for p, v in _values(problem, "dim"):
        if v in (1, 2) and v != len(shape):
            out.append(f"{p}: {v} does not match {what}; with mask_from every dim must be "
                       f"{len(shape)}")
    return out


def read_operator_record(path: str | Path) -> dict[str, Any]:
    """:func:`stablesweep.training.checkpoint.load_operator_record`, cached per file
    version (path, modification time, size); treat the result as read-only."""
    p = Path(path)
    st = p.stat()
    return _read_record(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=16)
def _read_record(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    from stablesweep.training.checkpoint import load_operator_record

    return load_operator_record(path)


def _train_hint(path: str) -> str:
    """How to make a missing model file: the training config that writes it."""
    name = Path(path).parent.name
    candidates = [(Path("config/training") / f"{name}.yaml", None)]
    base, _, profile = name.rpartition("-")
    if base:
        candidates.append((Path("config/training") / f"{base}.yaml", profile))
    models_dir = Path(path).parent.parent
    where = "" if models_dir == Path("results/models") else f" --models-dir {models_dir}"
    for config, profile in candidates:
        if config.is_file():
            return (f"`stablesweep train {config}{f' --profile {profile}' if profile else ''}"
                    f"{where}`")
    return (f"`stablesweep train <training config>{where}` (a training config with name "
            f"{name!r} writes {models_dir}/{name}/model.pt)")


def _record_or_problem(key: str, path: str) -> tuple[dict | None, str | None]:
    """The operator record of a model file, or the problem with it."""
    if not Path(path).is_file():
        return None, f"{key}: {path!r} does not exist; train it first with {_train_hint(path)}"
    try:
        return read_operator_record(path), None
    except Exception as err:
        return None, (f"{key}: cannot read {path!r} ({type(err).__name__}: {err}); expected "
                      "a model file written by `stablesweep train`")


def _record_differences(a: Mapping, b: Mapping) -> list[str]:
    """How two stored operators differ (transform, shape, mask)."""
    out = []
    if a["transform"] != b["transform"]:
        out.append(f"transform {a['transform']} vs {b['transform']}")
    if tuple(a["shape"]) != tuple(b["shape"]):
        out.append(f"shape {tuple(a['shape'])} vs {tuple(b['shape'])}")
    else:
        n = int((_bool_array(a["mask"]) ^ _bool_array(b["mask"])).sum())
        if n:
            out.append(f"the masks differ in {n} entries")
    return out


def _bool_array(mask: Any) -> np.ndarray:
    return (mask.numpy() if hasattr(mask, "numpy") else np.asarray(mask)).astype(bool)


def _check_checkpoint(data: Mapping, path: str, label: str, name: str, params: Mapping,
                      check_files: bool) -> list[str]:
    """A trained network's model file: exists, and its mask is the one measured with."""
    ckpt = params["checkpoint"]
    key = f"{path}.params.checkpoint"
    allow = bool(params.get("allow_mask_mismatch", False))
    problem = data.get("problem") if isinstance(data.get("problem"), Mapping) else {}
    sampling_ = problem.get("sampling")
    mask_from = sampling_.get("mask_from") if isinstance(sampling_, Mapping) else None
    out = []
    if not allow and isinstance(sampling_, Mapping) and mask_from is None:
        out.append(f"{key}: {label!r} is a trained network and refuses any mask but the one "
                   "it was trained with; measure with that mask: problem.sampling: "
                   f"{{mask_from: {ckpt}}} (or set {path}.params.allow_mask_mismatch: true)")
    if not check_files:
        return out
    rec, message = _record_or_problem(key, ckpt)
    if rec is None:
        return out + [message]
    if allow:
        return out
    if isinstance(mask_from, str) and Path(mask_from).is_file():
        try:
            diffs = _record_differences(rec, read_operator_record(mask_from))
        except Exception:  # reported for problem.sampling.mask_from
            diffs = []
        if diffs:
            out.append(f"{key}: {ckpt!r} was trained with another mask than the one of "
                       f"problem.sampling.mask_from ({mask_from!r}): {'; '.join(diffs)}; "
                       "expected the same mask (train both with the same problem.sampling "
                       "block), or set allow_mask_mismatch: true")
    registry, _ = _registry()
    if getattr(registry.get(name), "uses_wavelet", False):
        for p, w in _values(problem, "wavelet"):
            if isinstance(w, str) and w != rec.get("wavelet"):
                out.append(f"{p}: {w!r} differs from the wavelet {rec.get('wavelet')!r} that "
                           f"{path} ({label}) was trained with; expected {rec.get('wavelet')!r}")
    return out


def _check_signal(problem, signal, shapes, levels) -> list[str]:
    from stablesweep import signals

    out = []
    kinds = [v for _, v in _values(problem, "signal")]
    if "details" in signal and "ellipses" not in kinds:
        out.append(f"problem.signal.details: only used by kind 'ellipses'; the signal kinds "
                   f"here are {', '.join(map(str, kinds))}")
    if "sparse-in-levels" in kinds and "sparsity" not in signal:
        out.append("problem.signal: missing key 'sparsity' (needed by kind "
                   "'sparse-in-levels'); expected one non-negative integer per level")
    if "image" in kinds:
        if "name" not in signal:
            out.append("problem.signal: missing key 'name' (needed by kind 'image'); "
                       f"expected one of: {', '.join(signals.TEST_IMAGES)}")
        if any(len(s) == 1 for s in shapes):
            out.append("problem.dim: test images are 2-D; kind 'image' needs dim 2")
    for p, name in _values(problem, "image"):
        if isinstance(name, str) and name not in signals.TEST_IMAGES:
            out.append(f"{p}: unknown test image {name!r}; expected one of: "
                       f"{', '.join(signals.TEST_IMAGES)}")
    for p, s in _values(problem, "sparsity"):
        if not (isinstance(s, list) and all(_is_int(x) for x in s)):
            continue
        if sum(s) == 0:
            out.append(f"{p}: {_short(s)} is all zero; expected at least one positive entry")
            continue
        for shape in shapes:
            try:
                levels.weight_map(shape, s)
            except ValueError as err:
                out.append(f"{p}: {_short(s)} does not fit resolution {shape[0]} (dim "
                           f"{len(shape)}, {len(levels.level_sizes(shape))} levels of sizes "
                           f"{levels.level_sizes(shape)}): {err}")
    return out


def _registry() -> tuple[Mapping, str | None]:
    """The live network registry (entries added at run time count), or the import error."""
    try:
        from stablesweep.networks import NETWORKS
    except Exception as err:  # pragma: no cover - depends on the networks package
        return {}, f"{type(err).__name__}: {err}"
    return NETWORKS, None


def network_signature(name: str) -> inspect.Signature | None:
    """Signature of a registered network's constructor (None when unknown)."""
    registry, _ = _registry()
    target = registry.get(name)
    if target is None:
        return None
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def is_algorithmic(name: str) -> bool:
    """The registry class's ``algorithmic`` flag (``True`` for ``custom`` and unknown names).

    Trained networks (``algorithmic = False``) are not a family of truncations: they are
    attacked at their own depth only.
    """
    if name == "custom":
        return True
    registry, _ = _registry()
    return bool(getattr(registry.get(name), "algorithmic", True))


def sparsity_parameter(spec: NetworkSpec) -> str | None:
    """``"s"`` or ``"weights"``: the parameter through which the sweep passes the
    signal's sparsity pattern to a network (``None``: it takes neither by name).

    The registry class's constructor, or for ``custom`` the factory, is inspected; a
    parameter named ``s`` wins over ``weights`` (parameters hidden in ``**kwargs`` do
    not count).
    """
    if spec.name == "custom":
        try:
            sig = inspect.signature(resolve_factory(spec.factory))
        except Exception:
            return None
    else:
        sig = network_signature(spec.name)
    if sig is None:
        return None
    named = {p for p, par in sig.parameters.items() if par.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}
    return "s" if "s" in named else ("weights" if "weights" in named else None)


def _param_default(name: str, param: str) -> Any:
    sig = network_signature(name)
    if sig is None or param not in sig.parameters:
        return None
    default = sig.parameters[param].default
    return None if default is inspect.Parameter.empty else default


def resolve_factory(spec: str):
    """Import ``"pkg.module:function"`` (the one implementation, in the networks)."""
    from stablesweep.networks.custom import resolve_factory as resolve

    return resolve(spec)


def _check_networks(data: Mapping, check_files: bool = True) -> list[str]:
    nets = data.get("networks")
    if not isinstance(nets, list):
        return []
    out = []
    registry, import_error = _registry()
    known = sorted(registry) + ["custom"]
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
            elif name not in registry:
                out.append(f"{path}.name: unknown network {name!r}; expected one of: "
                           f"{', '.join(known)}")
            else:
                out += _check_network_params(path, name, params)
        out += _check_param_types(f"{path}.params", params)
        depth = net.get("depth")
        p = params.get("p", _param_default(name, "p")) if name == "firenet" else None
        if name == "firenet" and _is_int(depth) and _is_int(p) and p > 0 and depth % p:
            out.append(f"{path}.depth: {depth} is not a multiple of params.p = {p}; "
                       "expected a multiple of p (firenet depth = restarts x p)")
        if (name != "custom" and isinstance(params.get("checkpoint"), str)
                and "checkpoint" in _named_parameters(name)):
            out += _check_checkpoint(data, path, label, name, params, check_files)
    return out


def _named_parameters(name: str) -> set[str]:
    sig = network_signature(name)
    return set() if sig is None else set(sig.parameters)


def _check_attack_depths(data: Mapping) -> list[str]:
    """Given attack depths: within some network's depth; multiples of firenet's p."""
    attack, nets = data.get("attack"), data.get("networks")
    if not (isinstance(attack, Mapping) and isinstance(attack.get("depths"), list)
            and isinstance(nets, list)):
        return []
    entries = []  # (key path, label, name, depth, p) of the networks that can be truncated
    trained = []
    for i, net in enumerate(nets):
        if not (isinstance(net, Mapping) and isinstance(net.get("name"), str)
                and _is_int(net.get("depth"))):
            continue
        name = net["name"]
        if not is_algorithmic(name):
            trained.append(name)
            continue
        params = net.get("params") if isinstance(net.get("params"), Mapping) else {}
        p = params.get("p", _param_default(name, "p")) if name == "firenet" else None
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
        if not _is_int(ad):
            continue
        if ad > deepest[3]:
            out.append(f"attack.depths[{j}]: {ad} exceeds the depth of every network (the "
                       f"deepest, {deepest[0]} ({deepest[1]}), has depth {deepest[3]}); "
                       f"expected <= {deepest[3]}")
            continue
        for path, label, name, depth, p in entries:
            if name == "firenet" and _is_int(p) and p > 0 and ad <= depth and ad % p:
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
        if k in _INT_PARAMS and not (_is_int(v) and v >= 1):
            out.append(f"{path}.{k}: {_short(v)} is not valid; expected a positive integer")
        elif k in _REAL_PARAMS and not (
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0
        ):
            out.append(f"{path}.{k}: {_short(v)} is not valid; expected a finite number >= 0")
    return out


def _check_attack(data: Mapping) -> list[str]:
    attack = data.get("attack")
    if not isinstance(attack, Mapping) or attack.get("kind") not in ATTACK_KINDS:
        return []
    out = []
    kind = attack["kind"]
    params = attack.get("params") if isinstance(attack.get("params"), Mapping) else {}
    if kind == "worst-case" and "levels" not in attack:
        out.append("attack: missing key 'levels' (needed by kind 'worst-case'); expected a "
                   "list of relative noise levels > 0")
    if kind == "momentum" and "levels" in attack:
        out.append("attack.levels: only used by kind 'worst-case'")
    if kind == "momentum":
        for key in ("steps",):
            if key not in params:
                out.append(f"attack.params: missing key {key!r} (needed by kind 'momentum'); "
                           "expected a positive integer")
        steps, every = params.get("steps"), params.get("record_every", 1)
        if _is_int(steps) and _is_int(every) and every > steps:
            out.append(f"attack.params.record_every: {every} exceeds steps = {steps}; "
                       f"expected 1 <= record_every <= {steps}")
    out += _check_param_types("attack.params", params)
    fn = _attack_function(kind)
    if fn is not None:
        sig = inspect.signature(fn)
        allowed = [p for p, par in sig.parameters.items()
                   if par.kind == inspect.Parameter.KEYWORD_ONLY and p not in _ATTACK_SUPPLIED]
        if kind == "momentum":
            allowed.append("record_every")
        for k in params:
            if k not in allowed:
                out.append(f"attack.params.{k}: unknown parameter of the {kind} attack; "
                           f"allowed: {', '.join(allowed)}")
        missing = [p for p, par in sig.parameters.items()
                   if par.kind == inspect.Parameter.KEYWORD_ONLY and p not in _ATTACK_SUPPLIED
                   and par.default is inspect.Parameter.empty and p not in params]
        for p in missing:
            msg = f"attack.params: missing key {p!r} (needed by kind {kind!r})"
            if msg not in " ".join(out):
                out.append(msg)
    return out


def _attack_function(kind: str):
    try:
        from stablesweep import attacks
    except Exception:  # pragma: no cover - depends on the attacks module
        return None
    name = {"momentum": "momentum_attack", "worst-case": "worst_case_noise"}[kind]
    return getattr(attacks, name, None)


def _example_value(name: str, value: Any) -> Any:
    """An example's axis value in normalised form (patterns also as "2,4,8" strings)."""
    try:
        if name in PATTERN_AXES and isinstance(value, str):
            return tuple(int(x) for x in value.split(","))
        return _norm(name, value)
    except (TypeError, ValueError):
        return value


def _examples(cfg: SweepConfig, entries: list) -> tuple[list[ExampleSpec], list[str]]:
    out: list[ExampleSpec] = []
    problems: list[str] = []
    labels = [n.get("label", n.get("name")) for n in cfg.data.get("networks", [])]
    depths = list(cfg.attack.depths) if cfg.attack else []
    allowed_keys = [*cfg.axes, "network", "trial"] + (["attack_depth"] if depths else [])
    for i, entry in enumerate(entries):
        path = f"examples[{i}]"
        index = []
        for name, values in cfg.axes.items():
            if name not in entry:
                index.append(0)
                continue
            want = _example_value(name, entry[name])
            if want in values:
                index.append(values.index(want))
            else:
                shown = [pattern_label(v) if name in PATTERN_AXES else v for v in values]
                problems.append(f"{path}.{name}: {_short(entry[name])} is not on the axis; "
                                f"expected one of: {', '.join(map(str, shown))}")
                index.append(0)
        for key in entry:
            if key not in allowed_keys:
                problems.append(f"{path}: unknown key {key!r}; allowed keys: "
                                f"{', '.join(allowed_keys)}")
        net = entry.get("network", labels[0] if labels else None)
        if net not in labels:
            problems.append(f"{path}.network: {_short(net)} is not a network label; expected "
                            f"one of: {', '.join(map(str, labels))}")
        trial = entry.get("trial", 0)
        if not (_is_int(trial) and 0 <= trial < cfg.trials):
            problems.append(f"{path}.trial: {_short(trial)} is out of range; expected an "
                            f"integer in 0..{cfg.trials - 1}")
        attacked = depths
        if depths and net in labels:
            spec = cfg.networks[labels.index(net)]
            attacked = [d for d in depths
                        if spec.attacked_depth(d, cfg.attack.explicit)[0] is not None]
        ad = entry.get("attack_depth", (attacked or depths)[0] if depths else None)
        if depths and ad not in depths:
            problems.append(f"{path}.attack_depth: {_short(ad)} is not an attack depth; "
                            f"expected one of: {', '.join(map(str, depths))}")
        elif depths and ad not in attacked:
            why = spec.attacked_depth(ad, cfg.attack.explicit)[1]
            problems.append(f"{path}.attack_depth: network {net!r} is not attacked at attack "
                            f"depth {ad} ({why}); expected one of: "
                            f"{', '.join(map(str, attacked)) or '(none)'}")
        if not problems:
            out.append(ExampleSpec(
                point=tuple(index), network=labels.index(net), trial=int(trial),
                attack_depth=depths.index(ad) if depths else None,
            ))
    return out, problems
