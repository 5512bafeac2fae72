#!/usr/bin/env bash
# Regenerate the results page docs/results.md (and its figures in docs/results/) from
# scratch: every experiment it quotes, then the page. No training: the trained networks
# ship in models/. About 50 minutes on 2 cores: 26 before the frontier (measured from a fresh
# clone, venv included) and ~22 for the frontier's 88 measurements (41.7 core-minutes);
# outputs land in results/<experiment>/.
#
#   bash scripts/results.sh            # everything (finished stages are kept: rerunning
#                                      # after an interruption resumes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
start=$(date +%s)

# 1. through the workflow: the sweeps — rates (64², 128²), stability at equal budgets —
#    and the accuracy-stability frontier at 32² (one job per model; the 84 models ship
#    in models/frontier-32, so the model jobs copy them and nothing is trained)
snakemake --profile workflow/profiles/default \
    --config experiments='[rates, rates-128, stability, trained-vs-stable]' \
    -- all results/frontier/frontier-32/frontier.nc
# the frontier's cluster configs: what they would cost (nothing runs)
for n in 64 256; do
    stablesweep frontier run "config/frontier/frontier-$n.yaml" --dry-run
done > results/frontier/estimates.txt

# 2. Table 1 (K digits) and the kernel trade-off
if [ ! -f results/k-digits/summary.json ]; then
    stablesweep barrier --config config/experiments/k-digits.yaml --out results/k-digits \
        --no-progress
fi
if [ ! -f results/tradeoff/tradeoff.nc ]; then
    stablesweep tradeoff config/tradeoff/kernel-32.yaml -o results/tradeoff
fi

# 3. the page
minutes=$(( ($(date +%s) - start + 59) / 60 ))
python -m stablesweep.results_page --results results -o docs/results.md --minutes "$minutes"
