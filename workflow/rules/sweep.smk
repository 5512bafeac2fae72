# Stage 1: run the sweep cells on a Dask cluster and store them in Zarr.
# The store (results/<experiment>/sweep.zarr) is written cell by cell and is NOT a
# declared output: Snakemake deletes the outputs of a failed or killed job, and the
# store must survive a kill so that the next run resumes where it stopped. The
# declared output is the completion summary written once every cell is stored.


rule sweep:
    input:
        config=experiment_config,
        models=experiment_models,
    output:
        "results/{experiment}/sweep.summary.json",
    log:
        "results/{experiment}/logs/sweep.log",
    conda:
        "../envs/stablesweep.yaml"
    threads: sweep_threads
    params:
        store="results/{experiment}/sweep.zarr",
    # Dask workers: in a SLURM job the job's CPUs (SLURM_CPUS_PER_TASK, else
    # SLURM_CPUS_ON_NODE), elsewhere the rule's threads
    shell:
        "(stablesweep run {input.config} --out {params.store}"
        " --workers ${{SLURM_CPUS_PER_TASK:-${{SLURM_CPUS_ON_NODE:-{threads}}}}}"
        " && stablesweep status {params.store} --json > {output}) > {log} 2>&1"
