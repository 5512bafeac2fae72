#!/usr/bin/env bash
# The README's test command: set up .venv (if needed) and run lint + tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/ruff check stablesweep tests benchmarks
exec .venv/bin/python -m pytest "$@"
