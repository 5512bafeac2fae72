# Trained networks: `stablesweep train` on seeded phantoms. An interrupted training
# keeps its state.pt (not a declared output) and the next run resumes from it.
# Sweeps whose config names a model (mask_from, params.checkpoint) depend on it.


rule train:
    input:
        "config/training/{model}.yaml",
    output:
        "results/models/{model}/model.pt",
    log:
        "results/logs/train-{model}.log",
    conda:
        "../envs/stablesweep.yaml"
    shell:
        "stablesweep train {input} --models-dir results/models --no-progress > {log} 2>&1"


# The K-digits barrier table (not part of `all`: ask for it by name,
# `snakemake results/k-digits/table.csv`).
rule barrier:
    input:
        "config/experiments/k-digits.yaml",
    output:
        "results/k-digits/table.csv",
    log:
        "results/logs/barrier.log",
    conda:
        "../envs/stablesweep.yaml"
    params:
        outdir=output_dir,
    shell:
        "stablesweep barrier --config {input} --out {params.outdir} --no-progress > {log} 2>&1"
