"""What a SLURM partition offers (``sinfo``) and whether a batch job's request fits.

A job that asks for more CPUs or memory than any node of its partition has, or for
more time than the partition allows, is often accepted by ``sbatch`` and then left
pending for ever (reason ``PartitionConfig``, ``ReqNodeNotAvail`` ...), and whoever
waits for it (Snakemake, a dask-jobqueue cluster) waits without a word. Both routes to
SLURM check their requests here first:

- the workflow (``snakemake --profile workflow/profiles/slurm``): every job's threads,
  ``mem_mb`` and ``runtime`` (``workflow/rules/slurm.smk``, at the start of the run);
- ``stablesweep run --cluster FILE`` with ``kind: slurm``: the file's ``cores``,
  ``memory`` and ``walltime`` (:func:`~stablesweep.sweep.run.cluster.check_cluster_fits`).

A request fits a partition when one of its nodes has at least the CPUs and the memory
asked for (``sinfo``'s ``%c`` and ``%m``: the node's CPUs and RealMemory) and the time
asked for is within the partition's limit (``%l``). Other limits a site may set
(``MaxCPUsPerNode``, ``MaxMemPerNode``, QOS and account limits) are not read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stablesweep.configuration import ConfigError

__all__ = ["SINFO_FORMAT", "Node", "Partition", "Request", "SlurmFitError",
           "SlurmUnavailable", "parse_sinfo", "parse_slurm_time", "partitions",
           "request_problems"]

#: ``sinfo -h -N -o FORMAT``: one line per node and partition.
SINFO_FORMAT = "%P|%N|%c|%m|%l"


class SlurmFitError(ConfigError):
    """Requests that no node of their partition can run (one line per problem, each
    naming the setting to change, its value and what the partition allows)."""

    default_kind = "SLURM request"

    def __init__(self, problems: Sequence[str], source: str | None = None,
                 kind: str | None = None):
        super().__init__(problems, source, kind)
        n = len(self.problems)
        head = (f"the SLURM request would wait in the queue for ever ({n} problem"
                f"{'s' if n != 1 else ''}; sinfo{f', {source}' if source else ''})")
        self.args = (head + "\n" + "\n".join(f"  - {p}" for p in self.problems),)


class SlurmUnavailable(RuntimeError):
    """``sinfo`` is missing or did not answer (nothing can be checked)."""


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    memory_mb: int


@dataclass(frozen=True)
class Partition:
    """A partition as ``sinfo`` lists it: its nodes and its time limit (minutes;
    ``None``: no limit)."""

    name: str
    nodes: tuple[Node, ...]
    time_limit_min: float | None
    default: bool = False

    @property
    def max_cpus(self) -> int:
        return max((n.cpus for n in self.nodes), default=0)

    @property
    def max_memory_mb(self) -> int:
        return max((n.memory_mb for n in self.nodes), default=0)

    def describe(self) -> str:
        limit = ("no time limit" if self.time_limit_min is None
                 else f"time limit {_minutes(self.time_limit_min)}")
        return (f"partition {self.name}: largest node {self.max_cpus} CPUs, "
                f"{self.max_memory_mb} MB; {limit}")


@dataclass(frozen=True)
class Request:
    """What one batch job asks for, and how the user changes each part of it.

    ``settings`` maps ``cpus``, ``memory_mb`` and ``minutes`` to the setting that sets
    it (and ``partition`` to the setting that names the partition), with ``{}`` where
    the allowed value goes (e.g. ``--set-threads sweep={}``, ``cores: {}``) or ``{time}``
    for a time as SLURM writes it (``walltime: "{time}"``), or a function of the value.
    """

    what: str
    cpus: int
    memory_mb: float | None = None
    minutes: float | None = None
    partition: str | None = None
    settings: Mapping[str, str | Callable[[Any], str]] = field(default_factory=dict)


_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_slurm_time(text: str) -> float | None:
    """Minutes of a SLURM time (``sinfo %l``, ``--time``): ``infinite``/``UNLIMITED``
    -> None; ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``.
    Raises ValueError for anything else."""
    text = str(text).strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"not a SLURM time: {text!r}")
    days, a, b, c = m.groups()
    a, b, c = int(a), int(b) if b else None, int(c) if c else None
    if days is not None:  # D-HH[:MM[:SS]]
        return int(days) * 1440 + a * 60 + (b or 0) + (c or 0) / 60
    if c is not None:  # HH:MM:SS
        return a * 60 + b + c / 60
    if b is not None:  # MM:SS
        return a + b / 60
    return float(a)  # MM


def _minutes(m: float) -> str:
    """Minutes as SLURM writes a time: ``720`` -> ``12:00:00``, ``2880`` -> ``2-00:00:00``."""
    s = round(m * 60)
    days, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    mm, ss = divmod(s, 60)
    return f"{days}-{h:02d}:{mm:02d}:{ss:02d}" if days else f"{h:02d}:{mm:02d}:{ss:02d}"


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from ``sinfo -h -N -o "%P|%N|%c|%m|%l"`` (the default partition's
    name ends with ``*``; a node of several partitions has a line in each)."""
    nodes: dict[str, dict[str, Node]] = {}
    limits: dict[str, float | None] = {}
    default: set[str] = set()
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 5 or not parts[0]:
            continue
        name, node, cpus, mem, limit = parts
        if name.endswith("*"):
            name = name[:-1]
            default.add(name)
        try:
            entry = Node(node, int(cpus), int(float(mem.rstrip("+"))))
            limits[name] = parse_slurm_time(limit)
        except ValueError:
            continue
        nodes.setdefault(name, {})[node] = entry
    return {name: Partition(name, tuple(sorted(ns.values(), key=lambda n: n.name)),
                            limits.get(name), name in default)
            for name, ns in nodes.items()}


def partitions(run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
               ) -> dict[str, Partition]:
    """Every partition this host's SLURM lists (``sinfo``). Raises
    :class:`SlurmUnavailable` when ``sinfo`` is missing or fails."""
    if run is subprocess.run and shutil.which("sinfo") is None:
        raise SlurmUnavailable("sinfo was not found on PATH")
    try:
        out = run(["sinfo", "-h", "-N", "-o", SINFO_FORMAT], capture_output=True,
                  text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SlurmUnavailable(f"sinfo failed: {err}") from None
    if out.returncode != 0:
        raise SlurmUnavailable(f"sinfo failed: {(out.stderr or out.stdout).strip()}")
    found = parse_sinfo(out.stdout)
    if not found:
        raise SlurmUnavailable("sinfo listed no partition")
    return found


def _setting(request: Request, key: str, value: int | str) -> str:
    """The setting that sets ``key`` to ``value`` (``{}``: the value; ``{time}``: minutes
    as a SLURM time)."""
    template = request.settings.get(key)
    if not template:
        return f"{key} {value}"
    if callable(template):
        return template(value)
    time = _minutes(value) if isinstance(value, int | float) else value
    return template.format(value, time=time)


def request_problems(request: Request, found: Mapping[str, Partition]) -> list[str]:
    """Why ``request`` cannot run in its partition (empty: it fits), one line each:
    the setting, its value, what the partition offers and the setting to use."""
    name = request.partition
    if name is None:
        default = [p for p in found.values() if p.default]
        if not default:
            return []  # no default partition: SLURM itself refuses the job at once
        part = default[0]
    elif name not in found:
        return [f"{request.what}: partition {name!r} does not exist; expected one of: "
                f"{', '.join(sorted(found))} ({_setting(request, 'partition', name)})"]
    else:
        part = found[name]
    where = f"partition {part.name}"
    out = []
    cpus_ok = request.cpus <= part.max_cpus
    mem = request.memory_mb
    mem_ok = mem is None or mem <= part.max_memory_mb
    if not cpus_ok:
        out.append(f"{request.what}: {request.cpus} CPUs is more than the largest node of "
                   f"{where} has ({part.max_cpus}); set {_setting(request, 'cpus', part.max_cpus)}"
                   " or fewer")
    if not mem_ok:
        out.append(f"{request.what}: {mem:.0f} MB of memory is more than the largest node "
                   f"of {where} has ({part.max_memory_mb} MB); set "
                   f"{_setting(request, 'memory_mb', part.max_memory_mb)} or less")
    if cpus_ok and mem_ok and not any(n.cpus >= request.cpus and (mem is None
                                      or n.memory_mb >= mem) for n in part.nodes):
        best = max(part.nodes, key=lambda n: (n.cpus >= request.cpus, n.memory_mb))
        out.append(f"{request.what}: no node of {where} has both {request.cpus} CPUs and "
                   f"{mem:.0f} MB (the one with the most memory among those with enough "
                   f"CPUs has {best.memory_mb} MB); set "
                   f"{_setting(request, 'memory_mb', best.memory_mb)} or less, or fewer CPUs")
    limit = part.time_limit_min
    if request.minutes is not None and limit is not None and request.minutes > limit:
        allowed = int(limit)
        out.append(f"{request.what}: a time of {_minutes(request.minutes)} is more than "
                   f"the time limit of {where} ({_minutes(limit)}); set "
                   f"{_setting(request, 'minutes', allowed)} or less")
    return out
