# Wildcard constraints shared by every rule (experiment names come from common.smk).
wildcard_constraints:
    experiment="|".join(EXPERIMENTS) or "NONE",
    figure=r"[A-Za-z0-9_.+\-]+",
