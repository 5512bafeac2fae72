"""Where a sweep's cells run: local worker processes, an existing Dask scheduler or a
batch system through dask-jobqueue (see :func:`connect`).

A cluster file describes a dask-jobqueue cluster, e.g.::

    kind: slurm            # slurm | pbs | sge | lsf | htcondor | oar
    jobs: 10               # batch jobs to start (cluster.scale(jobs=...))
    cores: 1               # per job; each job runs `processes` single-threaded
    processes: 1           #   workers (default: processes = cores)
    memory: 4GB
    walltime: "02:00:00"
    queue: normal          # every other key goes to the dask-jobqueue cluster class
    job_extra_directives: ["--account=myproject"]

In every case a worker plugin (:class:`TorchThreads`) pins PyTorch to one thread per
worker; the workers this module starts also get ``OMP_NUM_THREADS=1`` and quieter Dask
monitoring (:data:`QUIET_DASK`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import yaml
from distributed import Client, LocalCluster, WorkerPlugin

from stablesweep.yaml_loader import load_yaml

__all__ = ["JOBQUEUE_KINDS", "QUIET_DASK", "THREAD_ENV", "ClusterConfigError", "TorchThreads",
           "cluster_from_file", "connect"]

#: dask-jobqueue cluster classes by ``kind``.
JOBQUEUE_KINDS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "oar": "OARCluster",
}

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

#: Dask settings for the processes this module starts: the statistical profiler (a
#: sample every 10 ms), the 20 ms event-loop tick and the frequent system and memory
#: monitors together cost about 7% of a core per process at idle, i.e. a sizeable
#: share of 1-second cells; none of them is needed to run a sweep.
QUIET_DASK = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class ClusterConfigError(ValueError):
    """An invalid ``--cluster`` file."""


class TorchThreads(WorkerPlugin):
    """Worker plugin: one PyTorch thread per worker (intra- and inter-op), and glibc
    malloc thresholds fixed for array work (:func:`stablesweep._malloc.tune_malloc`).

    With ``quick_exit`` (the workers of :func:`connect`'s own LocalCluster), a worker
    process that closed cleanly ends without the interpreter's module teardown
    (:func:`_quick_exit_after_close`).
    """

    name = "stablesweep-torch-threads"

    def __init__(self, threads: int = 1, quick_exit: bool = False):
        self.threads = threads
        #: skip the interpreter's module teardown after a clean close (only for the
        #: worker processes of our own LocalCluster, never for someone else's workers)
        self.quick_exit = quick_exit

    def setup(self, worker: Any) -> None:
        import torch

        from stablesweep._malloc import tune_malloc

        tune_malloc()
        torch.set_num_threads(self.threads)
        with contextlib.suppress(RuntimeError):  # only settable before inter-op work
            torch.set_num_interop_threads(self.threads)
        if self.quick_exit and not _QUICK_EXIT["registered"]:
            atexit.register(_quick_exit_after_close)
            _QUICK_EXIT["registered"] = True

    def teardown(self, worker: Any) -> None:
        if self.quick_exit:
            _QUICK_EXIT["closed"] = True


#: a worker process that closed cleanly skips the interpreter's module teardown
_QUICK_EXIT = {"registered": False, "closed": False}


def _quick_exit_after_close() -> None:
    """Exit handler of worker processes: after a clean close, end the process at once.

    Registered after PyTorch's and Dask's own exit handlers, it runs before them (and
    they are skipped); by then the worker has closed, its threads have been joined, and
    what is left is the interpreter's module teardown, which with PyTorch loaded takes
    about 0.8 s, time the sweep's client spends waiting for the cluster to shut down.
    A worker that did not close (crashed, killed) exits the normal way.
    """
    if _QUICK_EXIT["closed"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def cluster_from_file(path: str | Path):
    """A dask-jobqueue cluster from a YAML description (see the module docstring)."""
    path = Path(path)
    try:
        spec = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ClusterConfigError(f"cluster file {str(path)!r}: {err}") from None
    if not isinstance(spec, dict):
        raise ClusterConfigError(f"cluster file {str(path)!r}: expected a mapping of keys")
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in JOBQUEUE_KINDS:
        raise ClusterConfigError(
            f"cluster file {str(path)!r}: kind {kind!r} is not supported; expected one of: "
            f"{', '.join(JOBQUEUE_KINDS)}")
    jobs = spec.pop("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ClusterConfigError(
            f"cluster file {str(path)!r}: jobs {jobs!r} is not valid; expected an integer >= 1")
    spec.setdefault("cores", 1)
    spec.setdefault("processes", spec["cores"])
    spec.setdefault("memory", "4GB")
    prologue = list(spec.pop("job_script_prologue", []))
    prologue += [f"export {k}={v}" for k, v in THREAD_ENV.items()]
    import dask_jobqueue

    cls = getattr(dask_jobqueue, JOBQUEUE_KINDS[kind])
    try:
        cluster = cls(job_script_prologue=prologue, **spec)
    except TypeError as err:
        raise ClusterConfigError(f"cluster file {str(path)!r}: {err}") from None
    cluster.stablesweep_jobs = jobs
    return cluster


@contextlib.contextmanager
def connect(
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | Path | None = None,
    dashboard: bool = False,
) -> Iterator[Client]:
    """A Dask client for the chosen way of running (see the module docstring)."""
    if sum(x is not None for x in (scheduler, cluster)) > 1:
        raise ValueError("give at most one of scheduler and cluster")
    with warnings.catch_warnings(), dask.config.set(QUIET_DASK):
        warnings.simplefilter("ignore", category=UserWarning)
        if scheduler is not None:
            with Client(scheduler, set_as_default=False) as client:
                client.register_plugin(TorchThreads())
                yield client
            return
        if cluster is not None:
            jq = cluster_from_file(cluster)
            with jq, Client(jq, set_as_default=False) as client:
                client.register_plugin(TorchThreads())
                jq.scale(jobs=jq.stablesweep_jobs)
                yield client
            return
        n = workers or os.cpu_count() or 1
        with LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True,
            # loopback only: the dashboard has no authentication (tunnel it with ssh -L)
            dashboard_address="127.0.0.1:8787" if dashboard else None,
            env=dict(THREAD_ENV), silence_logs=40,
        ) as local, Client(local, set_as_default=False) as client:
            client.register_plugin(TorchThreads(quick_exit=True))
            yield client


