# Before the first job goes to SLURM (`--profile workflow/profiles/slurm`): does every
# job fit its partition? A job asking for more CPUs or memory than the partition's
# largest node has, or more time than its limit, would stay pending for ever and
# Snakemake would wait without a word. The check (stablesweep/sweep/run/slurm.py) reads
# `sinfo` and stops the run with one line per problem, naming the setting to change.
# The Snakefile runs it once the DAG is built (onstart), on the jobs that will run;
# rules whose jobs appear only later (after a checkpoint) are checked on the values
# set for them by name (--set-threads / --set-resources).
import sys

from stablesweep.sweep.run.slurm import (
    Request,
    SlurmFitError,
    SlurmUnavailable,
    partitions,
    request_problems,
)


def _slurm_executor():
    """Whether this run submits its jobs to SLURM (Snakemake's SLURM executor)."""
    plugin = getattr(workflow, "executor_plugin", None)
    name = str(getattr(plugin, "name", "") or "")
    return name == "slurm" or name.endswith("executor-plugin-slurm")


def _settings(rule, cpus_key="threads"):
    """How a user changes each part of a rule's request (command-line options)."""
    return {
        "cpus": (
            f"--set-threads {rule}={{}}"
            if cpus_key == "threads"
            else f"--set-resources {rule}:{cpus_key}={{}}"
        ),
        "memory_mb": f"--set-resources {rule}:mem_mb={{}}",
        "minutes": f"--set-resources {rule}:runtime={{}}",
        "partition": f"--set-resources {rule}:slurm_partition={{}}",
    }


def _number(value):
    """A number of a resource (given on the command line, maybe as text), else None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return (
        value
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else None
    )


def _job_request(job):
    """What the SLURM executor will ask for this job (its --cpus-per-task, --mem and
    -t: threads or cpus_per_task, mem_mb or mem_mb_per_cpu x CPUs, runtime)."""
    res = job.resources
    name = job.rule.name
    cpus_key = "threads"
    cpus = job.threads
    per_task = _number(res.get("cpus_per_task"))
    if per_task and per_task > 0:
        cpus, cpus_key = per_task, "cpus_per_task"
    mem = _number(res.get("mem_mb"))
    per_cpu = _number(res.get("mem_mb_per_cpu"))
    if per_cpu:
        mem = per_cpu * cpus
    partition = res.get("slurm_partition")
    return Request(
        what=f"rule {name}",
        cpus=int(cpus),
        memory_mb=mem,
        minutes=_number(res.get("runtime")),
        partition=str(partition) if partition else None,
        settings=_settings(name, cpus_key),
    )


def _named_request(name):
    """What a job of ``name`` asks for before the job exists (rules whose jobs come
    after a checkpoint): the values set for that rule by name, if any."""
    threads = workflow.resource_settings.overwrite_threads or {}
    resources = (workflow.resource_settings.overwrite_resources or {}).get(name, {})
    cpus = _number(threads.get(name))
    mem = _number(resources.get("mem_mb"))
    minutes = _number(resources.get("runtime"))
    if cpus is None and mem is None and minutes is None:
        return None
    partition = resources.get("slurm_partition")
    return Request(
        what=f"rule {name}",
        cpus=int(cpus or 1),
        memory_mb=mem,
        minutes=minutes,
        partition=str(partition) if partition else None,
        settings=_settings(name),
    )


def slurm_requests():
    """One request per rule that will be submitted (the largest of its jobs)."""
    out = {}
    for job in workflow.dag.needrun_jobs():
        if job.is_group() or job.is_local:
            continue
        r = _job_request(job)
        old = out.get(job.rule.name)
        if old is None or (r.cpus, r.memory_mb or 0, r.minutes or 0) > (
            old.cpus,
            old.memory_mb or 0,
            old.minutes or 0,
        ):
            out[job.rule.name] = r
    for each in workflow.rules:
        if each.name not in out and not workflow.is_local(each):
            r = _named_request(each.name)
            if r is not None:
                out[each.name] = r
    return list(out.values())


def check_slurm_fit():
    """Stop the run, before anything is submitted, if a job cannot fit its partition."""
    if not _slurm_executor():
        return
    try:
        found = partitions()
    except SlurmUnavailable as err:
        print(f"[stablesweep] cannot check the SLURM requests: {err}", file=sys.stderr)
        return
    problems = [p for r in slurm_requests() for p in request_problems(r, found)]
    if problems:
        # Snakemake's own log, then a plain exit: a WorkflowError raised here would be
        # printed with the frames of this file under it
        from snakemake.logging import logger

        parts = "; ".join(p.describe() for p in found.values())
        logger.error(
            str(SlurmFitError(problems, parts))
            + "\n  The profile's values: workflow/profiles/slurm/config.yaml"
            " (set-threads, set-resources, default-resources); see README,"
            " 'Running on a cluster'. Nothing was submitted."
        )
        raise SystemExit(1)
