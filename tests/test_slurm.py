"""Sweeps on a real SLURM: spread over batch jobs through dask-jobqueue, and the whole
workflow through ``snakemake --profile workflow/profiles/slurm``; both stores equal the
local run's. Requests larger than any node are refused before anything is submitted,
and workers that retire at their ``--lifetime`` are replaced by new batch jobs while the
sweep goes on.

Needs a running SLURM (``sudo bash scripts/slurm-up.sh`` starts a one-node one; CI
starts it before the tests), and the workflow test also Snakemake's SLURM executor
plugin (``bash scripts/bootstrap.sh test,cluster``). Without them the tests skip and say
why. Marked ``slurm``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.mark.parametrize(("store", "cells_per_task"), [
    (None, None),                    # one cell per block and per task
    ({"cells_per_block": 4}, 2),     # 2 blocks of 4, each split over 2 tasks (a lock)
], ids=["cells", "split-blocks"])
def test_sweep_on_slurm_jobs_equals_the_local_run(tmp_path, store, cells_per_task):
    """The workers of 2 SLURM jobs write the cells themselves; the store equals the
    local 1-worker run's."""
    why = _slurm_up()
    if why:
        pytest.skip(why)
    cfg = load_config(CONFIG if store is None else {**CONFIG, "store": store})
    local = tmp_path / "local.zarr"
    assert run_sweep(cfg, local, workers=1, progress=False).lost == 0
    cluster = tmp_path / "slurm.yaml"
    cluster.write_text(yaml.safe_dump({
        "kind": "slurm", "jobs": 2, "cores": 1, "processes": 1, "memory": "2GB",
        "walltime": "00:15:00", "log_directory": str(tmp_path / "logs")}))
    remote = tmp_path / "slurm.zarr"
    summary = run_sweep(cfg, remote, cluster=cluster, progress=False,
                        cells_per_task=cells_per_task)
    assert summary.lost == 0 and summary.computed == summary.total
    assert_same_store(local, remote)


ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: The workflow's experiment: 2 cells (one network, 2 trials, no attack), so that the run
#: has every stage (sweep, analyse, figure_list, one figure, report) and few jobs.
WORKFLOW_CONFIG = {
    **{k: v for k, v in TINY.items() if k not in ("attack", "examples")},
    "problem": {**TINY["problem"], "transform": "fourier", "noise": 0.0},
    "networks": TINY["networks"][:1],
}

#: The rules the workflow submits; `all` alone runs on the submitting host.
SUBMITTED_RULES = {"sweep", "analyse", "figure_list", "figure", "report"}

#: CPUs of the sweep job (set-threads), i.e. its Dask workers.
SWEEP_CPUS = 2


def _plugin_missing() -> str | None:
    """Why Snakemake cannot submit SLURM jobs from this environment (None: it can)."""
    if shutil.which("snakemake", path=str(BIN)) is None:
        return f"snakemake is not installed in {BIN}"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return ("the Snakemake SLURM executor plugin (snakemake-executor-plugin-slurm) is "
                "not installed: bash scripts/bootstrap.sh test,cluster installs it")
    version = importlib.metadata.version("snakemake-executor-plugin-slurm")
    if tuple(int(p) for p in re.findall(r"\d+", version)[:2]) < (2, 4):
        return (f"snakemake-executor-plugin-slurm {version} is too old for the profile's "
                "squeue status query (>= 2.4): bash scripts/bootstrap.sh test,cluster")
    return None


def _submitted(log: str) -> dict[str, list[str]]:
    """SLURM job ids by rule, from Snakemake's output ("rule X:" or "checkpoint X:",
    then "Job N has been submitted with SLURM jobid M")."""
    out: dict[str, list[str]] = {}
    rule = None
    for line in log.splitlines():
        if m := re.match(r"(?:local)?(?:rule|checkpoint) (\w+):$", line.strip()):
            rule = m.group(1) if not line.strip().startswith("local") else None
        elif (m := re.search(r"submitted with SLURM jobid (\d+)", line)) and rule:
            out.setdefault(rule, []).append(m.group(1))
    return out


def _cancel(log: str) -> None:
    """Cancel the SLURM jobs a stopped Snakemake submitted (best effort)."""
    ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30, check=False)


def test_workflow_on_slurm_submits_every_stage_and_equals_the_local_run(tmp_path):
    why = _slurm_up() or _plugin_missing()
    if why:
        pytest.skip(why)
    work = tmp_path / "work"
    (work / "config" / "experiments").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text("experiments: [tiny]\n")
    config = work / "config" / "experiments" / "tiny.yaml"
    config.write_text(yaml.safe_dump(WORKFLOW_CONFIG, sort_keys=False))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [
        str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(work), "--profile", str(ROOT / "workflow" / "profiles" / "slurm"),
        # the profile's sizes are a real cluster's; this one-node SLURM has 2 CPUs
        "--set-threads", f"sweep={SWEEP_CPUS}", "--set-resources", "sweep:mem_mb=2000",
        "--default-resources", "mem_mb=1000", "runtime=10",
        "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks",
        "2",
    ]
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                              timeout=480)
    except subprocess.TimeoutExpired as err:
        log = (err.stdout or b"").decode() + (err.stderr or b"").decode()
        _cancel(log)
        pytest.fail("snakemake on SLURM did not finish in 480 s:\n" + log[-4000:])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]

    # every stage went to SLURM as a batch job (none ran on this host) ...
    submitted = _submitted(log)
    assert set(submitted) == SUBMITTED_RULES, (submitted, log[-4000:])
    assert not re.search(r"^localrule (?!all:)", log, flags=re.M), log[-4000:]
    ids = [i for v in submitted.values() for i in v]
    # ... and SLURM ran each to completion (squeue lists ended jobs for MinJobAge, 300 s)
    q = subprocess.run(["squeue", "--states=all", "--noheader", "--jobs", ",".join(ids),
                        "--format", "%i|%k|%T|%C"],
                       capture_output=True, text=True, timeout=30)
    assert q.returncode == 0, q.stderr
    jobs = {f[0]: f[1:] for f in (line.split("|") for line in q.stdout.split())}
    assert set(jobs) == set(ids), (ids, q.stdout)
    for rule, rule_ids in submitted.items():
        for i in rule_ids:
            comment, state, cpus = jobs[i]
            assert comment.startswith(f"rule_{rule}_") and state == "COMPLETED", (rule, jobs[i])
            if rule == "sweep":
                assert int(cpus) == SWEEP_CPUS, jobs[i]

    res = work / "results" / "tiny"
    for name in ("sweep.summary.json", "fits.nc", "figures.json", "report.html"):
        assert (res / name).stat().st_size > 0, name
    local = tmp_path / "local.zarr"
    assert run_sweep(load_config(config), local, workers=1, progress=False).lost == 0
    assert_same_store(local, res / "sweep.zarr")


def _largest_node() -> tuple[int, int]:
    """CPUs and memory (MB) of the largest node of the default partition."""
    from stablesweep.sweep.run.slurm import partitions

    default = next(p for p in partitions().values() if p.default)
    return default.max_cpus, default.max_memory_mb


def test_workflow_request_larger_than_any_node_stops_before_submitting(tmp_path):
    """A sweep job asking for more CPUs and memory than the node has: Snakemake stops
    within seconds, submits nothing, and the message names the options to change."""
    why = _slurm_up() or _plugin_missing()
    if why:
        pytest.skip(why)
    cpus, mem = _largest_node()
    work = tmp_path / "work"
    (work / "config" / "experiments").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text("experiments: [tiny]\n")
    (work / "config" / "experiments" / "tiny.yaml").write_text(
        yaml.safe_dump(WORKFLOW_CONFIG, sort_keys=False))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
    cmd = [
        str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(work), "--profile", str(ROOT / "workflow" / "profiles" / "slurm"),
        "--set-threads", f"sweep={cpus + 1}", "--set-resources", f"sweep:mem_mb={mem + 1000}",
        "--default-resources", "mem_mb=1000", "runtime=10",
    ]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                              timeout=180)
    except subprocess.TimeoutExpired as err:
        log = (err.stdout or b"").decode() + (err.stderr or b"").decode()
        _cancel(log)
        pytest.fail("snakemake did not stop on an oversize request:\n" + log[-4000:])
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    _cancel(log)
    print(log[-3000:])
    assert proc.returncode != 0, log[-4000:]
    assert "submitted with SLURM jobid" not in log, log[-4000:]
    assert "Traceback" not in log and 'File "' not in log, log[-4000:]
    assert "the SLURM request would wait in the queue for ever" in log, log[-4000:]
    assert (f"rule sweep: {cpus + 1} CPUs is more than the largest node of partition "
            f"debug has ({cpus}); set --set-threads sweep={cpus} or fewer") in log, log[-4000:]
    assert (f"rule sweep: {mem + 1000} MB of memory is more than the largest node of "
            f"partition debug has ({mem} MB); set --set-resources sweep:mem_mb={mem} or less"
            ) in log, log[-4000:]
    assert seconds < 120, seconds
    assert not (work / "results" / "tiny" / "sweep.zarr").exists()
    assert not any((work / ".snakemake" / "locks").glob("*"))  # the lock is released


def test_cluster_file_larger_than_any_node_is_refused_before_the_store(tmp_path, capsys):
    why = _slurm_up()
    if why:
        pytest.skip(why)
    from stablesweep.cli import main

    cpus, _ = _largest_node()
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    cluster = tmp_path / "slurm.yaml"
    cluster.write_text(yaml.safe_dump({"kind": "slurm", "jobs": 1, "cores": cpus + 1,
                                       "memory": "1GB", "walltime": "00:10:00"}))
    store = tmp_path / "out.zarr"
    t0 = time.monotonic()
    assert main(["run", str(config), "--cluster", str(cluster), "--out", str(store)]) == 1
    assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err
    print(err)
    assert err.startswith(f"stablesweep run: invalid cluster config {cluster}: 1 problem")
    assert (f"each batch job: {cpus + 1} CPUs is more than the largest node of partition "
            f"debug has ({cpus}); set cores: {cpus} or fewer") in err
    assert not store.exists()


#: Network depth of the lifetime test's sweep: cells of about a second.
LIFETIME_DEPTH = 1000
#: Worker lifetime (s) and its stagger in the lifetime test: each worker retires a few
#: times during the sweep.
LIFETIME, STAGGER = 15, 3

#: A sweep long enough for workers to retire mid-way: 2 transforms x 16 noise levels x
#: 2 networks = 64 cells of 2 trials (about 80 CPU seconds here).
LIFETIME_CONFIG = {
    **CONFIG,
    "experiment": "lifetime",
    "problem": {**CONFIG["problem"], "noise": [round(0.005 * k, 3) for k in range(16)]},
    "networks": [{**n, "depth": LIFETIME_DEPTH} for n in CONFIG["networks"]],
}


def test_workers_retire_at_their_lifetime_and_are_replaced_store_equals_local(tmp_path):
    """Two one-CPU batch jobs whose workers retire after about 15 s (--lifetime, with a
    stagger), in a sweep that lasts several lifetimes: adapt submits new jobs for the
    ended ones, every cell is computed once the sweep ends, and the store equals an
    uninterrupted local run's."""
    why = _slurm_up()
    if why:
        pytest.skip(why)
    cfg = load_config(LIFETIME_CONFIG)
    name = f"ss-lifetime-{os.getpid()}"
    logs = tmp_path / "logs"
    cluster = tmp_path / "slurm.yaml"
    cluster.write_text(yaml.safe_dump({
        "kind": "slurm", "jobs": 2, "cores": 1, "processes": 1, "memory": "1GB",
        "walltime": "00:05:00", "job_name": name, "log_directory": str(logs),
        "worker_extra_args": ["--lifetime", f"{LIFETIME}s", "--lifetime-stagger",
                              f"{STAGGER}s"],
        "adapt": {"minimum_jobs": 2, "interval": "500ms"}}))
    remote = tmp_path / "slurm.zarr"
    t0 = time.monotonic()
    summary = run_sweep(cfg, remote, cluster=cluster, progress=False)
    seconds = time.monotonic() - t0
    assert summary.lost == 0 and summary.computed == summary.total, summary

    # SLURM's jobs of this run (squeue lists ended jobs for MinJobAge, 300 s): the
    # retired workers' jobs ended by themselves (COMPLETED), the last ones were
    # cancelled when the sweep closed its cluster
    q = subprocess.run(["squeue", "--states=all", "--noheader", "--name", name,
                        "--format", "%i|%T"], capture_output=True, text=True, timeout=30)
    assert q.returncode == 0, q.stderr
    states = dict(line.split("|") for line in q.stdout.split())
    retired = [f.name for f in logs.glob("*.err")
               if "worker-lifetime-reached" in f.read_text(errors="replace")]
    print(f"sweep {seconds:.0f} s, {summary.total} cells; {len(states)} batch jobs "
          f"{sorted(states.values())}; {len(retired)} workers retired at their lifetime")
    assert len(retired) >= 2, (retired, states)
    # adapt (minimum 2 jobs) replaced the retired workers' jobs, the last two perhaps
    # not if they retired as the sweep ended
    assert len(states) >= max(3, len(retired)), states
    assert sum(s == "COMPLETED" for s in states.values()) >= 2, states
    assert "FAILED" not in states.values(), states  # e.g. a replacement's name was taken

    local = tmp_path / "local.zarr"
    assert run_sweep(cfg, local, workers=2, progress=False).lost == 0
    assert_same_store(local, remote)
