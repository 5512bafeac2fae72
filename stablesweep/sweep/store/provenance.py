"""Provenance of a sweep store: what produced it, stored in its attributes.

``config`` (the YAML text), ``config_hash``, ``stablesweep_version``, ``git_commit``,
library versions (JSON), the command, host, Python, ``created`` (and ``started`` /
``finished`` of the runs), ``network_weights`` (JSON: label -> weight source) and, with
``mask_from``, ``mask_from_sha256`` (digest of the fixed mask: a store is resumed only
with the same mask) and ``mask_from_m`` (its number of samples).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..config.load import SweepConfig

__all__ = ["RUN_ATTRS", "git_commit", "library_versions", "mask_provenance", "provenance"]


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
    from ..config.problem import fixed_mask  # torch: only needed when a mask file is read

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
