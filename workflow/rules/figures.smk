# Stage 3: figures, drawn from the stored sweep and fits alone.
# Which figures exist depends on the stored data (e.g. a phase-transition map needs
# several rates), so a checkpoint lists them first; then one job per figure writes its
# PNG and PDF, so deleting one figure re-creates only that one.


checkpoint figure_list:
    input:
        summary="results/{experiment}/sweep.summary.json",
        fits="results/{experiment}/fits.nc",
    output:
        "results/{experiment}/figures.json",
    log:
        "results/{experiment}/logs/figure-list.log",
    conda:
        "../envs/stablesweep.yaml"
    params:
        store="results/{experiment}/sweep.zarr",
    shell:
        "stablesweep figures {params.store} --fits {input.fits} --list {output} > {log} 2>&1"


rule figure:
    input:
        listing="results/{experiment}/figures.json",
        fits="results/{experiment}/fits.nc",
    output:
        png="results/{experiment}/figures/{figure}.png",
        pdf="results/{experiment}/figures/{figure}.pdf",
    log:
        "results/{experiment}/logs/figure-{figure}.log",
    conda:
        "../envs/stablesweep.yaml"
    params:
        store="results/{experiment}/sweep.zarr",
        outdir=output_dir,
    shell:
        "stablesweep figures {params.store} --fits {input.fits}"
        " --outdir {params.outdir} --only {wildcards.figure} > {log} 2>&1"
