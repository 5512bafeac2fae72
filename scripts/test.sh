#!/usr/bin/env bash
# The README's test command: set up .venv (if needed) and run lint + tests.
# The venv gets the `test` and `cluster` extras: the latter is Snakemake's SLURM executor
# plugin, which the `slurm` workflow test needs.
# In CI (CI=true) headless Chromium is installed first (scripts/chromium.sh), so the
# browser test of the HTML report runs there, and a one-node SLURM is started
# (scripts/slurm-up.sh), so the `slurm` tests run a sweep on SLURM batch jobs and the
# whole workflow through `snakemake --profile workflow/profiles/slurm`; elsewhere those
# tests skip, saying why, when Chromium or SLURM is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test,cluster
if [ "${CI:-}" = true ]; then
    bash scripts/chromium.sh
    timeout 900 bash scripts/slurm-up.sh || echo "[test] SLURM could not start; the slurm tests skip" >&2
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/ruff check stablesweep tests benchmarks
exec .venv/bin/python -m pytest "$@"
