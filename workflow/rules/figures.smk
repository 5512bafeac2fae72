# Stage 3: one job per figure (PNG and PDF), drawn from the stored sweep and fits
# alone, so deleting one figure re-creates only that one.


rule figure:
    input:
        summary="results/{experiment}/sweep.summary.json",
        fits="results/{experiment}/fits.nc",
    output:
        png="results/{experiment}/figures/{figure}.png",
        pdf="results/{experiment}/figures/{figure}.pdf",
    params:
        store="results/{experiment}/sweep.zarr",
        outdir="results/{experiment}/figures",
    log:
        "results/{experiment}/logs/figure-{figure}.log",
    shell:
        "stablesweep figures {params.store} --fits {input.fits}"
        " --outdir {params.outdir} --only {wildcards.figure} > {log} 2>&1"
