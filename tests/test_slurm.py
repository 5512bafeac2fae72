"""A sweep spread over SLURM batch jobs (dask-jobqueue) equals the local run.

Needs a running SLURM (``sudo bash scripts/slurm-up.sh`` starts a one-node one; CI
starts it before the tests). Without one the test skips and says why. Marked ``slurm``.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import xarray as xr
import yaml

from stablesweep.sweep import load_config, run_sweep
from stablesweep.sweep.provenance import RUN_ATTRS

pytestmark = pytest.mark.slurm

CONFIG = {
    "experiment": "slurm-tiny",
    "seed": 3,
    "trials": 2,
    "problem": {
        "transform": ["fourier", "walsh"],
        "resolution": 16,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
        "noise": [0.0, 0.01],
    },
    "networks": [
        {"name": "fista", "depth": 12, "params": {"lam": 1.0e-3}},
        {"name": "firenet", "depth": 10, "params": {"lam": 1.0e-3, "p": 5}},
    ],
    "attack": {"kind": "momentum", "depths": [5],
               "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2}},
}

TIMINGS = {"wall_time", "attack_wall_time", "checksum"}  # the checksum covers the timings


def _slurm_up() -> str | None:
    """Why SLURM cannot run jobs here (None: it can)."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "SLURM is not installed (sudo bash scripts/slurm-up.sh installs and starts one)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"sinfo failed: {err}"
    if out.returncode != 0 or not any(s.strip() in ("idle", "mix", "alloc")
                                      for s in out.stdout.split()):
        return ("no SLURM node can run jobs (sinfo: "
                f"{(out.stdout + out.stderr).strip() or 'nothing'}); "
                "sudo bash scripts/slurm-up.sh starts one")
    return None


def test_sweep_on_slurm_jobs_equals_the_local_run(tmp_path):
    why = _slurm_up()
    if why:
        pytest.skip(why)
    cfg = load_config(CONFIG)
    local = tmp_path / "local.zarr"
    assert run_sweep(cfg, local, workers=1, progress=False).lost == 0
    cluster = tmp_path / "slurm.yaml"
    cluster.write_text(yaml.safe_dump({
        "kind": "slurm", "jobs": 2, "cores": 1, "processes": 1, "memory": "2GB",
        "walltime": "00:15:00", "log_directory": str(tmp_path / "logs")}))
    remote = tmp_path / "slurm.zarr"
    summary = run_sweep(cfg, remote, cluster=cluster, progress=False)
    assert summary.lost == 0 and summary.computed == summary.total
    x, y = xr.open_zarr(local), xr.open_zarr(remote)
    assert set(x.variables) == set(y.variables)
    for name in x.variables:
        if name not in TIMINGS:
            np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=name)
    assert {k: v for k, v in x.attrs.items() if k not in RUN_ATTRS} == {
        k: v for k, v in y.attrs.items() if k not in RUN_ATTRS}
