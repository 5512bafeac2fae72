# Stage 4: an HTML report with the figures, the fit tables and the config.


rule report:
    input:
        experiment=experiment_config,
        fits="results/{experiment}/fits.nc",
        figures=figure_files,
    output:
        "results/{experiment}/report.html",
    log:
        "results/{experiment}/logs/report.log",
    conda:
        "../envs/stablesweep.yaml"
    params:
        store="results/{experiment}/sweep.zarr",
        figdir="results/{experiment}/figures",
    shell:
        "stablesweep report {params.store} --fits {input.fits}"
        " --figures {params.figdir} -o {output} > {log} 2>&1"
