#!/usr/bin/env bash
# The README's main command: set up .venv (if needed) and run the default
# Snakemake workflow (config/config.yaml: the small `quick` experiment).
# Extra arguments go to snakemake, e.g. `bash scripts/main.sh --dry-run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec snakemake --profile workflow/profiles/default "$@"
