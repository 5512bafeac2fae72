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

Every other key must be a parameter of the dask-jobqueue cluster class or of its job
class. The file is read and checked by the config layer (:mod:`stablesweep.configuration`):
a missing, unreadable or invalid file raises one :class:`ClusterConfigError` (a
:class:`~stablesweep.configuration.ConfigError`) listing every problem, each with key,
value and what is allowed.

Without ``workers``, a local cluster runs one worker per CPU this process may use
(:func:`default_workers`): inside a SLURM job, the CPUs the job was granted.

In every case a worker plugin (:class:`TorchThreads`) pins PyTorch to one thread per
worker; the workers this module starts also get ``OMP_NUM_THREADS=1`` and quieter Dask
monitoring (:data:`QUIET_DASK`).
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dask
from dask.utils import parse_bytes
from distributed import Client, LocalCluster, WorkerPlugin

from stablesweep.configuration import (
    ConfigError,
    check_choice,
    check_int,
    read_source,
    shown,
    unknown_keys,
)

__all__ = ["JOBQUEUE_KINDS", "QUIET_DASK", "SLURM_CPU_VARIABLES", "THREAD_ENV",
           "ClusterConfigError", "TorchThreads", "cluster_from_file", "connect",
           "default_workers", "read_cluster_file"]

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


class ClusterConfigError(ConfigError):
    """An invalid ``--cluster`` file: a :class:`~stablesweep.configuration.ConfigError` of
    kind ``cluster`` (``invalid cluster config <file>: N problems``, one line each)."""

    default_kind = "cluster"


#: Environment variables of a SLURM job that give its CPUs, in order of preference:
#: ``--cpus-per-task`` (what Snakemake's SLURM executor asks for a rule's threads), then
#: the CPUs allocated to the job on this node.
SLURM_CPU_VARIABLES = ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE")


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cgroup cpusets, a batch
    job's binding), else every CPU of the machine."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def default_workers(environ: Mapping[str, str] | None = None) -> int:
    """Local workers when none are asked for: one per CPU this process may use.

    Inside a SLURM job that is what the job was granted (the first of
    :data:`SLURM_CPU_VARIABLES` that holds a positive integer), never more than the CPUs
    this process may run on; elsewhere the CPUs of its affinity mask
    (``os.sched_getaffinity``), which a batch job, ``taskset`` or a container may make
    fewer than ``os.cpu_count()``.
    """
    environ = os.environ if environ is None else environ
    usable = _usable_cpus()
    for name in SLURM_CPU_VARIABLES:
        value = str(environ.get(name, "")).strip()
        if value.isdigit() and int(value) > 0:
            return min(int(value), usable)
    return usable


class TorchThreads(WorkerPlugin):
    """Worker plugin: one PyTorch thread per worker (intra- and inter-op), and glibc
    malloc thresholds fixed for array work (:func:`stablesweep._malloc.tune_malloc`).

    With ``quick_exit`` (the workers of :func:`connect`'s own LocalCluster), a worker
    process that closed cleanly ends without the interpreter's module teardown
    (:func:`_quick_exit_after_close`), and ignores SIGINT (Ctrl-C stops the client,
    which closes its workers).
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
        if self.quick_exit and threading.current_thread() is threading.main_thread():
            # Ctrl-C reaches the whole process group: the client stops the run and
            # closes this worker through its nanny; interrupted itself, a worker would
            # race the client's exit and log the broken connection with a traceback
            signal.signal(signal.SIGINT, signal.SIG_IGN)

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


#: Parameters of the dask-jobqueue classes that a cluster file may not set: the module
#: sets them itself, or they are not settings of a batch job.
_RESERVED = frozenset({"self", "scheduler", "job_cls", "loop", "asynchronous", "config_name",
                       "scheduler_cls", "n_workers", "name"})


def _jobqueue_keys(cls: type) -> set[str]:
    """Keys a cluster file may give dask-jobqueue's ``cls``: the named parameters of the
    cluster class and of its job class (and of their dask-jobqueue bases; those of
    distributed's ``SpecCluster`` describe worker specs, which dask-jobqueue builds)."""
    keys: set[str] = set()
    for klass in (*cls.__mro__, *cls.job_cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or not klass.__module__.startswith("dask_jobqueue"):
            continue
        keys.update(name for name, p in inspect.signature(init).parameters.items()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return keys - _RESERVED


def read_cluster_file(path: str | Path | Mapping[str, Any]) -> tuple[type, dict[str, Any], int]:
    """Read and check a cluster description without starting anything.

    ``path`` is a YAML file (or, as for every config the package reads, YAML text or a
    mapping). Returns the dask-jobqueue cluster class, its keyword arguments (defaults
    filled in, the thread settings appended to ``job_script_prologue``) and the number of
    batch jobs. Raises :class:`ClusterConfigError` listing every problem found.
    """
    _, spec, where = read_source(path, error=ClusterConfigError)
    if spec is None:
        raise ClusterConfigError(["config: empty (no keys); expected a mapping of keys "
                                  "such as kind, jobs, cores, memory, walltime"], where)
    if not isinstance(spec, Mapping):
        raise ClusterConfigError([f"config: {shown(spec)} is not a mapping; expected a "
                                  "mapping of keys such as kind, jobs, cores, memory, "
                                  "walltime"], where)
    spec = {str(k): v for k, v in spec.items()}
    problems: list[str] = []
    kind = spec.pop("kind", None)
    if kind is None:
        problems.append(f"kind: missing; expected one of: {', '.join(JOBQUEUE_KINDS)}")
    else:
        check_choice(problems, "kind", kind, list(JOBQUEUE_KINDS))
    jobs = spec.pop("jobs", 1)
    check_int(problems, "jobs", jobs, 1)
    spec.setdefault("cores", 1)
    check_int(problems, "cores", spec["cores"], 1)
    if "processes" in spec:
        check_int(problems, "processes", spec["processes"], 1)
    spec.setdefault("processes", spec["cores"])
    if not problems and spec["processes"] > spec["cores"]:
        problems.append(f"processes: {spec['processes']} is not valid; expected an integer "
                        f"in 1..{spec['cores']} (at most cores: each worker process gets "
                        "at least one core)")
    spec.setdefault("memory", "4GB")
    try:
        ok = parse_bytes(spec["memory"]) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        problems.append(f"memory: {shown(spec['memory'])} is not valid; expected the memory "
                        "of one batch job, such as 4GB or 500MiB")
    prologue = spec.pop("job_script_prologue", [])
    if not (isinstance(prologue, list) and all(isinstance(x, str) for x in prologue)):
        problems.append(f"job_script_prologue: {shown(prologue)} is not valid; expected a "
                        "list of shell lines")
        prologue = []
    import dask_jobqueue

    cls = None
    if isinstance(kind, str) and kind in JOBQUEUE_KINDS:
        cls = getattr(dask_jobqueue, JOBQUEUE_KINDS[kind])
        problems += unknown_keys("", spec, _jobqueue_keys(cls) | {"kind", "jobs"})
    if problems:
        raise ClusterConfigError(problems, where)
    spec["job_script_prologue"] = [*prologue,
                                   *(f"export {k}={v}" for k, v in THREAD_ENV.items())]
    return cls, spec, jobs


def cluster_from_file(path: str | Path | Mapping[str, Any]):
    """A dask-jobqueue cluster from a YAML description (see the module docstring and
    :func:`read_cluster_file`); its ``stablesweep_jobs`` is the number of batch jobs to
    scale to. Raises :class:`ClusterConfigError` listing every problem found."""
    cls, spec, jobs = read_cluster_file(path)
    where = None if isinstance(path, Mapping) or "\n" in str(path) else str(path)
    try:
        cluster = cls(**spec)
    except (TypeError, ValueError, ArithmeticError) as err:
        raise ClusterConfigError([f"config: dask-jobqueue's {cls.__name__} refused it: "
                                  f"{err}"], where) from None
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
        n = workers or default_workers()
        with LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True,
            # loopback only: the dashboard has no authentication (tunnel it with ssh -L)
            dashboard_address="127.0.0.1:8787" if dashboard else None,
            env=dict(THREAD_ENV), silence_logs=40,
        ) as local, Client(local, set_as_default=False) as client:
            client.register_plugin(TorchThreads(quick_exit=True))
            yield client


