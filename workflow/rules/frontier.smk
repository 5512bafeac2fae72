# The accuracy-stability frontier (issue 23): one job per trained model (training, or a
# copy of the shipped file whose training hash matches), one per measured network, one
# that collects the tables and figures. Not part of `all`: ask for
#   snakemake --profile workflow/profiles/default results/frontier/frontier-32/frontier.nc
# (bash scripts/results.sh does). A model file is reused whenever its training hash
# matches (stablesweep.frontier.models), so rerunning trains nothing.
wildcard_constraints:
    name="[^/]+",
    model="[^/]+",


rule frontier_model:
    input:
        frontier_config,
    output:
        "results/frontier/{name}/models/{model}.pt",
    log:
        "results/frontier/{name}/logs/train-{model}.log",
    conda:
        "../envs/stablesweep.yaml"
    threads: 1
    shell:
        "stablesweep frontier train {input} --model {wildcards.model}"
        " -o results/frontier/{wildcards.name} > {log} 2>&1"


rule frontier_measure:
    input:
        config=frontier_config,
        model=frontier_model_file,
    output:
        "results/frontier/{name}/measure/{model}.nc",
    log:
        "results/frontier/{name}/logs/measure-{model}.log",
    conda:
        "../envs/stablesweep.yaml"
    threads: 1
    shell:
        "stablesweep frontier measure {input.config} --model {wildcards.model}"
        " -o results/frontier/{wildcards.name} > {log} 2>&1"


rule frontier:
    input:
        config=frontier_config,
        measurements=frontier_measurements,
    output:
        "results/frontier/{name}/frontier.nc",
        "results/frontier/{name}/frontier.md",
        "results/frontier/{name}/frontier.png",
        "results/frontier/{name}/robustness.png",
    log:
        "results/frontier/{name}/logs/collect.log",
    conda:
        "../envs/stablesweep.yaml"
    shell:
        "stablesweep frontier collect {input.config} -o results/frontier/{wildcards.name}"
        " --quiet > {log} 2>&1"
