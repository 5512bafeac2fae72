"""Where a sweep's cells run: local worker processes, an existing Dask scheduler or a
batch system through dask-jobqueue (see :func:`connect`).

A cluster file describes a dask-jobqueue cluster, e.g.::

    kind: slurm            # slurm | pbs | sge | lsf | htcondor | oar
    jobs: 10               # batch jobs to start (with adapt: at most at once)
    cores: 1               # per job; each job runs `processes` single-threaded
    processes: 1           #   workers (default: processes = cores)
    memory: 4GB
    walltime: "02:00:00"
    queue: normal          # every other key goes to the dask-jobqueue cluster class
    job_extra_directives: ["--account=myproject"]
    worker_extra_args: ["--lifetime", "110m", "--lifetime-stagger", "5m"]
    adapt: true            # or {minimum_jobs: N, interval: 1s, wait_count: 3}

Every other key must be a parameter of the dask-jobqueue cluster class or of its job
class. The file is read and checked by the config layer
(:mod:`stablesweep.configuration`): a missing, unreadable or invalid file raises one
:class:`ClusterConfigError` (a :class:`~stablesweep.configuration.ConfigError`) listing
every problem, each with key, value and what is allowed.

**Walltime.** A batch job ends at its walltime, and with it its workers. Given
``--lifetime`` (and ``--lifetime-stagger``) in ``worker_extra_args``, each worker
retires on its own before that: the scheduler stops giving it tasks, moves its results
elsewhere, puts the task it was running back in the queue (no retry is spent on it) and
the worker exits, and with it its job. With ``adapt: true`` the cluster scales with the
work between ``minimum_jobs`` (default 0) and ``jobs`` batch jobs
(``cluster.adapt``, :class:`ReplacingAdaptive`) and submits new jobs for those that
ended, so a sweep outlives any one job. The file is refused when ``--lifetime`` plus
``--lifetime-stagger`` does not end a worker at least a minute before the walltime,
when ``--lifetime`` is given without ``adapt`` (nothing would replace the retired
workers) and with ``--lifetime-restart`` (it restarts a worker inside its own job,
which the walltime still ends). A task whose worker retires loses at most the cell it
was computing: the block task that runs again skips the cells already stored.

**Fit.** With ``kind: slurm``, :func:`check_cluster_fits` compares ``cores``,
``memory`` and ``walltime`` with what the partition (``queue``, else the default one)
offers (``sinfo``, :mod:`stablesweep.sweep.run.slurm`) before any job is submitted:
``stablesweep run --cluster`` refuses a job that no node could run.

Without ``workers``, a local cluster runs one worker per CPU this process may use
(:func:`default_workers`): inside a SLURM job, the CPUs the job was granted.

In every case a worker plugin (:class:`TorchThreads`) pins PyTorch to one thread per
worker; the workers this module starts also get ``OMP_NUM_THREADS=1`` and quieter Dask
monitoring (:data:`QUIET_DASK`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import os
import re
import signal
import sys
import threading
import warnings
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import dask
from dask.utils import parse_bytes, parse_timedelta
from distributed import Adaptive, Client, LocalCluster, WorkerPlugin
from distributed.core import Status

from stablesweep.configuration import (
    ConfigError,
    check_choice,
    check_int,
    read_source,
    shown,
    unknown_keys,
)

__all__ = ["ADAPT_KEYS", "JOBQUEUE_KINDS", "QUIET_DASK", "SLURM_CPU_VARIABLES",
           "THREAD_ENV", "ClusterConfigError", "ClusterFile", "ReplacingAdaptive",
           "TorchThreads", "check_cluster_fits", "cluster_from_file", "connect",
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

    With ``end_running_tasks`` (the workers of :func:`connect`'s own batch jobs), a
    worker that closes while a task still runs in it ends its process at once. A worker
    that retires (``--lifetime``, or adaptive scaling) is removed from the scheduler
    first, which hands its running task to another worker; left to itself the retired
    worker would go on running that task for up to 30 s (Dask waits that long for its
    threads), writing the same block's cells as the task's new run. Ended at once, it
    is no different from a killed worker, which the store survives (see
    :mod:`~stablesweep.sweep.run.block`).
    """

    name = "stablesweep-torch-threads"

    def __init__(self, threads: int = 1, quick_exit: bool = False,
                 end_running_tasks: bool = False):
        self.threads = threads
        #: skip the interpreter's module teardown after a clean close (only for the
        #: worker processes of our own LocalCluster, never for someone else's workers)
        self.quick_exit = quick_exit
        #: end the process of a worker that closes with a task running (only for the
        #: workers of our own batch jobs)
        self.end_running_tasks = end_running_tasks

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
        if (self.end_running_tasks
                and getattr(worker, "status", None) in (Status.closing,
                                                        Status.closing_gracefully)
                and getattr(getattr(worker, "state", None), "executing_count", 0)):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


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


#: Keys of a cluster file's ``adapt`` mapping (``adapt: true`` is ``adapt: {}``).
ADAPT_KEYS = ("minimum_jobs", "interval", "wait_count", "target_duration")


class ClusterFile(NamedTuple):
    """A checked cluster file: the dask-jobqueue class, its keyword arguments, the
    batch jobs (with ``adapt``: at most), and the adaptive scaling (``None``: off)."""

    cls: type
    spec: dict[str, Any]
    jobs: int
    adapt: dict[str, Any] | None


def _option(args: list[str], name: str) -> tuple[bool, str | None]:
    """Whether the worker option ``name`` is in ``args``, and its value (``--name V``
    or ``--name=V``)."""
    for k, a in enumerate(args):
        if a == name:
            return True, args[k + 1] if k + 1 < len(args) else None
        if a.startswith(name + "="):
            return True, a.split("=", 1)[1]
    return False, None


def _seconds(value: Any) -> float | None:
    try:
        out = parse_timedelta(value)
    except (TypeError, ValueError, KeyError):
        return None
    return float(out) if out is not None and out >= 0 else None


def _walltime_seconds(kind: str, walltime: Any) -> float | None:
    """The walltime in seconds (None: unknown): ``HH:MM:SS`` and SLURM's forms; LSF's
    ``HH:MM``."""
    from .slurm import parse_slurm_time

    text = str(walltime).strip()
    if kind == "lsf" and re.fullmatch(r"\d+:\d+", text):
        h, m = text.split(":")
        return int(h) * 3600 + int(m) * 60
    try:
        minutes = parse_slurm_time(text)
    except ValueError:
        return None
    return None if minutes is None else minutes * 60


def _check_adapt(problems: list[str], adapt: Any, jobs: Any) -> dict[str, Any] | None:
    """The adaptive scaling of a cluster file (None: off), its problems appended."""
    if adapt is None or adapt is False:
        return None
    if adapt is True:
        adapt = {}
    if not isinstance(adapt, Mapping):
        problems.append(f"adapt: {shown(adapt)} is not valid; expected true, false or a "
                        f"mapping of {', '.join(ADAPT_KEYS)}")
        return None
    adapt = {str(k): v for k, v in adapt.items()}
    problems += unknown_keys("adapt.", adapt, ADAPT_KEYS)
    check_int(problems, "adapt.minimum_jobs", adapt.get("minimum_jobs", 0), 0,
              jobs if isinstance(jobs, int) and not isinstance(jobs, bool) else None)
    if "wait_count" in adapt:
        check_int(problems, "adapt.wait_count", adapt["wait_count"], 1)
    for key in ("interval", "target_duration"):
        if key in adapt and not _seconds(adapt[key]):
            problems.append(f"adapt.{key}: {shown(adapt[key])} is not valid; expected a "
                            "positive duration such as 1s or 5 minutes")
    return adapt


def _check_lifetime(problems: list[str], kind: Any, spec: Mapping[str, Any],
                    adapt: Mapping[str, Any] | None) -> None:
    """``--lifetime`` / ``--lifetime-stagger`` / ``--lifetime-restart`` in
    ``worker_extra_args``, against the walltime and ``adapt``."""
    args = spec.get("worker_extra_args") or []
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        return  # dask-jobqueue refuses it itself
    if _option(args, "--lifetime-restart")[0]:
        problems.append("worker_extra_args: --lifetime-restart restarts a worker inside its "
                        "own batch job, which the walltime still ends; leave it out (with "
                        "adapt: true, new jobs replace the retired workers)")
    has, value = _option(args, "--lifetime")
    if not has:
        return
    lifetime = _seconds(value)
    if not lifetime:
        problems.append(f"worker_extra_args: --lifetime {shown(value)} is not valid; "
                        "expected a duration such as 55m or 2h")
        return
    has_stagger, stagger_value = _option(args, "--lifetime-stagger")
    stagger = _seconds(stagger_value) if has_stagger else 0.0
    if stagger is None:
        problems.append(f"worker_extra_args: --lifetime-stagger {shown(stagger_value)} is "
                        "not valid; expected a duration such as 4m")
        return
    if adapt is None:
        problems.append(f"worker_extra_args: --lifetime {value} retires every worker, but "
                        "adapt is off, so no new job replaces them and the sweep stops; "
                        "set adapt: true")
    if not isinstance(kind, str) or kind not in JOBQUEUE_KINDS:
        return
    walltime = spec.get("walltime") or dask.config.get(f"jobqueue.{kind}.walltime", None)
    wall = _walltime_seconds(kind, walltime) if walltime else None
    if wall is not None and lifetime + stagger > wall - 60:
        latest = lifetime + stagger
        allowed = wall - 60

        def duration(x: float) -> str:
            return f"{int(x // 60)}m" if allowed >= 1200 else f"{max(1, int(x))}s"

        example = (f"e.g. --lifetime {duration(0.9 * allowed)} --lifetime-stagger "
                   f"{duration(0.05 * allowed)}" if allowed > 0
                   else "and a walltime of more than a minute")
        problems.append(
            f"worker_extra_args: --lifetime {value}"
            + (f" with --lifetime-stagger {stagger_value}" if has_stagger else "")
            + f" ends a worker up to {latest / 60:.4g} min after it starts, not at least a "
            f"minute before the walltime {walltime} ({wall / 60:.4g} min); expected "
            f"lifetime + stagger <= walltime - 1 min, {example}")


def read_cluster_file(path: str | Path | Mapping[str, Any]) -> ClusterFile:
    """Read and check a cluster description without starting anything.

    ``path`` is a YAML file (or, as for every config the package reads, YAML text or a
    mapping). Returns a :class:`ClusterFile`: the dask-jobqueue cluster class, its
    keyword arguments (defaults filled in, the thread settings appended to
    ``job_script_prologue``), the number of batch jobs and the adaptive scaling. Raises
    :class:`ClusterConfigError` listing every problem found.
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
    adapt = _check_adapt(problems, spec.pop("adapt", None), jobs)
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
    _check_lifetime(problems, kind, spec, adapt)
    import dask_jobqueue

    cls = None
    if isinstance(kind, str) and kind in JOBQUEUE_KINDS:
        cls = getattr(dask_jobqueue, JOBQUEUE_KINDS[kind])
        # adapt was popped above (checked by _check_adapt); it is listed as allowed
        problems += unknown_keys("", spec, _jobqueue_keys(cls) | {"kind", "jobs", "adapt"})
    if problems:
        raise ClusterConfigError(problems, where)
    spec["job_script_prologue"] = [*prologue,
                                   *(f"export {k}={v}" for k, v in THREAD_ENV.items())]
    return ClusterFile(cls, spec, jobs, adapt)


def check_cluster_fits(path: str | Path | Mapping[str, Any], run=None) -> None:
    """Refuse a ``kind: slurm`` cluster file whose batch job no node of its partition
    could run: ``cores`` against the CPUs of the partition's largest node, ``memory``
    against its memory and ``walltime`` against the partition's time limit (``sinfo``,
    :mod:`stablesweep.sweep.run.slurm`). Raises :class:`ClusterConfigError`, one line per
    problem naming the key to change; does nothing for other kinds or where ``sinfo``
    does not answer (submitting then fails or waits as it would have)."""
    import subprocess

    from .slurm import Request, SlurmUnavailable, parse_slurm_time, partitions, request_problems

    cls, spec, _, _ = read_cluster_file(path)
    if cls is None or cls.__name__ != JOBQUEUE_KINDS["slurm"]:
        return
    try:
        found = partitions(run or subprocess.run)
    except SlurmUnavailable:
        return
    where = None if isinstance(path, Mapping) or "\n" in str(path) else str(path)
    walltime = spec.get("walltime") or dask.config.get("jobqueue.slurm.walltime", None)
    try:
        minutes = parse_slurm_time(walltime) if walltime else None
    except ValueError:
        minutes = None
    queue = spec.get("queue") or dask.config.get("jobqueue.slurm.queue", None)
    cpus = spec.get("job_cpu") or spec["cores"]
    # what dask-jobqueue asks for: --mem=job_mem, else memory rounded up to whole GiB
    # (MiB, KiB below 1 GiB); SLURM's MB are MiB
    from dask_jobqueue.slurm import slurm_format_bytes_ceil

    mem = str(spec.get("job_mem") or slurm_format_bytes_ceil(parse_bytes(spec["memory"])))
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", mem.strip(), flags=re.I)
    memory_mb = float(m.group(1)) * units[(m.group(2) or "M").upper()] if m else None

    def memory_setting(mb: int) -> str:
        key = "job_mem" if spec.get("job_mem") else "memory"
        return (f"{key}: {mb // 1024}GiB" if mb >= 1024 and key == "memory"
                else f"{key}: {mb}MiB" if key == "memory" else f"{key}: {mb}M")

    request = Request(
        what="each batch job", cpus=int(cpus), memory_mb=memory_mb, minutes=minutes,
        partition=str(queue) if queue else None,
        settings={"cpus": "job_cpu: {}" if spec.get("job_cpu") else "cores: {}",
                  "memory_mb": memory_setting, "minutes": 'walltime: "{time}"',
                  "partition": "queue: {}"})
    problems = request_problems(request, found)
    if problems:
        raise ClusterConfigError(problems, where)


def cluster_from_file(path: str | Path | Mapping[str, Any]):
    """A dask-jobqueue cluster from a YAML description (see the module docstring and
    :func:`read_cluster_file`); its ``stablesweep_jobs`` is the number of batch jobs to
    scale to (with ``adapt``: at most) and ``stablesweep_adapt`` the adaptive scaling
    (None: off). Raises :class:`ClusterConfigError` listing every problem found."""
    cls, spec, jobs, adapt = read_cluster_file(path)
    where = None if isinstance(path, Mapping) or "\n" in str(path) else str(path)
    try:
        cluster = cls(**spec)
    except (TypeError, ValueError, ArithmeticError) as err:
        raise ClusterConfigError([f"config: dask-jobqueue's {cls.__name__} refused it: "
                                  f"{err}"], where) from None
    cluster.stablesweep_jobs = jobs
    cluster.stablesweep_adapt = adapt
    return cluster


class ReplacingAdaptive(Adaptive):
    """Adaptive scaling of a dask-jobqueue cluster that also replaces the batch jobs
    that ended on their own (their workers retired at ``--lifetime``, or the walltime or
    a node failure ended them).

    Dask's :class:`~distributed.deploy.Adaptive` counts a job as planned until the
    cluster forgets it, which happens for a one-worker job some 15 s after its worker
    left (``distributed.deploy.lost-worker-timeout``) and never for a job of several
    worker processes (dask-jobqueue issue 611): the cluster would keep fewer workers than
    it plans. Before every decision this forgets each job whose workers all came and
    went (``replaced`` counts them), so that the cluster scales up to its target again
    with new jobs.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: the batch jobs (job objects, not names) whose workers have connected
        self._seen: weakref.WeakSet = weakref.WeakSet()
        #: jobs forgotten after their workers left (replaced where the target asks)
        self.replaced = 0

    async def recommendations(self, target: int) -> dict:
        self.forget_ended_jobs()
        return await super().recommendations(target)

    def forget_ended_jobs(self) -> list[str]:
        """Forget the jobs whose workers all connected once and have all left."""
        cluster = self.cluster
        observed = {str(n) for n in self.observed}
        # a job whose workers left normally ends by itself within moments; one that
        # lingers is cancelled after distributed.deploy.lost-worker-timeout (15 s)
        delay = parse_timedelta(dask.config.get("distributed.deploy.lost-worker-timeout"))
        ended = []
        for name, spec in list(cluster.worker_spec.items()):
            job = cluster.workers.get(name)
            if job is None:  # not started yet (or already given up by the cluster)
                continue
            members = {str(name) + suffix for suffix in (spec.get("group") or [""])}
            if members & observed:
                self._seen.add(job)
            elif job in self._seen:
                del cluster.worker_spec[name]
                del cluster.workers[name]
                # ended as far as the cluster is concerned (SpecCluster.close checks
                # that every job it created is closed)
                if job.status not in (Status.closing, Status.closed, Status.failed):
                    job.status = Status.closed
                asyncio.get_running_loop().call_later(delay, _cancel_job, cluster, job)
                ended.append(name)
        if ended and isinstance(getattr(cluster, "_i", None), int):
            # new jobs get new names (SpecCluster reuses a free one, and a worker of
            # the same name may still be leaving the scheduler)
            cluster._i += 1
        self.replaced += len(ended)
        return ended


def _cancel_job(cluster: Any, job: Any) -> None:
    """Cancel a forgotten batch job (``scancel`` and the like; a no-op once it ended)."""
    if cluster.status not in (Status.closing, Status.closed):
        cluster._futures.add(asyncio.ensure_future(job.close()))


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
            check_cluster_fits(cluster)  # a job no node can run would wait for ever
            jq = cluster_from_file(cluster)
            with jq, Client(jq, set_as_default=False) as client:
                client.register_plugin(TorchThreads(end_running_tasks=True))
                jq.scale(jobs=jq.stablesweep_jobs)
                if jq.stablesweep_adapt is not None:
                    options = dict(jq.stablesweep_adapt)
                    jq.adapt(minimum_jobs=options.pop("minimum_jobs", 0),
                             maximum_jobs=jq.stablesweep_jobs, Adaptive=ReplacingAdaptive,
                             **options)
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
