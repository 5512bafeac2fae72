"""Assemble the per-model measurement files into one labelled dataset (``frontier.nc``).

Each model's job writes ``<out>/measure/<id>.nc``
(:func:`stablesweep.frontier.measure.measure_model`); :func:`collect` stacks them along
a ``model`` dimension in the config's order (trained models, then references), with
coordinates ``arch``, ``detail_weight``, ``noise``, ``kappa``, ``seed`` and ``trained``
per model, and checks that every file was measured with this config's hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .config import FrontierConfig, model_specs, reference_specs

__all__ = ["collect", "measure_path", "missing_measurements", "write_netcdf"]


def write_netcdf(ds: Any, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` atomically (a temporary file in the folder, then a rename:
    a killed job leaves no half-written file for the workflow to trust)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        ds.to_netcdf(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def measure_path(out_dir: str | os.PathLike, model_id: str) -> Path:
    """``<out>/measure/<id>.nc``."""
    return Path(out_dir) / "measure" / f"{model_id}.nc"


def missing_measurements(cfg: FrontierConfig, out_dir: str | os.PathLike) -> list[str]:
    """Ids of the config's networks without a measurement file of this config."""
    import xarray as xr

    out = []
    for spec in [*model_specs(cfg), *reference_specs(cfg)]:
        path = measure_path(out_dir, spec.id)
        if not path.is_file():
            out.append(spec.id)
            continue
        with xr.open_dataset(path) as ds:
            if ds.attrs.get("config_hash") != cfg.hash:
                out.append(spec.id)
    return out


def collect(cfg: FrontierConfig, out_dir: str | os.PathLike) -> Any:
    """The ``model``-stacked dataset of every measurement of the config.

    Raises
    ------
    FileNotFoundError
        Some network has no measurement of this config (their ids are named).
    """
    import xarray as xr

    missing = missing_measurements(cfg, out_dir)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} network(s) of {cfg.name} have no measurement of this config in "
            f"{Path(out_dir) / 'measure'}: {', '.join(missing[:6])}"
            + (" ..." if len(missing) > 6 else "")
            + "; run `stablesweep frontier measure CONFIG --model ID` for each, or "
              "`stablesweep frontier run CONFIG`")
    specs = [*model_specs(cfg), *reference_specs(cfg)]
    parts, seconds = [], {}
    for spec in specs:
        with xr.open_dataset(measure_path(out_dir, spec.id)) as ds:
            ds = ds.load()
        seconds[spec.id] = json.loads(ds.attrs.get("seconds", "{}"))
        parts.append(ds.drop_attrs() if hasattr(ds, "drop_attrs") else ds.assign_attrs({}))
    ds = xr.concat(parts, dim="model", join="exact")
    ds = ds.assign_coords(
        model=("model", np.array([s.id for s in specs], dtype=str)),
        arch=("model", np.array([s.arch for s in specs], dtype=str)),
        detail_weight=("model", np.array([s.detail_weight for s in specs]), {
            "long_name": "share of training images with a near-kernel detail", "units": "1"}),
        noise=("model", np.array([s.noise for s in specs]), {
            "long_name": "training jitter: ||e|| ~ U(0, noise) ||y||", "units": "1"}),
        kappa=("model", np.array([s.kappa for s in specs]), {
            "long_name": "visibility ||A delta|| / ||delta|| of the model's details and "
                         "test pairs", "units": "1"}),
        seed=("model", np.array([s.seed for s in specs], dtype=np.int32), {
            "long_name": "training seed (-1: untrained reference)"}),
        trained=("model", np.array([s.trained for s in specs], dtype=np.int8)),
    )
    from stablesweep.tradeoff.problem import make_operator

    from .measure import provenance

    attrs = provenance(cfg, make_operator(cfg.problem))
    attrs["title"] = f"stablesweep accuracy-stability frontier: {cfg.name}"
    attrs["Conventions"] = "CF-1.10"
    attrs["measure_seconds"] = json.dumps(seconds)
    ds.attrs.update(attrs)
    return ds
