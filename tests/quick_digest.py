"""Digests of the ``quick`` experiment's outputs: store, fits and figures.

One SHA-256 per store variable and coordinate (dims, dtype, attributes, values), per
fits variable, and per figure file, so that two runs of ``quick`` compare variable by
variable. Left out: what differs from run to run by design — wall times (``units: s``)
and the cells' ``checksum`` (a hash over a cell's values, wall times included), the
provenance attributes that name the time, host, command and commit, and the
creation date inside PDF files.

``python tests/quick_digest.py OUTDIR > tests/data/quick_digest.json`` records the
digests of a run (``OUTDIR`` holding ``sweep.zarr``, ``fits.nc`` and ``figures/``);
``tests/test_behaviour_unchanged.py`` compares a fresh run against them.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np

#: Root attributes that change from run to run (time, place, command, commit, versions).
VOLATILE_ATTRS = {"created", "started", "finished", "command", "host", "git_commit",
                  "sweep_created", "stablesweep_version", "python_version", "versions"}


def _digest_array(var) -> str:
    h = hashlib.sha256()
    h.update(repr((tuple(var.dims), str(var.dtype))).encode())
    attrs = {k: v for k, v in var.attrs.items() if k != "_FillValue"}
    h.update(json.dumps(attrs, sort_keys=True, default=str).encode())
    values = np.asarray(var.values)
    if values.dtype.kind in "TUSO":
        h.update("\x00".join(map(str, values.ravel())).encode())
    else:
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def _digest_dataset(ds) -> dict[str, str]:
    out = {}
    for name, var in {**ds.coords, **ds.data_vars}.items():
        if var.attrs.get("units") == "s" or name == "checksum":  # wall times, their hash
            continue
        out[str(name)] = _digest_array(var)
    attrs = {k: v for k, v in ds.attrs.items() if k not in VOLATILE_ATTRS}
    out[".attrs"] = hashlib.sha256(
        json.dumps(attrs, sort_keys=True, default=str).encode()).hexdigest()
    return out


def _digest_figure(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".pdf":
        data = re.sub(rb"/CreationDate \([^)]*\)", b"", data)
    return hashlib.sha256(data).hexdigest()


def digests(outdir: str | Path) -> dict[str, dict[str, str]]:
    """``{"store": {...}, "fits": {...}, "figures": {...}}`` of the outputs in ``outdir``."""
    import xarray as xr

    outdir = Path(outdir)
    with xr.open_zarr(outdir / "sweep.zarr") as ds:
        store = _digest_dataset(ds)
    with xr.open_dataset(outdir / "fits.nc") as ds:
        fits = _digest_dataset(ds)
    figures = {p.name: _digest_figure(p) for p in sorted((outdir / "figures").iterdir())
               if p.suffix in (".png", ".pdf")}
    return {"store": store, "fits": fits, "figures": figures}


if __name__ == "__main__":
    json.dump(digests(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
