"""Cluster requests that fit, and workers that outlive the walltime, without a SLURM:
``sinfo``'s answer parsed and compared with a request (``stablesweep.sweep.run.slurm``),
the cluster file's lifetime and adapt checks, and :class:`ReplacingAdaptive` replacing
retired workers of a LocalCluster. tests/test_slurm.py does the same on a real SLURM.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml

from stablesweep.sweep.run.cluster import (
    ClusterConfigError,
    ReplacingAdaptive,
    check_cluster_fits,
    read_cluster_file,
)
from stablesweep.sweep.run.slurm import (
    Request,
    parse_sinfo,
    parse_slurm_time,
    request_problems,
)

ROOT = Path(__file__).resolve().parents[1]

#: `sinfo -h -N -o "%P|%N|%c|%m|%l"` of a cluster with a default partition of two node
#: kinds and a short one.
SINFO = """\
batch*|n1|32|128000|2-00:00:00
batch*|n2|64|64000|2-00:00:00
short|n1|32|128000|30:00
short|n3|8|16000|30:00
"""

SNAKEMAKE = {"cpus": "--set-threads sweep={}", "memory_mb": "--set-resources sweep:mem_mb={}",
             "minutes": "--set-resources sweep:runtime={}",
             "partition": "--set-resources sweep:slurm_partition={}"}


@pytest.mark.parametrize("text, minutes", [
    ("infinite", None), ("UNLIMITED", None), ("30", 30), ("30:00", 30), ("12:00:00", 720),
    ("1-00:00:00", 1440), ("2-12", 3600), ("1-01:30", 1530), ("00:00:30", 0.5),
])
def test_slurm_times(text, minutes):
    assert parse_slurm_time(text) == minutes


def test_sinfo_partitions():
    found = parse_sinfo(SINFO)
    assert set(found) == {"batch", "short"}
    assert found["batch"].default and not found["short"].default
    assert (found["batch"].max_cpus, found["batch"].max_memory_mb) == (64, 128000)
    assert found["short"].time_limit_min == 30
    assert found["batch"].describe() == ("partition batch: largest node 64 CPUs, 128000 MB; "
                                         "time limit 2-00:00:00")


def test_a_request_that_fits_has_no_problem():
    found = parse_sinfo(SINFO)
    assert request_problems(Request("rule sweep", 32, 64000, 720, None, SNAKEMAKE), found) == []
    assert request_problems(Request("rule sweep", 8, 16000, 30, "short", SNAKEMAKE), found) == []


def test_oversize_requests_name_the_setting_and_what_is_allowed():
    found = parse_sinfo(SINFO)
    problems = request_problems(Request("rule sweep", 96, 256000, 4000, None, SNAKEMAKE), found)
    assert problems == [
        "rule sweep: 96 CPUs is more than the largest node of partition batch has (64); "
        "set --set-threads sweep=64 or fewer",
        "rule sweep: 256000 MB of memory is more than the largest node of partition batch has "
        "(128000 MB); set --set-resources sweep:mem_mb=128000 or less",
        "rule sweep: a time of 2-18:40:00 is more than the time limit of partition batch "
        "(2-00:00:00); set --set-resources sweep:runtime=2880 or less",
    ]
    # each alone fits a node, both together none
    both = request_problems(Request("rule sweep", 64, 100000, None, None, SNAKEMAKE), found)
    assert both == ["rule sweep: no node of partition batch has both 64 CPUs and 100000 MB "
                    "(the one with the most memory among those with enough CPUs has 64000 MB); "
                    "set --set-resources sweep:mem_mb=64000 or less, or fewer CPUs"]
    short = request_problems(Request("rule sweep", 1, None, 60, "short", SNAKEMAKE), found)
    assert short == ["rule sweep: a time of 01:00:00 is more than the time limit of partition "
                     "short (00:30:00); set --set-resources sweep:runtime=30 or less"]
    missing = request_problems(Request("rule sweep", 1, partition="gpu", settings=SNAKEMAKE),
                               found)
    assert missing == ["rule sweep: partition 'gpu' does not exist; expected one of: batch, "
                       "short (--set-resources sweep:slurm_partition=gpu)"]
    for line in problems + both + short + missing:
        assert "\n" not in line


def _fake_sinfo(text):
    def run(cmd, **kwargs):
        assert cmd[0] == "sinfo"
        return subprocess.CompletedProcess(cmd, 0, text, "")
    return run


def test_cluster_file_that_no_node_can_run_is_refused(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"kind": "slurm", "jobs": 2, "cores": 128, "memory": "500GB",
                                    "walltime": "3-00:00:00"}))
    with pytest.raises(ClusterConfigError) as info:
        check_cluster_fits(path, run=_fake_sinfo(SINFO))
    assert info.value.problems == [
        "each batch job: 128 CPUs is more than the largest node of partition batch has (64); "
        "set cores: 64 or fewer",
        "each batch job: 477184 MB of memory is more than the largest node of partition batch "
        "has (128000 MB); set memory: 125GiB or less",
        "each batch job: a time of 3-00:00:00 is more than the time limit of partition batch "
        '(2-00:00:00); set walltime: "2-00:00:00" or less',
    ]
    assert str(info.value).startswith(f"invalid cluster config {path}: 3 problems")
    # what the message proposes fits (memory rounded up to GiB as dask-jobqueue does)
    path.write_text(yaml.safe_dump({"kind": "slurm", "cores": 32, "memory": "125GiB",
                                    "walltime": "2-00:00:00", "queue": "batch"}))
    check_cluster_fits(path, run=_fake_sinfo(SINFO))
    # other batch systems, or no SLURM answering: nothing to check
    check_cluster_fits({"kind": "pbs", "cores": 128}, run=_fake_sinfo(SINFO))
    check_cluster_fits({"kind": "slurm", "cores": 128},
                       run=lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "down"))


def test_shipped_jobqueue_file_retires_workers_before_the_walltime_and_adapts():
    path = ROOT / "workflow" / "profiles" / "slurm" / "dask-jobqueue.yaml"
    cls, spec, jobs, adapt = read_cluster_file(path)
    assert cls.__name__ == "SLURMCluster" and jobs == 20 and adapt == {"minimum_jobs": 0}
    args = spec["worker_extra_args"]
    assert "--lifetime" in args and "--lifetime-stagger" in args
    assert "--lifetime-restart" not in args


@pytest.mark.parametrize("extra, message", [
    ({"worker_extra_args": ["--lifetime", "59m", "--lifetime-stagger", "5m"], "adapt": True},
     r"worker_extra_args: --lifetime 59m with --lifetime-stagger 5m ends a worker up to 64 "
     r"min after it starts, not at least a minute before the walltime 01:00:00 \(60 min\); "
     r"expected lifetime \+ stagger <= walltime - 1 min, e.g. --lifetime 53m "
     r"--lifetime-stagger 2m"),
    ({"worker_extra_args": ["--lifetime", "50m"]},
     r"worker_extra_args: --lifetime 50m retires every worker, but adapt is off, so no new "
     r"job replaces them and the sweep stops; set adapt: true"),
    ({"worker_extra_args": ["--lifetime", "50m", "--lifetime-restart"], "adapt": True},
     r"worker_extra_args: --lifetime-restart restarts a worker inside its own batch job"),
    ({"worker_extra_args": ["--lifetime=soon"], "adapt": True},
     r"worker_extra_args: --lifetime 'soon' is not valid; expected a duration"),
    ({"adapt": {"minimum_jobs": 5}}, r"adapt.minimum_jobs: 5 is not valid; expected an "
     r"integer in 0..2"),
    ({"adapt": {"maximum": 5}}, r"adapt.maximum: unknown key; allowed: interval, "
     r"minimum_jobs, target_duration, wait_count"),
    ({"adapt": "yes"}, r"adapt: 'yes' is not valid; expected true, false or a mapping"),
])
def test_bad_lifetime_or_adapt_is_refused(extra, message):
    spec = {"kind": "slurm", "jobs": 2, "walltime": "01:00:00", **extra}
    with pytest.raises(ClusterConfigError, match=message):
        read_cluster_file(spec)


def test_lifetime_within_the_walltime_is_accepted():
    spec = {"kind": "slurm", "jobs": 2, "walltime": "01:00:00", "adapt": {"minimum_jobs": 1},
            "worker_extra_args": ["--lifetime", "50m", "--lifetime-stagger", "4m"]}
    assert read_cluster_file(spec).adapt == {"minimum_jobs": 1}


def test_replacing_adaptive_replaces_retired_workers():
    # in-process workers that retire after about a second; adapt keeps two of them
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=0, processes=False, threads_per_worker=1,
                      dashboard_address=None, lifetime="1.5s") as cluster, \
            Client(cluster, set_as_default=False) as client:
        adaptive = cluster.adapt(Adaptive=ReplacingAdaptive, minimum=2, maximum=2,
                                 interval="100ms")
        seen: set = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(seen) < 5 or adaptive.replaced < 3):
            seen |= {w["name"] for w in client.scheduler_info()["workers"].values()}
            time.sleep(0.05)
        assert len(seen) >= 5 and adaptive.replaced >= 3, (seen, adaptive.replaced)
        # a task runs on the replacements
        assert client.submit(sum, [1, 2]).result(timeout=30) == 3
