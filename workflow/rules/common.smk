# Helpers and validation shared by the rule files. No algorithm lives here: the
# experiment configs are validated by the library (the same code `stablesweep run`
# uses) before any job starts, so a bad config fails the DAG build, not a job.
import json
from pathlib import Path

from snakemake.utils import validate

from stablesweep.sweep.config import load_config

validate(config, schema="../schemas/workflow.schema.yaml")

EXPERIMENTS = {}
for _name in config["experiments"]:
    _path = Path("config/experiments") / f"{_name}.yaml"
    if not _path.exists():
        raise ValueError(
            f"experiments: no config file for experiment {_name!r} (looked for {_path})"
        )
    # files a config refers to (trained models) may be made by the workflow itself
    EXPERIMENTS[_name] = load_config(_path, check_files=False)


wildcard_constraints:
    experiment="|".join(EXPERIMENTS) or "NONE",
    figure=r"[A-Za-z0-9_.+\-]+",


def experiment_config(wildcards):
    """The experiment's YAML file (an input, so editing it reruns the sweep)."""
    return f"config/experiments/{wildcards.experiment}.yaml"


def figure_files(wildcards):
    """Every figure file of an experiment, as listed by the figure_list checkpoint."""
    listing = checkpoints.figure_list.get(experiment=wildcards.experiment).output[0]
    with open(listing) as f:
        names = json.load(f)
    return expand(
        "results/{experiment}/figures/{figure}.{ext}",
        experiment=wildcards.experiment,
        figure=names,
        ext=("png", "pdf"),
    )


def all_outputs():
    return [f"results/{name}/report.html" for name in EXPERIMENTS]
