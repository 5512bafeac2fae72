"""The result store: one Zarr (v3) store per sweep, written through xarray.

Layout (``xarray.open_zarr(path)``)
    Dimensions: one per swept problem axis (see :mod:`stablesweep.sweep.config`), then
    ``network``, ``attack_depth`` (with an attack), ``trial``, ``depth`` (union of all
    networks' iterate depths, NaN where a network has no iterate), ``attack_step``
    (momentum) or ``noise_level`` (worst-case), and for the kept images ``example``,
    ``attack_record``, ``row``, ``col``. Problem parameters that are not swept are scalar
    coordinates; ``network`` has the non-dimension coordinates ``network_name``,
    ``network_depth``, ``network_layers`` and ``network_weights`` (where its l1 weights
    come from: ``signal``, ``params``, ``uniform``, ``none``); ``example`` has
    ``example_<axis>``, ``example_network``, ``example_trial`` (and
    ``example_attack_depth``).

    ``attack_depth`` holds the given attack depths and/or ``-1`` ("each network's own
    depth", :data:`~stablesweep.sweep.config.OWN_DEPTH`); the coordinate
    ``attacked_depth`` (network, attack_depth) is the depth actually attacked, 0 where
    the network is not attacked (its attack variables are NaN there, with
    ``attack_status`` ``skipped``).

    Data variables (``units`` and ``long_name`` on every one) are listed in
    :data:`VARIABLES`; the ``done`` marker (0 pending, 1 done, 2 done with a failed
    trial) has one entry per cell. Provenance in attrs: ``config`` (the YAML text),
    ``config_hash``, ``stablesweep_version``, ``git_commit``, ``created``,
    ``network_weights`` (JSON: label -> weight source) and, with ``mask_from``,
    ``mask_from_sha256`` (digest of the fixed mask: a store is resumed only with the
    same mask) and ``mask_from_m`` (its number of samples).

Writing
    :func:`create_store` writes the metadata and coordinates only (every data variable
    reads as NaN / "" / 0 until written), chunked with size 1 along every cell axis, so
    each cell's region is its own set of chunks. Only the client process writes:
    :class:`StoreWriter` writes a finished cell's region (its own chunks, each written
    atomically by Zarr's local store) and then its ``done`` entry; a cell is done only
    once its data is on disk, so a killed run loses no finished cell and a rerun
    computes only what is missing.
    :func:`finalize` consolidates the metadata once, at the end.

Locking
    :class:`StoreLock` — a lock file ``<store>.lock`` beside the store with the pid,
    host and process start time of the run; a second run into the same store is refused;
    a lock left by a dead process on the same host is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
import zarr
import zarr.api.asynchronous as zarr_async

if TYPE_CHECKING:  # the cell module imports torch; the store needs only its types
    from .cell import CellResult

from .config import PATTERN_AXES, SweepConfig, pattern_label
from .grid import Cell
from .integrity import CHECKSUM, backup_root, cell_checksum, cell_groups

__all__ = [
    "Layout",
    "StoreError",
    "StoreLock",
    "StoreWriter",
    "VARIABLES",
    "create_store",
    "done_counts",
    "finalize",
    "open_or_create",
    "read_done",
    "write_cell",
]

STR = np.dtypes.StringDType()

#: group -> variable -> (trailing dims after the group's cell dims, dtype, units, long_name).
#: Norms of images and measurements are dimensionless (units "1"); strings carry no units.
VARIABLES: dict[str, dict[str, tuple[tuple[str, ...], Any, str | None, str]]] = {
    "forward": {
        "rel_error": (("trial", "depth"), float, "1",
                      "relative error ||x_hat - x|| / ||x|| of the network truncated at depth"),
        "residual": (("trial", "depth"), float, "1",
                     "measurement residual ||A x_hat - y|| of the network truncated at depth"),
        "psnr": (("trial",), float, "dB",
                 "PSNR of |phi(y)| against |x| at full depth, data range max|x| - min|x| "
                 "(skimage.metrics.peak_signal_noise_ratio)"),
        "ssim": (("trial",), float, "1",
                 "SSIM of |phi(y)| against |x| at full depth, data range max|x| - min|x| "
                 "(skimage.metrics.structural_similarity, 7x7 window)"),
        "wall_time": (("trial",), float, "s", "wall time of the forward pass (all depths)"),
        "status": (("trial",), STR, None, "trial status: ok, diverged, error ('' pending)"),
        "message": (("trial",), STR, None, "error message of a failed trial"),
    },
    "minimiser": {
        "opt_error": (("trial", "depth"), float, "1",
                      "optimisation error ||phi_n(y) - x_hat|| / ||x||, x_hat the minimiser "
                      "of the network's own convex problem"),
        "recovery_error": (("trial",), float, "1",
                           "recovery error ||x_hat - x|| / ||x|| of the network's own minimiser"),
        "minimiser_objective": (("trial",), float, "1",
                                "objective value of the network's own problem at x_hat"),
        "minimiser_certificate": (("trial",), float, "1",
                                  "relative primal-dual gap certified at x_hat (an upper "
                                  "bound on (P(x_hat) - P*) / P(x_hat))"),
    },
    "problem": {
        "sigma_theory": (("trial",), float, "1",
                         "sigma_{s,M}(z)_{l1_w} / (sqrt(s) sqrt(r)), the accuracy floor eps"),
        "signal_norm": (("trial",), float, "1", "norm ||x|| of the true image"),
        "noise_norm": (("trial",), float, "1", "norm ||e|| = ||y - A z|| of the noise"),
    },
    "momentum": {
        "pert_norm": (("trial", "attack_step"), float, "1",
                      "norm ||r|| of the image-domain perturbation"),
        "meas_pert_norm": (("trial", "attack_step"), float, "1",
                           "norm ||A r|| of the perturbation in measurement space"),
        "output_change": (("trial", "attack_step"), float, "1",
                          "output change ||phi(y + A r) - phi(y)||"),
        "attack_error": (("trial", "attack_step"), float, "1",
                         "error ||phi(y + A r) - x|| of the perturbed reconstruction"),
        "amplification": (("trial", "attack_step"), float, "1",
                          "amplification ||phi(y + A r) - phi(y)|| / ||A r||"),
        "attack_objective": (("trial", "attack_step"), float, "1",
                             "attack objective Q(r)"),
    },
    "worst-case": {
        "worst_case_error": (("trial", "noise_level"), float, "1",
                             "error ||phi(y + e*) - x|| at the attack's perturbation e*, "
                             "||e*|| <= level ||y||"),
        "random_noise_error": (("trial", "noise_level"), float, "1",
                               "mean error ||phi(y + e) - x|| for random e, ||e|| = level ||y||"),
        "worst_case_change": (("trial", "noise_level"), float, "1",
                              "output change ||phi(y + e*) - phi(y)|| at the attack's e*"),
        "worst_case_pert_norm": (("trial", "noise_level"), float, "1",
                                 "norm ||e*|| of the attack's perturbation"),
        "worst_case_amplification": (("trial", "noise_level"), float, "1",
                                     "amplification ||phi(y + e*) - phi(y)|| / ||e*||"),
        "random_noise_change": (("trial", "noise_level"), float, "1",
                                "mean change ||phi(y + e) - phi(y)|| for random e, "
                                "||e|| = level ||y||"),
        "worst_case_trace": (("trial", "noise_level", "attack_iter"), float, "1",
                             "largest attack objective (error or change, a norm) found up "
                             "to ascent step j, over the restarts"),
    },
    "attack": {
        "attack_clean_error": (("trial",), float, "1",
                               "error ||phi(y) - x|| of the truncated (attacked) network"),
        "jacobian_sigma_max": (("trial",), float, "1",
                               "largest singular value of the Jacobian of e -> phi(y + e) at "
                               "e = 0 (power iteration; worst-case attacks with init: jacobian)"),
        "attack_wall_time": (("trial",), float, "s", "wall time of the attack"),
        "attack_status": (("trial",), STR, None,
                          "attack status: ok, diverged, error, skipped (not attacked at "
                          "this attack depth) ('' pending)"),
        "attack_message": (("trial",), STR, None, "error message of a failed attack"),
    },
    "examples": {
        "example_truth": (("row", "col"), float, "1", "magnitude of the true image x"),
        "example_output": (("row", "col"), float, "1",
                           "magnitude of the reconstruction phi(y) (attacked network)"),
        "example_perturbed": (("attack_record", "row", "col"), float, "1",
                              "magnitude of the perturbed image x + r_j (momentum) or of "
                              "the image-domain view A^* e of the worst-case "
                              "perturbation added to x, x + A^* e (per noise level)"),
        "example_attacked": (("attack_record", "row", "col"), float, "1",
                             "magnitude of the attacked reconstruction phi(y + A r_j) "
                             "(momentum) or phi(y + e) (worst-case, per noise level)"),
    },
}

#: What NaN means, per variable (the ``comment`` attribute), where NaN is expected.
NAN_MEANINGS: dict[str, str] = {
    "rel_error": "NaN at depths the network does not output (FIRENET: only at restart "
                 "boundaries, multiples of p) and in pending or failed trials",
    "residual": "NaN at depths the network does not output (FIRENET: only at restart "
                "boundaries) and in pending or failed trials",
    "opt_error": "NaN at depths the network does not output, and for networks without an "
                 "own convex problem (trained, custom)",
    "recovery_error": "NaN for networks without an own convex problem (trained, custom)",
    "minimiser_objective": "NaN for networks without an own convex problem",
    "minimiser_certificate": "NaN for networks without an own convex problem",
    "psnr": "NaN for 1-D signals and failed trials; inf when phi(y) = x exactly",
    "ssim": "NaN for 1-D signals, images smaller than 7x7 and failed trials",
    "jacobian_sigma_max": "NaN unless the attack starts from the Jacobian (init: jacobian)",
    "worst_case_trace": "NaN in pending, skipped or failed attacks",
}

DONE_MEANINGS = "0: pending, 1: done, 2: done with a failed trial"


class StoreError(RuntimeError):
    """A store that cannot be used for this run (other config, locked, not a sweep)."""


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Dimensions and coordinates of a sweep's store.

    Parameters
    ----------
    cfg : SweepConfig
    depths : tuple of int
        The depth coordinate (union of the networks' iterate depths).
    layers : tuple of int
        Layer count of each network at its full depth.
    """

    cfg: SweepConfig
    depths: tuple[int, ...]
    layers: tuple[int, ...]

    @property
    def point_dims(self) -> tuple[str, ...]:
        return tuple(self.cfg.axes)

    @property
    def cell_dims(self) -> tuple[str, ...]:
        """Dims of the done marker: point axes, network (, attack_depth)."""
        tail = ("attack_depth",) if self.cfg.attack is not None else ()
        return (*self.point_dims, "network", *tail)

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(row, col)`` of the example images: the largest resolution (1 row in 1-D)."""
        cfg = self.cfg
        side = max(cfg.axes.get("resolution", (cfg.fixed.get("resolution"),)))
        dims = cfg.axes.get("dim", (cfg.fixed.get("dim", 2),))
        return (side if max(dims) == 2 else 1), side

    def groups(self) -> dict[str, tuple[str, ...]]:
        """Variable group -> its leading (cell) dims."""
        cfg = self.cfg
        groups = {"forward": (*self.point_dims, "network"), "problem": self.point_dims}
        if cfg.minimiser is not None:
            groups["minimiser"] = groups["forward"]
        if cfg.attack is not None:
            adims = (*self.point_dims, "network", "attack_depth")
            groups["momentum" if cfg.attack.kind == "momentum" else "worst-case"] = adims
            groups["attack"] = adims
        if cfg.examples:
            groups["examples"] = ("example",)
        return groups

    def variables(self) -> dict[str, tuple[tuple[str, ...], Any, str, str, str]]:
        """name -> (dims, dtype, units, long_name, group)."""
        out = {}
        for group, lead in self.groups().items():
            for name, (tail, dtype, units, long_name) in VARIABLES[group].items():
                if group == "examples" and "attack_record" in tail and not self._records():
                    continue
                out[name] = ((*lead, *tail), dtype, units, long_name, group)
        return out

    def _records(self) -> tuple:
        a = self.cfg.attack
        if a is None:
            return ()
        return a.kept_steps if a.kind == "momentum" else a.levels

    def coords(self) -> dict[str, Any]:
        cfg = self.cfg
        c: dict[str, Any] = {}
        for name, values in cfg.axes.items():
            c[name] = (name, _coord_values(name, values), {"long_name": _AXIS_DOC[name]})
        for name, value in cfg.fixed.items():
            c[name] = ((), _coord_values(name, [value]).reshape(()),
                       {"long_name": _AXIS_DOC[name]})
        c.update(_sparsity_coords(cfg))
        nets = cfg.networks
        c["network"] = ("network", np.array([n.label for n in nets], dtype=STR),
                        {"long_name": "network (label of the config entry)"})
        c["network_name"] = ("network", np.array([n.name for n in nets], dtype=STR),
                             {"long_name": "network family"})
        c["network_depth"] = ("network", np.array([n.depth for n in nets]),
                              {"long_name": "depth (iterations) of the full network",
                               "units": "1"})
        c["network_layers"] = ("network", np.array(self.layers),
                               {"long_name": "layers of the full network", "units": "1"})
        c["network_weights"] = ("network", np.array(
            [cfg.weights_source(i) for i in range(len(nets))], dtype=STR), {
                "long_name": "source of the l1 weights: signal (w_k = sqrt(s/s_k) from the "
                "sparsity pattern at sparse-in-levels points), params, uniform, none"})
        c["trial"] = ("trial", np.arange(cfg.trials), {"long_name": "trial (independent draw)"})
        c["depth"] = ("depth", np.array(self.depths, dtype=np.int64),
                      {"long_name": "depth: number of iterations (operator applications)",
                       "units": "1"})
        if cfg.attack is not None:
            a = cfg.attack
            c["attack_depth"] = ("attack_depth", np.array(a.depths), {
                "long_name": "depth of the attacked (truncated) network; -1: each network's "
                "own depth (see attacked_depth)", "units": "1"})
            attacked = [[cfg.attacked_depth(n, j)[0] or 0 for j in range(len(a.depths))]
                        for n in range(len(nets))]
            c["attacked_depth"] = (
                ("network", "attack_depth"), np.array(attacked, dtype=np.int64),
                {"long_name": "depth at which the network is attacked (0: not attacked)",
                 "units": "1"})
            if a.kind == "momentum":
                c["attack_step"] = ("attack_step", np.array(a.steps),
                                    {"long_name": "attack ascent step j", "units": "1"})
            else:
                c["noise_level"] = ("noise_level", np.array(a.levels),
                                    {"long_name": "relative noise level ||e|| / ||y|| of the "
                                     "worst-case search", "units": "1"})
                c["attack_iter"] = ("attack_iter", np.arange(int(a.params["steps"]) + 1), {
                    "long_name": "ascent step of the worst-case search (0: the start)",
                    "units": "1"})
        if cfg.examples:
            self._example_coords(c)
        return c

    def _example_coords(self, c: dict) -> None:
        cfg = self.cfg
        ex = cfg.examples
        c["example"] = ("example", np.arange(len(ex)), {"long_name": "kept example"})
        for i, name in enumerate(cfg.axes):
            values = _coord_values(name, cfg.axes[name])
            c[f"example_{name}"] = ("example", values[[e.point[i] for e in ex]],
                                    {"long_name": f"{_AXIS_DOC[name]} of the example"})
        c["example_network"] = ("example", np.array(
            [cfg.networks[e.network].label for e in ex], dtype=STR),
            {"long_name": "network of the example"})
        c["example_trial"] = ("example", np.array([e.trial for e in ex]),
                              {"long_name": "trial of the example"})
        if cfg.attack is not None:
            c["example_attack_depth"] = ("example", np.array(
                [cfg.attack.depths[e.attack_depth] for e in ex]), {
                    "long_name": "attack depth of the example (-1: the network's own depth)",
                    "units": "1"})
        records = self._records()
        if records:
            kind = cfg.attack.kind
            c["attack_record"] = ("attack_record", np.array(records), {
                "long_name": "kept attack step j" if kind == "momentum"
                else "noise level of the kept worst-case reconstruction", "units": "1"})
        rows, cols = self.image_shape
        c["row"] = ("row", np.arange(rows), {"long_name": "image row (1-D signals: one row)"})
        c["col"] = ("col", np.arange(cols), {"long_name": "image column"})

    def template(self) -> xr.Dataset:
        """The full dataset, lazily filled (NaN / "" / 0), chunked one cell per chunk."""
        import dask.array  # only here: reading a store must not pay for importing dask

        coords = self.coords()
        sizes = {dim: len(v[1]) for dim, v in coords.items() if v[0] == dim}
        data_vars = {}
        cell_dims = set(self.cell_dims) | {"example"}
        for name, (dims, dtype, units, long_name, _) in self.variables().items():
            shape = tuple(sizes[d] for d in dims)
            chunks = tuple(1 if d in cell_dims else sizes[d] for d in dims)
            fill = "" if dtype is STR else np.nan
            attrs = {"long_name": long_name}
            if units is not None:
                attrs["units"] = units
            if name in NAN_MEANINGS:
                attrs["comment"] = NAN_MEANINGS[name]
            data_vars[name] = (dims, dask.array.full(shape, fill, dtype=dtype, chunks=chunks),
                               attrs)
        shape = tuple(sizes[d] for d in self.cell_dims)
        data_vars[CHECKSUM] = (self.cell_dims, dask.array.zeros(shape, dtype=np.int64, chunks=1),
                               {"long_name": "checksum of the cell's values (BLAKE2b-64; 0: none)",
                                "units": "1"})
        data_vars["done"] = (self.cell_dims, dask.array.zeros(shape, dtype=np.int8, chunks=1),
                             {"units": "1", "long_name": "cell completion marker",
                              "flag_values": [0, 1, 2], "flag_meanings": DONE_MEANINGS})
        return xr.Dataset(data_vars, coords=coords, attrs=provenance(self.cfg))

    def region(self, cell: Cell, group: str) -> dict[str, slice]:
        lead = self.groups()[group]
        index = dict(zip(self.cell_dims, cell.index, strict=True))
        return {d: slice(index[d], index[d] + 1) for d in lead}


_AXIS_DOC = {
    "transform": "measurement transform U",
    "resolution": "image side n = 2^r",
    "dim": "image dimension d",
    "wavelet": "wavelet of the sparsifying transform W",
    "scheme": "multilevel sampling scheme",
    "rate": "sampling rate m / N",
    "budgets": "samples per band (comma-separated, band-label order)",
    "signal": "signal kind",
    "sparsity": "local sparsities s_k (comma-separated, per level)",
    "image": "test image",
    "complex": "complex-valued sparse coefficients",
    "details": "small low-contrast details in the ellipse phantoms",
    "mask_from": "model file whose sampling mask every trial measures with",
    "noise": "relative noise level ||e|| / ||A x||",
}


def _sparsity_coords(cfg: SweepConfig) -> dict[str, Any]:
    """Numeric companions of the sparsity labels: total s and the pattern per level.

    The ``sparsity`` axis keeps its labels ("2,4,6,8,8", the cells' keys); next to it
    ``sparsity_total`` (s = Σ_k s_k) and ``sparsity_pattern`` (sparsity, level) let
    ``ds.swap_dims(sparsity="sparsity_total")`` select and plot numerically.
    """
    swept = "sparsity" in cfg.axes
    values = cfg.axes["sparsity"] if swept else [cfg.fixed.get("sparsity")]
    patterns = [tuple(v) if isinstance(v, (tuple, list)) else None for v in values]
    if any(p is None or not all(isinstance(k, (int, np.integer)) for k in p)
           for p in patterns):
        return {}
    width = max(len(p) for p in patterns)
    table = np.zeros((len(patterns), width), dtype=np.int64)
    for i, p in enumerate(patterns):
        table[i, : len(p)] = p
    totals = table.sum(axis=1)
    lead = ("sparsity",) if swept else ()
    if not swept:
        table, totals = table[0], totals.reshape(())
    return {
        "level": ("level", np.arange(1, width + 1, dtype=np.int64),
                  {"long_name": "sparsity level k", "units": "1"}),
        "sparsity_total": (lead, totals,
                           {"long_name": "total sparsity s = sum_k s_k", "units": "1"}),
        "sparsity_pattern": ((*lead, "level"), table,
                             {"long_name": "sparsity s_k in level k (0: no such level)",
                              "units": "1"}),
    }


def _coord_values(name: str, values) -> np.ndarray:
    if name in PATTERN_AXES:
        return np.array([pattern_label(v) for v in values], dtype=STR)
    arr = np.asarray(values)
    if arr.dtype.kind in "UO":
        return arr.astype(STR)
    return arr


def provenance(cfg: SweepConfig) -> dict[str, str]:
    """Attrs of a new store: config text and hash, package version, git commit, time."""
    from stablesweep import __version__

    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return {
        "Conventions": "CF-1.10",
        "title": f"stablesweep sweep: {cfg.experiment}",
        "experiment": cfg.experiment,
        "config": cfg.text,
        "config_hash": cfg.hash,
        "stablesweep_version": __version__,
        "git_commit": git_commit(),
        "created": now,
        "started": now,
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "host": socket.gethostname(),
        "python_version": platform.python_version(),
        "versions": json.dumps(library_versions()),
        "network_weights": json.dumps(
            {n.label: cfg.weights_source(i) for i, n in enumerate(cfg.networks)}),
        **mask_provenance(cfg),
    }


#: Store attributes that describe a run rather than its results (they differ between two
#: runs of one config; everything else, data included, is identical).
RUN_ATTRS = ("created", "started", "finished", "command", "host")

#: Libraries whose versions go into a store's ``versions`` attribute.
PROVENANCE_LIBRARIES = ("torch", "numpy", "scipy", "zarr", "xarray", "dask", "distributed",
                        "pywavelets", "scikit-image")


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`PROVENANCE_LIBRARIES` (``"absent"`` when missing)."""
    from importlib import metadata

    out = {}
    for name in PROVENANCE_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def mask_provenance(cfg: SweepConfig) -> dict[str, Any]:
    """``mask_from_sha256`` and ``mask_from_m`` of a config's fixed mask (else empty)."""
    path = cfg.fixed.get("mask_from")
    if path is None:
        return {}
    from .cell import fixed_mask  # torch: only needed when a mask file is read

    mask = fixed_mask(path)
    digest = hashlib.sha256(f"{mask.shape}".encode() + np.packbits(mask).tobytes())
    return {"mask_from_sha256": digest.hexdigest(), "mask_from_m": int(mask.sum())}


def git_commit() -> str:
    """The commit of the stablesweep source tree (``+dirty`` if modified), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --------------------------------------------------------------------------- create / open


def create_store(path: str | Path, layout: Layout) -> None:
    """Write the metadata and coordinates of a new store at ``path`` (atomically).

    The store is written under a temporary name and renamed, so ``path`` exists only
    once complete.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.creating-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    ds = layout.template()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        ds.to_zarr(tmp, mode="w", compute=False, zarr_format=3, consolidated=False)
    backup_root(tmp)
    os.replace(tmp, path)


def open_or_create(path: str | Path, layout_factory, cfg: SweepConfig) -> xr.Dataset:
    """Open the store at ``path`` for ``cfg`` (creating it if missing).

    ``layout_factory()`` is called only when the store is created (it builds the
    networks to find their depths). Raises :class:`StoreError` when the store was
    written by another config.
    """
    path = Path(path)
    if not path.exists():
        create_store(path, layout_factory())
    return check_store_config(path, cfg)


def check_store_config(path: str | Path, cfg: SweepConfig) -> xr.Dataset | None:
    """The store at ``path`` opened for ``cfg`` (None when there is none yet).

    Raises :class:`StoreError` when it is not a sweep store, or was written by another
    config or with another ``mask_from`` file.
    """
    path = Path(path)
    if not path.exists():
        return None
    ds = open_store(path)
    have = ds.attrs.get("config_hash")
    if have != cfg.hash:
        raise StoreError(
            f"store {str(path)!r} was created by a different config (config_hash "
            f"{str(have)[:12]}..., this config {cfg.hash[:12]}...); refusing to mix results. "
            "Use another --out, or delete the store to start over."
        )
    now = mask_provenance(cfg).get("mask_from_sha256")
    if ds.attrs.get("mask_from_sha256") != now:
        raise StoreError(
            f"store {str(path)!r} was measured with another mask than the one now in "
            f"{cfg.fixed.get('mask_from')!r} (mask_from_sha256 "
            f"{str(ds.attrs.get('mask_from_sha256'))[:12]}..., now {str(now)[:12]}...; the "
            "network was retrained?); refusing to mix results. Use another --out, or "
            "delete the store to start over."
        )
    return ds


def open_store(path: str | Path) -> xr.Dataset:
    """Open a sweep store (consolidated or not), without loading data."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        if (path / "done").is_dir():
            raise StoreError(
                f"store {str(path)!r} has lost its root metadata (zarr.json); "
                "`stablesweep run` with its config restores it from its backup")
        raise StoreError(f"{str(path)!r} is not a sweep store (no zarr.json)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = xr.open_zarr(path, consolidated=None, chunks=None)
    except Exception as err:  # noqa: BLE001 - zarr's errors for a damaged store vary
        raise StoreError(
            f"store {str(path)!r} cannot be read ({type(err).__name__}: "
            f"{' '.join(str(err).split())[:200]}); its metadata is damaged. "
            "`stablesweep run` with its config repairs it and recomputes damaged cells"
        ) from None
    if "done" not in ds or "config_hash" not in ds.attrs:
        raise StoreError(f"{str(path)!r} is a Zarr store but not a stablesweep sweep "
                         "(no 'done' marker or config_hash)")
    return ds


def read_done(path: str | Path) -> np.ndarray:
    """The ``done`` marker array (0 pending, 1 done, 2 done with failures), read fresh."""
    arr = zarr.open_array(Path(path) / "done", mode="r")
    return np.asarray(arr[...])


def done_counts(path: str | Path) -> dict[str, int]:
    done = read_done(path)
    return {"total": int(done.size), "done": int((done == 1).sum()),
            "failed": int((done == 2).sum()), "pending": int((done == 0).sum())}


# --------------------------------------------------------------------------- writing


class StoreWriter:
    """Writes finished cells into a store (from the client process only).

    Each cell's values go straight into its own chunks of the Zarr arrays that
    :func:`create_store` laid out through xarray (the encoding of these float64, int8
    and string variables is the identity, so this is what ``to_zarr(region=...)``
    would write; writing directly, all of a cell's arrays concurrently, costs a few ms
    per cell instead of reopening the whole store for every region). The ``done``
    marker is written last, once the data is on disk.
    """

    def __init__(self, path: str | Path, layout: Layout):
        # zarr's public asynchronous API on an event loop of our own: all of a cell's
        # arrays are written concurrently (about 13 ms a cell against 20 ms one by one)
        self._loop = asyncio.new_event_loop()
        weakref.finalize(self, self._loop.close)
        self.group = self._run(zarr_async.open_group(str(path), mode="r+", zarr_format=3))
        self.layout = layout
        self.variables = layout.variables()
        self.groups = layout.groups()
        self._arrays: dict[str, Any] = {}

    def _array(self, name: str):
        """The array ``name``, or None when the store predates that variable."""
        if name not in self._arrays:
            try:
                self._arrays[name] = self._run(self.group.getitem(name))
            except KeyError:
                self._arrays[name] = None
        return self._arrays[name]

    def _index(self, cell: Cell, group: str) -> tuple[int, ...]:
        position = dict(zip(self.layout.cell_dims, cell.index, strict=True))
        return tuple(position[d] for d in self.groups[group])

    def write(self, cell: Cell, result: CellResult) -> None:
        """Write a finished cell's values and images, its checksum, then mark it done."""
        puts = []
        for name, values in result.values.items():
            _, dtype, _, _, group = self.variables[name]
            if group == "problem" and cell.network != 0:
                continue  # written once per grid point, by the first network's cell
            puts.append((name, self._index(cell, group), np.asarray(values).astype(dtype)))
        for k, images in result.examples.items():
            for name, image in images.items():
                if name in self.variables:
                    puts.append((name, (k,), np.asarray(image, dtype=np.float64)))
        self._put(puts)
        group = "attack" if cell.attack_depth is not None else "forward"
        where = self._index(cell, group)
        if self._array(CHECKSUM) is not None:  # older stores have none
            self._put([(CHECKSUM, where, np.int64(self._checksum(cell, puts)))])
        marker = np.int8(2 if result.failed else 1)
        self._put([("done", where, marker)])

    def _checksum(self, cell: Cell, puts: list) -> int:
        """The cell's checksum over its regions as they now read (see `integrity`)."""
        written = {name: value for name, _, value in puts}
        triples = []
        for group in cell_groups(cell, self.groups):
            index = self._index(cell, group)
            for name, (_, dtype, _, _, g) in self.variables.items():
                arr = self._array(name) if g == group else None
                if arr is None:
                    continue
                value = written.get(name)
                if value is None:  # not written by this cell: the fill value
                    shape = arr.shape[len(index):]
                    value = np.full(shape, "" if dtype is STR else np.nan, dtype=dtype)
                triples.append((name, index, value))
        return cell_checksum(triples)

    def _put(self, puts: list[tuple[str, tuple[int, ...], Any]]) -> None:
        # a store written by an older version lacks the newer variables: they are skipped,
        # so such a store still resumes (with the columns it has)
        puts = [p for p in puts if self._array(p[0]) is not None]
        arrays = [self._array(name) for name, _, _ in puts]

        async def put_all() -> None:
            await asyncio.gather(*(arr.setitem(index, value) for arr, (_, index, value)
                                   in zip(arrays, puts, strict=True)))

        self._run(put_all())

    def _run(self, coroutine):
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        """Close the writer's event loop (also done when the writer is collected)."""
        self._loop.close()


def write_cell(path: str | Path, layout: Layout, cell: Cell, result: CellResult) -> None:
    """Write one finished cell (see :class:`StoreWriter`; open one for many cells)."""
    writer = StoreWriter(path, layout)
    try:
        writer.write(cell, result)
    finally:
        writer.close()


def finalize(path: str | Path) -> None:
    """Stamp the end time (``finished``) and consolidate the metadata (end of a run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = zarr.open_group(str(path), mode="r+", zarr_format=3)
        root.attrs["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        zarr.consolidate_metadata(str(path), zarr_format=3)
    backup_root(path)


# --------------------------------------------------------------------------- locking


class StoreLock:
    """An exclusive lock on a store: the file ``<store>.lock`` with pid, host, start time.

    The lock file sits beside the store's resolved path, so every alias of one store (a
    symlink, a relative path, ``..`` components) takes the same lock.

    Use as a context manager. A lock held by a live process (or by any process on
    another host) raises :class:`StoreError`; a lock left by a dead process on this host
    is taken over.
    """

    def __init__(self, store: str | Path):
        # the real path: a symlink or another spelling of the same store takes this lock
        store = Path(store).resolve()
        self.path = store.with_name(store.name + ".lock")
        self.held = False

    def _me(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": _process_start(os.getpid())}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._read()
                if owner is not None and self._alive(owner):
                    raise StoreError(
                        f"store {str(self.path)[:-5]!r} is in use by another run (pid "
                        f"{owner.get('pid')} on host {owner.get('host')}, lock file "
                        f"{str(self.path)!r}); wait for it to finish, or remove the lock "
                        "file if that run is gone"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)  # stale: the owner is dead
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self._me(), f)
            self.held = True
            return
        raise StoreError(f"could not take the lock {str(self.path)!r}")

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None  # unreadable or half-written: treated as stale

    def _alive(self, owner: Mapping[str, Any]) -> bool:
        if owner.get("host") != socket.gethostname():
            return True  # cannot tell: refuse
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return False
        started = _process_start(pid)
        if started is None:
            return False
        return owner.get("started") in (None, started)  # a reused pid is another process

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.held = False

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _process_start(pid: int) -> float | None:
    """Start time of a process (None when it does not exist)."""
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0.0
        return 0.0
