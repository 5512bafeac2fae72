# Helpers and validation shared by the rule files; no algorithm lives here. The
# experiment configs are validated by the library (the same code `stablesweep run`
# uses) before any job starts, so a bad config fails the DAG build, not a job.
import json

import yaml
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from stablesweep.frontier.config import (
    load_frontier_config,
    model_specs,
    reference_specs,
)
from stablesweep.sweep.config import ConfigError, load_config

validate(config, schema="../schemas/workflow.schema.yaml")

EXPERIMENTS = {}
for _name in config["experiments"]:
    _path = Path("config/experiments") / f"{_name}.yaml"
    if not _path.exists():
        raise ValueError(
            f"experiments: no config file for experiment {_name!r} (looked for {_path})"
        )
    # files a config refers to (trained models) may be made by the workflow itself
    try:
        EXPERIMENTS[_name] = load_config(_path, check_files=False)
    except ConfigError as _err:
        if len(_err.problems) != 1:
            raise
        # one problem (e.g. another kind of config: K-digits) in one line
        raise WorkflowError(f"experiments: {_name!r}: {_err.problems[0]}") from None


def output_dir(wildcards, output):
    """The folder of a rule's first output."""
    return str(Path(output[0]).parent)


def sweep_threads(wildcards):
    """Threads of a sweep job: every core Snakemake was given (`--cores`; the local
    profile says `cores: all`). A cluster executor has no such total: its profile sets
    the sweep's threads (`set-threads`), and without that the job gets one."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def experiment_config(wildcards):
    """The experiment's YAML file (an input, so editing it reruns the sweep)."""
    return f"config/experiments/{wildcards.experiment}.yaml"


def experiment_models(wildcards):
    """Every trained model the experiment's config names (made by rule train)."""
    with open(experiment_config(wildcards)) as f:
        raw = yaml.safe_load(f)
    models = [raw["problem"].get("sampling", {}).get("mask_from")]
    models += [(n.get("params") or {}).get("checkpoint") for n in raw["networks"]]
    return sorted({m for m in models if m})


def experiment_figures(experiment):
    """Every figure file of an experiment, as listed by the figure_list checkpoint."""
    listing = checkpoints.figure_list.get(experiment=experiment).output[0]
    with open(listing) as f:
        names = json.load(f)
    return expand(
        "results/{experiment}/figures/{figure}.{ext}",
        experiment=experiment,
        figure=names,
        ext=("png", "pdf"),
    )


def figure_files(wildcards):
    return experiment_figures(wildcards.experiment)


def all_outputs(wildcards):
    """Reports and figures of every experiment. The figures are targets themselves:
    Snakemake does not re-create a missing input of an up-to-date output, so a deleted
    figure is re-made only because `all` asks for it."""
    outputs = []
    for name in EXPERIMENTS:
        outputs.append(f"results/{name}/report.html")
        outputs.extend(experiment_figures(name))
    return outputs


# The accuracy-stability frontier (frontier.smk): its config, model and measurement files.
_FRONTIER = {}


def frontier_config(wildcards):
    """The frontier config file (an input: editing it remeasures)."""
    return f"config/frontier/{wildcards.name}.yaml"


def _frontier(name):
    if name not in _FRONTIER:
        _FRONTIER[name] = load_frontier_config(f"config/frontier/{name}.yaml")
    return _FRONTIER[name]


def frontier_model_file(wildcards):
    """The model file a measurement needs (none for an untrained reference)."""
    spec = _frontier(wildcards.name).spec(wildcards.model)
    return (
        [f"results/frontier/{wildcards.name}/models/{spec.id}.pt"]
        if spec.trained
        else []
    )


def frontier_measurements(wildcards):
    """Every network's measurement file of the config."""
    cfg = _frontier(wildcards.name)
    return [
        f"results/frontier/{wildcards.name}/measure/{s.id}.nc"
        for s in [*model_specs(cfg), *reference_specs(cfg)]
    ]
