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
import shutil
import socket
import subprocess
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
import zarr
import zarr.api.asynchronous as zarr_async
from zarr.core.sync import sync

if TYPE_CHECKING:  # the cell module imports torch; the store needs only its types
    from .cell import CellResult

from .config import PATTERN_AXES, SweepConfig, pattern_label
from .grid import Cell

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

#: group -> variable -> (trailing dims after the group's cell dims, dtype, units, long_name)
VARIABLES: dict[str, dict[str, tuple[tuple[str, ...], Any, str, str]]] = {
    "forward": {
        "rel_error": (("trial", "depth"), float, "1",
                      "relative error ||x_hat - x|| / ||x|| of the network truncated at depth"),
        "residual": (("trial", "depth"), float, "a.u.",
                     "measurement residual ||A x_hat - y|| of the network truncated at depth"),
        "wall_time": (("trial",), float, "s", "wall time of the forward pass (all depths)"),
        "status": (("trial",), STR, "none", "trial status: ok, diverged, error ('' pending)"),
        "message": (("trial",), STR, "none", "error message of a failed trial"),
    },
    "problem": {
        "sigma_theory": (("trial",), float, "a.u.",
                         "sigma_{s,M}(z)_{l1_w} / (sqrt(s) sqrt(r)), the accuracy floor eps"),
        "signal_norm": (("trial",), float, "a.u.", "norm ||x|| of the true image"),
        "noise_norm": (("trial",), float, "a.u.", "norm ||e|| = ||y - A z|| of the noise"),
    },
    "momentum": {
        "pert_norm": (("trial", "attack_step"), float, "a.u.",
                      "norm ||r|| of the image-domain perturbation"),
        "meas_pert_norm": (("trial", "attack_step"), float, "a.u.",
                           "norm ||A r|| of the perturbation in measurement space"),
        "output_change": (("trial", "attack_step"), float, "a.u.",
                          "output change ||phi(y + A r) - phi(y)||"),
        "attack_error": (("trial", "attack_step"), float, "a.u.",
                         "error ||phi(y + A r) - x|| of the perturbed reconstruction"),
        "amplification": (("trial", "attack_step"), float, "1",
                          "amplification ||phi(y + A r) - phi(y)|| / ||A r||"),
        "attack_objective": (("trial", "attack_step"), float, "a.u.",
                             "attack objective Q(r)"),
    },
    "worst-case": {
        "worst_case_error": (("trial", "noise_level"), float, "a.u.",
                             "worst error max ||phi(y + e) - x|| over ||e|| <= level ||y||"),
        "random_noise_error": (("trial", "noise_level"), float, "a.u.",
                               "mean error ||phi(y + e) - x|| for random e, ||e|| = level ||y||"),
    },
    "attack": {
        "attack_clean_error": (("trial",), float, "a.u.",
                               "error ||phi(y) - x|| of the truncated (attacked) network"),
        "attack_wall_time": (("trial",), float, "s", "wall time of the attack"),
        "attack_status": (("trial",), STR, "none",
                          "attack status: ok, diverged, error, skipped (not attacked at "
                          "this attack depth) ('' pending)"),
        "attack_message": (("trial",), STR, "none", "error message of a failed attack"),
    },
    "examples": {
        "example_truth": (("row", "col"), float, "a.u.", "magnitude of the true image x"),
        "example_output": (("row", "col"), float, "a.u.",
                           "magnitude of the reconstruction phi(y) (attacked network)"),
        "example_perturbed": (("attack_record", "row", "col"), float, "a.u.",
                              "magnitude of the perturbed image x + r_j"),
        "example_attacked": (("attack_record", "row", "col"), float, "a.u.",
                             "magnitude of the attacked reconstruction phi(y + A r_j) "
                             "(momentum) or phi(y + e) (worst-case, per noise level)"),
    },
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
                if name == "example_perturbed" and self.cfg.attack.kind != "momentum":
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
        if cfg.examples:
            self._example_coords(c)
        return c

    def _example_coords(self, c: dict) -> None:
        cfg = self.cfg
        ex = cfg.examples
        c["example"] = ("example", np.arange(len(ex)), {"long_name": "kept example"})
        for i, name in enumerate(cfg.axes):
            values = _coord_values(name, cfg.axes[name])
            c[f"example_{name}"] = ("example", values[[e.point[i] for e in ex]])
        c["example_network"] = ("example", np.array(
            [cfg.networks[e.network].label for e in ex], dtype=STR))
        c["example_trial"] = ("example", np.array([e.trial for e in ex]))
        if cfg.attack is not None:
            c["example_attack_depth"] = ("example", np.array(
                [cfg.attack.depths[e.attack_depth] for e in ex]))
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
            data_vars[name] = (dims, dask.array.full(shape, fill, dtype=dtype, chunks=chunks),
                               {"units": units, "long_name": long_name})
        shape = tuple(sizes[d] for d in self.cell_dims)
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

    return {
        "title": f"stablesweep sweep: {cfg.experiment}",
        "experiment": cfg.experiment,
        "config": cfg.text,
        "config_hash": cfg.hash,
        "stablesweep_version": __version__,
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "network_weights": json.dumps(
            {n.label: cfg.weights_source(i) for i, n in enumerate(cfg.networks)}),
        **mask_provenance(cfg),
    }


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
        raise StoreError(f"{str(path)!r} is not a sweep store (no zarr.json)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_zarr(path, consolidated=None, chunks=None)
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
        self.group = sync(zarr_async.open_group(str(path), mode="r+", zarr_format=3))
        self.layout = layout
        self.variables = layout.variables()
        self.groups = layout.groups()
        self._arrays: dict[str, Any] = {}

    def _array(self, name: str):
        if name not in self._arrays:
            self._arrays[name] = sync(self.group.getitem(name))
        return self._arrays[name]

    def _index(self, cell: Cell, group: str) -> tuple[int, ...]:
        position = dict(zip(self.layout.cell_dims, cell.index, strict=True))
        return tuple(position[d] for d in self.groups[group])

    def write(self, cell: Cell, result: CellResult) -> None:
        """Write a finished cell's values and images, then mark it done."""
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
        marker = np.int8(2 if result.failed else 1)
        self._put([("done", self._index(cell, group), marker)])

    def _put(self, puts: list[tuple[str, tuple[int, ...], Any]]) -> None:
        arrays = [self._array(name) for name, _, _ in puts]

        async def put_all() -> None:
            await asyncio.gather(*(arr.setitem(index, value) for arr, (_, index, value)
                                   in zip(arrays, puts, strict=True)))

        sync(put_all())


def write_cell(path: str | Path, layout: Layout, cell: Cell, result: CellResult) -> None:
    """Write one finished cell (see :class:`StoreWriter`; open one for many cells)."""
    StoreWriter(path, layout).write(cell, result)


def finalize(path: str | Path) -> None:
    """Consolidate the store's metadata (once, at the end of a run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path), zarr_format=3)


# --------------------------------------------------------------------------- locking


class StoreLock:
    """An exclusive lock on a store: the file ``<store>.lock`` with pid, host, start time.

    Use as a context manager. A lock held by a live process (or by any process on
    another host) raises :class:`StoreError`; a lock left by a dead process on this host
    is taken over.
    """

    def __init__(self, store: str | Path):
        store = Path(store)
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
