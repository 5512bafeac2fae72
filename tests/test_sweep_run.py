"""Running sweeps for real: LocalCluster, an external Dask scheduler, kill -9 and resume.

One tiny sweep (16x16, 4 networks, 2 trials, a 2-step momentum attack) is run several
ways; every way must give the same store (wall times aside).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from stablesweep.sweep import StoreError, load_config, run_sweep
from stablesweep.sweep.run.execute import make_layout
from stablesweep.sweep.store import create_store, read_done
from stablesweep.sweep.store.lock import StoreLock
from stablesweep.sweep.store.provenance import RUN_ATTRS

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "experiment": "tiny",
    "seed": 7,
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
        # a real divergence: a step 1/L far beyond 1/||A||^2
        {"name": "fista", "label": "fista-diverges", "depth": 12, "params": {"L": 1.0e-30}},
        # a real error, through the custom-factory route: a network built for fully sampled
        # measurements (what validation probes) given half of them in every trial
        {"name": "custom", "label": "fista-raises", "factory": "helper_networks:fixed_size_net",
         "depth": 12, "params": {"m": 256}},
    ],
    "attack": {
        "kind": "momentum",
        "depths": [5],
        "params": {"lam": 0.01, "eta": 0.01, "tau": 1.0e-3, "steps": 2, "record_every": 1},
    },
    "examples": [{"network": "fista", "trial": 1, "noise": 0.01, "transform": "walsh"}],
}
N_CELLS = 2 * 2 * 4

TIMINGS = {"wall_time", "attack_wall_time", "checksum"}  # the checksum covers the timings


# helper_networks (tests/) must import in every process that builds TINY's networks: this
# one, subprocesses and every Dask worker (they inherit the environment)
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_TESTS, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def env_with_repo() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def kill_run_once_done(cfg_path: Path, store: Path, cwd: Path, at_least: int,
                       poll: float) -> int:
    """Start ``stablesweep run`` (1 worker) in a subprocess, kill -9 its process group
    (the CLI and its workers) once ``at_least`` cells are done; the done cells then."""
    cmd = [sys.executable, "-m", "stablesweep.cli", "run", str(cfg_path), "--out", str(store),
           "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, env=env_with_repo(), cwd=cwd, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                n_done = int((read_done(store) > 0).sum())
            except Exception:  # not created yet
                n_done = 0
            if n_done >= at_least:
                break
            time.sleep(poll)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    return int((read_done(store) > 0).sum())


def write_config(path: Path, data: dict = TINY) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def assert_same_store(a: Path, b: Path) -> None:
    """Equal coordinates, data (NaN == NaN) and provenance, except timings / creation time."""
    x, y = xr.open_zarr(a), xr.open_zarr(b)
    assert set(x.variables) == set(y.variables)
    for name in x.variables:
        if name in TIMINGS:
            continue
        np.testing.assert_array_equal(x[name].values, y[name].values, err_msg=name)
    drop = set(RUN_ATTRS)
    assert {k: v for k, v in x.attrs.items() if k not in drop} == {
        k: v for k, v in y.attrs.items() if k not in drop}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The config file and an uninterrupted 2-worker run of it (the reference store)."""
    root = tmp_path_factory.mktemp("tiny")
    cfg_path = write_config(root / "tiny.yaml")
    store = root / "reference.zarr"
    summary = run_sweep(load_config(cfg_path), store, workers=2, progress=False)
    assert summary.computed == N_CELLS and summary.lost == 0
    return cfg_path, store


def test_store_layout(tiny):
    _, store = tiny
    ds = xr.open_zarr(store)  # plain xarray; consolidated metadata
    assert (store / "zarr.json").is_file()
    assert json.loads((store / "zarr.json").read_text()).get("consolidated_metadata")
    assert dict(ds.sizes) == {
        "transform": 2, "noise": 2, "network": 4, "attack_depth": 1, "trial": 2,
        "depth": 12, "attack_step": 3, "example": 1, "attack_record": 2, "row": 16, "col": 16,
        "level": 4}
    assert list(ds["network"].values) == ["fista", "firenet", "fista-diverges", "fista-raises"]
    assert list(ds["depth"].values) == list(range(1, 13))  # union of 1..12 and 5, 10
    for name in ("rel_error", "residual", "wall_time", "status", "message", "sigma_theory",
                 "pert_norm", "meas_pert_norm", "output_change", "attack_error",
                 "amplification", "example_truth", "example_perturbed", "example_attacked",
                 "done"):
        assert name in ds.data_vars, name
    # CF: a long_name everywhere; units on every numeric variable ("1" when dimensionless,
    # never "none"), none on strings
    for name, var in ds.variables.items():
        assert var.attrs.get("long_name"), name
        if var.dtype.kind in "fiu" and name in ds.data_vars:
            assert var.attrs.get("units") not in (None, "none", "a.u."), name
        if var.dtype.kind not in "fiub":
            assert "units" not in var.attrs, name
    assert ds.attrs["Conventions"] == "CF-1.10"
    assert "NaN" in ds["rel_error"].attrs["comment"]
    # the sparsity labels have numeric companions
    assert ds["sparsity_total"].item() == 8
    assert list(ds["sparsity_pattern"].values) == [2, 2, 2, 2]
    # provenance: versions of the libraries, the command, host, start and end
    versions = json.loads(ds.attrs["versions"])
    assert {"torch", "numpy", "zarr", "xarray", "dask", "pywavelets"} <= set(versions)
    assert versions["numpy"] == np.__version__
    for key in ("command", "host", "python_version", "started", "finished"):
        assert ds.attrs[key], key
    assert ds.attrs["finished"] >= ds.attrs["started"]
    assert ds["rel_error"].dims == ("transform", "noise", "network", "trial", "depth")
    assert ds["pert_norm"].dims == (
        "transform", "noise", "network", "attack_depth", "trial", "attack_step")
    assert ds["example_perturbed"].dims == ("example", "attack_record", "row", "col")
    for key in ("config", "config_hash", "stablesweep_version", "git_commit", "created"):
        assert ds.attrs[key], key
    assert yaml.safe_load(ds.attrs["config"]) == TINY
    # scalar coordinates for the parameters that are not swept
    assert ds["resolution"].item() == 16 and ds["sparsity"].item() == "2,2,2,2"


def test_values_and_failures_are_recorded(tiny):
    _, store = tiny
    ds = xr.open_zarr(store).load()
    ok = ds.sel(network=["fista", "firenet"])
    assert (ok["status"] == "ok").all()
    assert (ok["attack_status"] == "ok").all()
    # firenet records only at the end of each restart, NaN in between
    fire = ds["rel_error"].sel(network="firenet")
    assert np.isfinite(fire.sel(depth=[5, 10])).all()
    assert np.isnan(fire.sel(depth=[1, 4, 6, 11, 12])).all()
    assert np.isfinite(ds["rel_error"].sel(network="fista")).all()
    assert (ds["rel_error"].sel(network="fista", depth=12)
            < ds["rel_error"].sel(network="fista", depth=1)).all()
    assert np.isfinite(ok["residual"].sel(depth=10)).all()
    # noise: ||e|| = noise * ||Az||, zero without noise
    assert (ds["noise_norm"].sel(noise=0.0) == 0).all()
    assert (ds["noise_norm"].sel(noise=0.01) > 0).all()
    assert (ds["sigma_theory"] == 0).all()  # exactly sparse signals
    assert np.isfinite(ok["amplification"]).all()
    # the diverging and the raising network are recorded, and the sweep went on
    assert (ds["status"].sel(network="fista-diverges") == "diverged").all()
    assert ds["message"].sel(network="fista-diverges").str.contains("non-finite").all()
    assert (ds["status"].sel(network="fista-raises") == "error").all()
    assert ds["message"].sel(network="fista-raises").str.contains(
        "this network takes 256 measurements; got 128").all()
    done = ds["done"]
    assert (done.sel(network=["fista", "firenet"]) == 1).all()
    assert (done.sel(network=["fista-diverges", "fista-raises"]) == 2).all()
    # the example: the true image and 2 kept attack records, no padding at 16x16
    assert np.isfinite(ds["example_truth"]).all() and np.isfinite(ds["example_attacked"]).all()
    assert ds["example_network"].item() == "fista" and ds["example_transform"].item() == "walsh"


@pytest.fixture
def dask_cluster(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = env_with_repo()
    common = dict(env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                  start_new_session=True)
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **common)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address,
                 "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], **common))
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_external_scheduler(tiny, tmp_path, dask_cluster):
    cfg_path, reference = tiny
    from stablesweep.cli import main

    store = tmp_path / "sched.zarr"
    assert main(["run", str(cfg_path), "--out", str(store), "--scheduler", dask_cluster,
                 "--quiet"]) == 0
    assert_same_store(reference, store)


def test_kill_and_resume(tiny, tmp_path):
    """kill -9 mid-run, rerun, equality with the uninterrupted run.

    Both runs here use 1 worker and the reference 2, so this is also the check that
    the numbers do not depend on the worker count.
    """
    cfg_path, reference = tiny
    store = tmp_path / "killed.zarr"
    done_at_kill = kill_run_once_done(cfg_path, store, tmp_path, at_least=1, poll=0.02)
    assert 1 <= done_at_kill < N_CELLS
    assert store.with_name(store.name + ".lock").exists()  # left behind by the dead run

    # the rerun takes over the stale lock and computes only what is missing
    summary = run_sweep(load_config(cfg_path), store, workers=1, progress=False)
    assert summary.skipped == done_at_kill
    assert summary.computed == N_CELLS - done_at_kill
    assert not store.with_name(store.name + ".lock").exists()
    assert_same_store(reference, store)
    # a third run has nothing left to do
    again = run_sweep(load_config(cfg_path), store, workers=1, progress=False)
    assert again.computed == 0 and again.skipped == N_CELLS


def test_other_config_is_refused(tiny, tmp_path):
    _, reference = tiny
    other = load_config({**TINY, "seed": 8})
    with pytest.raises(StoreError, match=r"created by a different config \(config_hash"):
        run_sweep(other, reference, workers=1, progress=False)


def test_concurrent_run_is_refused(tmp_path):
    cfg = load_config(TINY)
    store = tmp_path / "locked.zarr"
    create_store(store, make_layout(cfg))
    with StoreLock(store):  # held by this (live) process
        with pytest.raises(StoreError, match=r"in use by another run \(pid \d+ on host"):
            run_sweep(cfg, store, workers=1, progress=False)
    assert not (read_done(store) > 0).any()


def test_stale_lock_of_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = tmp_path / "s.zarr"
    lock = store.with_name("s.zarr.lock")
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                "started": 1.0}))
    with StoreLock(store) as held:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        assert held.held
    assert not lock.exists()


FLAKY = '''
import os, pathlib, signal

from stablesweep.networks import build_network


def flaky_fista(A, depth, marker):
    """FISTA, but the first build inside a Dask worker kills that worker (kill -9)."""
    try:
        from distributed import get_worker

        get_worker()
    except ValueError:  # in the client (probing the network's depths)
        return build_network("fista", A, depth=depth)
    path = pathlib.Path(marker)
    if not path.exists():
        path.write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return build_network("fista", A, depth=depth)
'''


def test_lost_worker_is_retried(tmp_path, monkeypatch):
    (tmp_path / "flaky_net.py").write_text(FLAKY)
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers inherit sys.path
    marker = tmp_path / "killed"
    base = {k: v for k, v in TINY.items() if k not in ("attack", "examples")}
    cfg = load_config({
        **base, "trials": 1,
        "problem": {**TINY["problem"], "transform": "walsh", "noise": 0.0},
        "networks": [{"name": "custom", "factory": "flaky_net:flaky_fista", "depth": 4,
                      "params": {"marker": str(marker)}}],
    })
    summary = run_sweep(cfg, tmp_path / "s.zarr", workers=1, progress=False)
    assert marker.exists()  # a worker died running the cell ...
    assert summary.computed == 1 and summary.lost == 0  # ... and the cell was rerun
    assert (xr.open_zarr(tmp_path / "s.zarr")["status"] == "ok").all()


def test_store_from_an_older_version_resumes_with_its_own_columns(tiny, tmp_path):
    """A store written before psnr/ssim existed (no such arrays) still resumes; the
    columns it has equal the reference run's."""
    _, reference = tiny
    cfg = load_config(TINY)
    store = tmp_path / "old.zarr"
    create_store(store, make_layout(cfg))
    for name in ("psnr", "ssim"):  # what an older version did not write
        shutil.rmtree(store / name)
    summary = run_sweep(cfg, store, workers=1, progress=False)
    assert summary.computed == N_CELLS
    old, ref = xr.open_zarr(store).load(), xr.open_zarr(reference).load()
    assert "psnr" not in old and "psnr" in ref
    for name in ("rel_error", "residual", "amplification", "done"):
        np.testing.assert_array_equal(old[name].values, ref[name].values, err_msg=name)


def test_dashboard_and_scheduler_listen_on_loopback_only():
    from stablesweep.sweep.run.execute import connect

    with connect(workers=1, dashboard=True) as client:
        info = client.scheduler_info()
        assert info["address"].startswith("tcp://127.0.0.1:")
        link = client.dashboard_link
        assert "127.0.0.1" in link, link


def _chunk_files(store: Path, name: str) -> list[Path]:
    return sorted(p for p in (store / name).rglob("*") if p.is_file() and p.name != "zarr.json")


@pytest.mark.parametrize("damage", ["delete-chunk", "truncate-chunk", "delete-marker"])
def test_damaged_cells_are_detected_and_recomputed_bit_identically(tiny, tmp_path, damage):
    """A done cell whose data is gone or unreadable is found by its checksum, marked
    pending and computed again: the repaired store equals the undamaged one."""
    from stablesweep.sweep.config.grid import cells
    from stablesweep.sweep.run.execute import make_layout
    from stablesweep.sweep.store.integrity import verify_cells

    cfg_path, reference = tiny
    cfg = load_config(cfg_path)
    store = tmp_path / "damaged.zarr"
    shutil.copytree(reference, store)
    layout = make_layout(cfg)
    assert verify_cells(store, layout, cells(cfg)).damaged == []
    if damage == "delete-marker":
        victim = _chunk_files(store, "done")[3]
        victim.unlink()  # the cell reads as pending: recomputed by the normal resume
    else:
        victim = _chunk_files(store, "rel_error")[5]
        if damage == "delete-chunk":
            victim.unlink()
        else:
            victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
        report = verify_cells(store, layout, cells(cfg))
        assert len(report.damaged) == 1, report.damaged
        cell, why = report.damaged[0]
        assert ("unreadable" in why) if damage == "truncate-chunk" else ("differ" in why)
    summary = run_sweep(cfg, store, workers=1, progress=False)
    assert summary.computed == 1
    assert summary.repaired == (0 if damage == "delete-marker" else 1)
    assert_same_store(store, reference)
    assert verify_cells(store, layout, cells(cfg)).damaged == []


METADATA_DAMAGE = {
    "delete-array-metadata": ("rel_error/zarr.json", None),
    "corrupt-array-metadata": ("psnr/zarr.json", b'{"zarr_format": 3, "node_t'),
    "delete-coordinate-chunk": ("depth/c/0", None),
    "corrupt-root-metadata": ("zarr.json", b'{"attributes": {"config'),
    "delete-root-metadata": ("zarr.json", None),
}


@pytest.mark.parametrize("damage", sorted(METADATA_DAMAGE))
def test_damaged_metadata_is_detected_and_repaired_bit_identically(tiny, tmp_path, damage):
    """Metadata and coordinate files are the config's template, byte for byte: `status
    --verify` finds a missing or changed one (exit 4), `run` writes it again (the root
    from its backup), and the store then equals the undamaged one."""
    from stablesweep.cli import main
    from stablesweep.sweep.store.integrity import ROOT_BACKUP

    cfg_path, reference = tiny
    store = tmp_path / "damaged.zarr"
    shutil.copytree(reference, store)
    name, content = METADATA_DAMAGE[damage]
    if content is None:
        (store / name).unlink()
    else:
        (store / name).write_bytes(content)
    if name != "zarr.json":  # a readable root: status names the damaged file
        assert main(["status", str(store), "--verify", "--no-config"]) == 4
    else:  # an unreadable root: status says the store cannot be read, and how to repair
        assert main(["status", str(store)]) == 1
    summary = run_sweep(load_config(cfg_path), store, workers=1, progress=False)
    assert summary.computed == 0 and summary.lost == 0
    assert_same_store(store, reference)
    for file in sorted(reference.rglob("*")):
        rel = file.relative_to(reference)
        if file.is_file() and rel.as_posix() not in ("zarr.json", ROOT_BACKUP):
            assert (store / rel).read_bytes() == file.read_bytes(), rel
    assert main(["status", str(store), "--verify", "--no-config"]) == 0


def test_damaged_root_without_backup_is_refused_clearly(tiny, tmp_path):
    """A root lost together with its backup cannot be rebuilt (it holds the provenance):
    the run says so and computes nothing."""
    from stablesweep.sweep.store.integrity import ROOT_BACKUP

    cfg_path, reference = tiny
    store = tmp_path / "damaged.zarr"
    shutil.copytree(reference, store)
    (store / "zarr.json").unlink()
    (store / ROOT_BACKUP).unlink()
    with pytest.raises(StoreError, match=r"(?s)root metadata.*no readable backup"):
        run_sweep(load_config(cfg_path), store, workers=1, progress=False)


def test_lock_covers_every_alias_of_a_store(tmp_path):
    """A symlink to a store (or another spelling of its path) takes the same lock."""
    cfg = load_config(TINY)
    store = tmp_path / "real.zarr"
    create_store(store, make_layout(cfg))
    alias = tmp_path / "alias.zarr"
    alias.symlink_to(store)
    with StoreLock(store):
        with pytest.raises(StoreError, match="in use by another run"):
            run_sweep(cfg, alias, workers=1, progress=False)
        with pytest.raises(StoreError, match="in use by another run"):
            run_sweep(cfg, tmp_path / "sub" / ".." / "real.zarr", workers=1, progress=False)
    assert not (read_done(store) > 0).any()
