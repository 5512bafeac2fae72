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
      kind: momentum                 # or worst-case (then `budget: [...]`)
      depths: [5, 20]                # optional: attack the networks truncated at these
      params: {lam: 0.01, eta: 0.01, steps: 200, record_every: 10}
    examples:                        # optional: cells whose images are kept for figures
      - {network: firenet, trial: 0, attack_depth: 20, noise: 0.0}
    store: {cells_per_block: 100}    # optional: cells per chunk file and per Dask task
                                     #   (default: see stablesweep.sweep.store.layout)

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
    ``stablesweep train``; :func:`stablesweep.modelfile.load_mask`). That
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
    ``kind`` names an entry of :data:`stablesweep.attacks.registry.ATTACKS`, which says
    what runs and what it stores. ``kind: momentum`` runs
    :func:`stablesweep.attacks.momentum_attack` with ``params`` (its keyword arguments;
    ``record_every: k`` records every k-th step, i.e. ``record_at = 0, k, 2k, ...,
    steps``). ``kind: worst-case`` runs :func:`stablesweep.attacks.worst_case_noise`
    once per entry of ``budget`` (relative budgets ε = ‖e‖/‖y‖, stored along
    ``noise_level``; the key was called ``levels`` before, which still loads with a
    deprecation warning).

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
    A file that is another kind of config (a K-digits barrier, training or trade-off
    config) is refused with one message naming its kind and the command that runs it.

Where the parts live
    The config layer shared by every config kind is :mod:`stablesweep.configuration`
    (:class:`ConfigError`, reading YAML, JSON schema messages). Here the sweep declares
    its kind (:data:`SWEEP`: schema and checks) and builds :class:`SweepConfig`; the
    checks are in the modules beside this one (:mod:`stablesweep.sweep.config`):
    :mod:`.problem_checks`, :mod:`.network_checks` (with :mod:`.model_files` and
    :mod:`.network_info`), :mod:`.examples` and :mod:`.preflight`; the axes in
    :mod:`.axes`, the specs in :mod:`.specs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stablesweep.attacks.kind import BUDGET
from stablesweep.attacks.registry import normalise_section
from stablesweep.configuration import (
    SIGNATURES,
    ConfigError,
    ConfigKind,
    load_schema,
)

from .axes import (
    AXES,
    AXIS_NAMES,
    OWN_DEPTH,
    PATTERN_AXES,
    is_axis,
    lookup,
    normalise,
    pattern_label,
)
from .examples import resolve_examples
from .model_files import read_operator_record
from .network_checks import check_attack, check_attack_depths, check_networks
from .network_info import is_algorithmic, network_signature, resolve_factory, sparsity_parameter
from .preflight import SKIP_RESOURCE_CHECK, cell_memory_bytes, check_builds, check_resources
from .problem_checks import check_problem
from .specs import (
    AttackSpec,
    ExampleSpec,
    NetworkSpec,
    SweepConfig,
    canonical_json,
    config_hash,
)

__all__ = [
    "AXES",
    "AXIS_NAMES",
    "MINIMISER_DEFAULTS",
    "OWN_DEPTH",
    "PATTERN_AXES",
    "SKIP_RESOURCE_CHECK",
    "SWEEP",
    "AttackSpec",
    "ConfigError",
    "ExampleSpec",
    "NetworkSpec",
    "SweepConfig",
    "canonical_json",
    "cell_memory_bytes",
    "config_hash",
    "is_algorithmic",
    "load_config",
    "minimiser_settings",
    "network_signature",
    "pattern_label",
    "read_operator_record",
    "resolve_factory",
    "schema",
    "sparsity_parameter",
    "validate",
]

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


def schema() -> dict:
    """The JSON schema of a config (``config.schema.json``)."""
    return load_schema(SCHEMA_PATH)


def _grid_checks(data: Mapping[str, Any], *, check_files: bool = True) -> list[str]:
    """What needs the built grid: examples on the grid, the resources a cell needs,
    and (with ``check_files``) every network built on the first grid point."""
    cfg = _build("", {**data, "examples": []})
    problems = resolve_examples(cfg, data.get("examples", []))[1]
    problems += check_resources(cfg)
    if not problems and check_files:
        problems += check_builds(cfg)
    return problems


#: The experiment (sweep) config kind: the JSON schema, then the semantic checks on
#: whatever is well-formed, then (on a config with no problem so far) the grid checks.
SWEEP = ConfigKind(
    SIGNATURES["sweep"],
    schema=SCHEMA_PATH,
    checks=(check_problem, check_networks, check_attack, check_attack_depths),
    whole_checks=(_grid_checks,),
)


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
        Listing every problem found (schema and semantic checks), or the one problem
        that stops reading: a missing file, a directory, invalid YAML, or a config of
        another kind (named, with the command that runs it).
    """
    text, data, where = SWEEP.read(source)
    SWEEP.raise_problems(validate(data, check_files=check_files), where)
    return _build(text, data)


def validate(data: Any, *, check_files: bool = True) -> list[str]:
    """Every problem with a parsed config: JSON schema first, then semantic checks.

    ``check_files``: see :func:`load_config`.

    Returns
    -------
    list of str
        Empty when the config is valid. Each message starts with the key path.
    """
    return SWEEP.problems(data, check_files=check_files)


def _build(text: str, data: dict) -> SweepConfig:
    """The :class:`SweepConfig` of a valid parsed config."""
    problem = data["problem"]
    axes: dict[str, tuple] = {}
    fixed: dict[str, Any] = {}
    for name, path, default in AXES:
        present, raw = lookup(problem, path)
        if not present:
            if default is not None:
                fixed[name] = default
            continue
        if is_axis(name, raw):
            axes[name] = tuple(normalise(name, v) for v in raw)
        else:
            fixed[name] = normalise(name, raw)
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
        a = normalise_section(data["attack"], warn=bool(text))
        depths = tuple(int(d) for d in a.get("depths", ()))
        if not depths or not all(n.algorithmic for n in networks):
            depths += (OWN_DEPTH,)
        attack = AttackSpec(
            kind=a["kind"],
            depths=depths,
            params=dict(a.get("params", {})),
            budget=tuple(float(v) for v in a.get(BUDGET, ())),
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
        cells_per_block=data.get("store", {}).get("cells_per_block"),
    )
    examples, _ = resolve_examples(cfg, data.get("examples", []))
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
