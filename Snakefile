# stablesweep: accuracy and stability sweeps of reconstruction networks.
# Stages (one rule file each): sweep -> analyse -> figures -> report; the accuracy-
# stability frontier (frontier.smk) trains and measures one job per model.
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/constraints.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/slurm.smk"
include: "workflow/rules/frontier.smk"


# On SLURM: stop before submitting anything if a job cannot fit its partition (sinfo).
onstart:
    check_slurm_fit()


rule all:
    default_target: True
    input:
        all_outputs,
