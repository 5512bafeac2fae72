#!/usr/bin/env bash
# The README's test command: set up .venv (if needed) and run lint + tests.
# In CI (CI=true) headless Chromium is installed first (scripts/chromium.sh), so the
# browser test of the HTML report runs there; elsewhere that test skips without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
if [ "${CI:-}" = true ]; then
    bash scripts/chromium.sh
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/ruff check stablesweep tests benchmarks
exec .venv/bin/python -m pytest "$@"
