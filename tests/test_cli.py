"""The command line (run / status), progress output and batch-cluster files."""

from __future__ import annotations

import io
import re

import pytest
import yaml

from stablesweep.cli import SUBCOMMANDS, build_parser, main
from stablesweep.sweep import load_config
from stablesweep.sweep.run.execute import ClusterConfigError, cluster_from_file, make_layout
from stablesweep.sweep.run.progress import Progress
from stablesweep.sweep.store import create_store

CONFIG = {
    "experiment": "cli",
    "seed": 0,
    "trials": 1,
    "problem": {
        "transform": "walsh",
        "resolution": 8,
        "dim": 1,
        "sampling": {"scheme": "uniform", "rate": 0.5},
        "signal": {"kind": "sparse-in-levels", "sparsity": [1, 1, 1]},
        "noise": [0.0, 0.1],
    },
    "networks": [{"name": "fista", "depth": 3}],
}


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "status" in out
    assert len(SUBCOMMANDS) >= 2


def test_adding_a_subcommand_is_one_function():
    def add_hello_parser(subparsers):
        p = subparsers.add_parser("hello")
        p.set_defaults(func=lambda args: 7)

    SUBCOMMANDS.append(add_hello_parser)
    try:
        assert main(["hello"]) == 7
    finally:
        SUBCOMMANDS.remove(add_hello_parser)


def test_run_rejects_bad_config_before_computing(tmp_path, capsys):
    bad = dict(CONFIG, trials=0, problem=dict(CONFIG["problem"], transform="fouier"))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["run", str(path), "--out", str(tmp_path / "s.zarr")]) == 1
    err = capsys.readouterr().err
    assert "2 problems" in err
    assert "problem.transform: unknown value 'fouier'; expected one of: fourier, walsh" in err
    assert "trials: 0 is out of range; expected >= 1" in err
    assert not (tmp_path / "s.zarr").exists()


def test_run_options_are_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "c.yaml", "--workers", "2", "--scheduler", "x"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "c.yaml", "--workers", "0"])


def test_status_of_a_new_store(tmp_path, capsys):
    cfg = load_config(CONFIG)
    store = tmp_path / "s.zarr"
    create_store(store, make_layout(cfg))
    assert main(["status", str(store)]) == 0
    out = capsys.readouterr().out
    assert "cells:      2 total, 0 done, 0 failed, 2 pending" in out
    assert f"config_hash: {cfg.hash}" in out
    assert "experiment: cli" in out and "transform: walsh" in out


def test_status_of_a_non_store(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 1
    assert "is not a sweep store" in capsys.readouterr().err


def test_progress_lines_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(3, already=1, stream=stream, interval=0.0)
    bar.update()
    bar.update(failed=True)
    bar.update()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert re.match(r"\[stablesweep\] 3/3 cells \(100%, 1 failed\), [\d.]+ cells/s, "
                    r"elapsed 0:00:\d\d, ETA 0:00:00", lines[-1])


@pytest.mark.parametrize("kind, directive", [("slurm", "#SBATCH"), ("pbs", "#PBS")])
def test_batch_cluster_file(tmp_path, kind, directive):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({
        "kind": kind, "jobs": 3, "cores": 2, "memory": "4GB", "walltime": "01:00:00",
        "job_extra_directives": ["-A myproject"]}))
    cluster = cluster_from_file(path)
    try:
        script = cluster.job_script()
        assert directive in script and "-A myproject" in script
        assert "export OMP_NUM_THREADS=1" in script
        assert "--nworkers 2" in script and "--nthreads 1" in script  # single-threaded
        assert cluster.stablesweep_jobs == 3
    finally:
        cluster.close()


@pytest.mark.parametrize("spec, message", [
    ({"kind": "k8s"}, r"kind: 'k8s' is not valid; expected one of: slurm, pbs, sge"),
    ({"kind": "slurm", "jobs": 0}, r"jobs: 0 is not valid; expected an integer >= 1"),
    ([1, 2], r"expected a mapping of keys"),
])
def test_bad_cluster_file(tmp_path, spec, message):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ClusterConfigError, match=message):
        cluster_from_file(path)


def test_console_script_quick_exit_keeps_exit_code_and_output(tmp_path):
    # the console entry point ends with os._exit after main(): its exit code is main's
    # (0 for a good run, 1 for a refused config) and everything printed is flushed,
    # also when stdout is a pipe
    import subprocess
    import sys

    from test_sweep_run import env_with_repo

    cfg = tmp_path / "cli.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    store = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "stablesweep.cli"]
    env = env_with_repo()
    ok = subprocess.run([*cmd, "run", str(cfg), "--out", str(store), "--workers", "1"],
                        capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "cells computed" in ok.stderr + ok.stdout
    status = subprocess.run([*cmd, "status", str(store)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert status.returncode == 0 and "experiment: cli" in status.stdout
    bad = subprocess.run([*cmd, "run", str(tmp_path / "missing.yaml")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "does not exist" in bad.stdout + bad.stderr


@pytest.mark.parametrize("closed", [True, False])
def test_worker_quick_exit_only_after_a_clean_close(closed):
    # a LocalCluster worker whose plugin was torn down (clean close) ends through
    # os._exit after flushing its output; one that was not keeps its own exit status;
    # the plugin without quick_exit registers nothing
    import subprocess
    import sys

    from test_sweep_run import env_with_repo

    # handlers registered before the plugin's run after it (LIFO): a quick exit skips
    # them, with the interpreter's module teardown
    code = (
        "import atexit, sys\n"
        "atexit.register(print, 'earlier exit handler ran')\n"
        "from stablesweep.sweep.run.cluster import TorchThreads, _QUICK_EXIT\n"
        "TorchThreads().setup(None)\n"
        "assert not _QUICK_EXIT['registered']\n"
        "plugin = TorchThreads(quick_exit=True)\n"
        "plugin.setup(None)\n"
        f"if {closed}: plugin.teardown(None)\n"
        "atexit.register(print, 'other exit handler ran')\n"
        "print('worker output', end='')\n"
        "sys.exit(0 if " + str(closed) + " else 3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env_with_repo(), timeout=120)
    assert out.stdout.startswith("worker output")
    if closed:
        assert out.returncode == 0
        assert "other exit handler ran" in out.stdout
        assert "earlier exit handler ran" not in out.stdout
    else:
        assert out.returncode == 3 and "other exit handler ran" in out.stdout
        assert "earlier exit handler ran" in out.stdout


# --------------------------------------------------------------------------- analyse, figures,
# report: defaults next to the store, no overwriting of files the user did not ask for


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_report_with_no_flags_uses_the_workflow_layout(tmp_path_factory, capsys):
    from test_report import build_experiment

    exp = build_experiment(tmp_path_factory.mktemp("report"))
    # the fixture ran `analyse STORE`, `figures STORE` and `report STORE` with no flags:
    # each wrote to the workflow's place (results/<exp>/fits.nc, figures/, report.html)
    assert (exp / "fits.nc").is_file()
    pngs = sorted((exp / "figures").glob("*.png"))
    assert pngs and all(p.with_suffix(".pdf").is_file() for p in pngs)
    html = (exp / "report.html").read_text(encoding="utf-8")
    assert html.count("<figure>") == len(pngs)
    # a rerun with defaults replaces the report at the standard place
    before = (exp / "report.html").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["report", str(exp / "sweep.zarr")]) == 0
    assert (exp / "report.html").stat().st_mtime_ns > before
    assert capsys.readouterr().out.strip() == str(exp / "report.html")


def test_outputs_never_replace_a_foreign_file(tmp_path_factory, tmp_path, capsys):
    from test_report import build_experiment

    exp = build_experiment(tmp_path_factory.mktemp("report"))
    store = str(exp / "sweep.zarr")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes\n")
    for argv, option in [
        (["report", store, "-o", str(foreign)], "--output"),
        (["analyse", store, "-o", str(foreign)], "--output"),
        (["figures", store, "--list", str(foreign)], "--list"),
    ]:
        capsys.readouterr()
        assert main(argv) == 1, argv
        line = _one_line(capsys.readouterr().err)
        assert f"{option} {foreign} exists and is not" in line and "--force" in line
        assert foreign.read_text() == "my notes\n"
    # a directory is never a file to write
    assert main(["report", store, "-o", str(tmp_path)]) == 1
    assert "is a directory" in _one_line(capsys.readouterr().err)
    # an earlier output of the same command is replaced; --force replaces anything
    own = tmp_path / "mine.html"
    assert main(["report", store, "-o", str(own), "--max-size", "0.5"]) == 0
    assert own.stat().st_size <= 500_000
    assert main(["report", store, "-o", str(own)]) == 0
    assert main(["report", store, "-o", str(foreign), "--force"]) == 0
    assert foreign.read_text().startswith("<!DOCTYPE html>")
    # figures into a folder holding a file of the same name that we did not write
    outdir = tmp_path / "figs"
    outdir.mkdir()
    (outdir / "phase_transition__noise-0.png").write_bytes(b"not ours")
    capsys.readouterr()
    only = ["--only", "phase_transition__noise-0"]
    assert main(["figures", store, "--outdir", str(outdir), *only]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "already holds phase_transition__noise-0.png" in line and "--force" in line
    assert (outdir / "phase_transition__noise-0.png").read_bytes() == b"not ours"
    assert main(["figures", store, "--outdir", str(outdir), *only, "--force"]) == 0
    assert (outdir / "phase_transition__noise-0.png").read_bytes()[:4] == b"\x89PNG"
    # ... and now that it is ours (recorded in the folder's manifest), no --force needed
    assert main(["figures", store, "--outdir", str(outdir), *only]) == 0


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.zarr")]) == 1
    assert "is not a sweep store" in _one_line(capsys.readouterr().err)
    cfg = load_config(CONFIG)
    store = tmp_path / "exp" / "sweep.zarr"
    create_store(store, make_layout(cfg))
    assert main(["report", str(store)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"no analysis file at {store.parent / 'fits.nc'}" in line
    assert "stablesweep analyse STORE" in line
    assert main(["report", str(store), "--max-size", "-1"]) == 1
    assert "--max-size -1 is not valid" in _one_line(capsys.readouterr().err)
    assert main(["figures", str(store), "--fits", str(tmp_path / "no.nc")]) == 1
    assert "--fits" in _one_line(capsys.readouterr().err)
    assert main(["analyse", str(store), "--n-boot", "0"]) == 1
    assert "--n-boot 0 is not valid" in _one_line(capsys.readouterr().err)


def test_analyse_reports_library_errors_and_warnings_in_one_line(tmp_path, capsys,
                                                                 monkeypatch):
    import warnings

    import stablesweep.analysis as analysis

    cfg = load_config(CONFIG)
    store = tmp_path / "sweep.zarr"
    create_store(store, make_layout(cfg))

    def empty(ds, **kwargs):
        warnings.warn("2 of 2 cells are missing:\n  noise=0.0, noise=0.1", UserWarning,
                      stacklevel=2)
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=2)
        raise ValueError("the store is empty: no cell is done;\nrun the sweep first")

    monkeypatch.setattr(analysis, "analyse", empty)
    assert main(["analyse", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "stablesweep analyse: warning: 2 of 2 cells are missing: noise=0.0, noise=0.1",
        "stablesweep analyse: the store is empty: no cell is done; run the sweep first",
    ]
    assert not (tmp_path / "fits.nc").exists()


def test_cli_errors_have_no_traceback(tmp_path):
    import subprocess
    import sys

    from test_sweep_run import env_with_repo

    out = subprocess.run([sys.executable, "-m", "stablesweep.cli", "report",
                          str(tmp_path / "missing.zarr")], capture_output=True, text=True,
                         env=env_with_repo(), timeout=120)
    assert out.returncode == 1
    assert _one_line(out.stderr).startswith("stablesweep report: ")


def test_default_workers_are_the_cpus_the_slurm_job_grants(monkeypatch):
    # a bare `stablesweep run` (no --workers) in a SLURM job runs one worker per CPU of
    # the job (--cpus-per-task, else the job's CPUs on the node), never more than the
    # process may run on; elsewhere one per CPU of its affinity mask, not os.cpu_count()
    from stablesweep.sweep.run import cluster

    monkeypatch.setattr(cluster.os, "sched_getaffinity", lambda pid: set(range(12)),
                        raising=False)
    monkeypatch.setattr(cluster.os, "cpu_count", lambda: 64)
    for name in cluster.SLURM_CPU_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert cluster.default_workers() == 12
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "6")
    assert cluster.default_workers() == 6
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    assert cluster.default_workers() == 4
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "32")  # more than the process may use
    assert cluster.default_workers() == 12
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")  # unset by SLURM: the node's CPUs
    assert cluster.default_workers() == 6
    assert cluster.default_workers({"SLURM_CPUS_PER_TASK": "2"}) == 2

    # connect() without workers starts that many local workers
    seen = {}

    class Fake:
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def register_plugin(self, plugin):
            pass

    monkeypatch.setattr(cluster, "LocalCluster", Fake)
    monkeypatch.setattr(cluster, "Client", Fake)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    with cluster.connect():
        pass
    assert seen["n_workers"] == 3
    seen.clear()
    with cluster.connect(workers=5):
        pass
    assert seen["n_workers"] == 5


def test_bad_cluster_file_is_refused_before_the_store_is_made(tmp_path, capsys):
    # a ClusterConfigError is a ConfigError of the config layer: every problem, each
    # with key, value and what is allowed; `run` refuses the file before creating a store
    from stablesweep.configuration import ConfigError

    assert issubclass(ClusterConfigError, ConfigError)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "experiment": "tiny", "seed": 0, "trials": 1,
        "problem": {"transform": "fourier", "resolution": 16,
                    "sampling": {"scheme": "uniform", "rate": 0.5},
                    "signal": {"kind": "sparse-in-levels", "sparsity": [2, 2, 2, 2]},
                    "noise": 0.0},
        "networks": [{"name": "fista", "depth": 4, "params": {"lam": 1.0e-3}}]}))
    bad = tmp_path / "cluster.yaml"
    bad.write_text("kind: k8s\njobs: -1\nqueu: debug\n")
    store = tmp_path / "out.zarr"
    assert main(["run", str(config), "--cluster", str(bad), "--out", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"stablesweep run: invalid cluster config {bad}: 2 problems")
    assert "kind: 'k8s' is not valid; expected one of: slurm, pbs" in err
    assert "jobs: -1 is not valid; expected an integer >= 1" in err
    assert not store.exists()
    bad.write_text("kind: slurm\nqueu: debug\nmemory: lots\n")
    with pytest.raises(ClusterConfigError) as info:
        cluster_from_file(bad)
    assert info.value.problems == [
        "memory: 'lots' is not valid; expected the memory of one batch job, such as 4GB or "
        "500MiB",
        info.value.problems[1],
    ]
    assert info.value.problems[1].startswith(
        "queu: unknown key; allowed: account, adapt, cores,")
    assert "queue" in info.value.problems[1]
    bad.write_text("kind: slurm\n  jobs: [\n")
    with pytest.raises(ClusterConfigError, match="not valid YAML"):
        cluster_from_file(bad)
