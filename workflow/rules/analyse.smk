# Stage 2: fit rates (eps + C/n^gamma, exponential), noise slopes, recovery maps and
# the stability trade-off from the stored sweep.


rule analyse:
    input:
        summary="results/{experiment}/sweep.summary.json",
    output:
        "results/{experiment}/fits.nc",
    log:
        "results/{experiment}/logs/analyse.log",
    conda:
        "../envs/stablesweep.yaml"
    params:
        store="results/{experiment}/sweep.zarr",
    shell:
        "stablesweep analyse {params.store} -o {output} > {log} 2>&1"
