"""A sweep spread over SLURM batch jobs (dask-jobqueue) equals the local run.

Needs a running SLURM (``sudo bash scripts/slurm-up.sh`` starts a one-node one; CI
starts it before the tests). Without one the test skips and says why. Marked ``slurm``.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from test_sweep_run import TINY, assert_same_store

from stablesweep.sweep import load_config, run_sweep

pytestmark = pytest.mark.slurm

#: The sweep tests' tiny config with its two built-in networks (the custom ones import a
#: module from tests/, which SLURM jobs need not see).
CONFIG = {**TINY, "networks": TINY["networks"][:2]}


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
    assert_same_store(local, remote)
