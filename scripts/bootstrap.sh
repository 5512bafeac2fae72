#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install
# stablesweep with the `workflow` extra (Snakemake, which the README's commands run)
# and the given extras.
#
#   bash scripts/bootstrap.sh              # library, `stablesweep` and `snakemake`
#   bash scripts/bootstrap.sh test         # + test tools (pytest, cvxpy, ruff, ...)
#   bash scripts/bootstrap.sh test,bench   # + benchmark references (pylops, pyproximal)
#   bash scripts/bootstrap.sh test,cluster # + Snakemake's SLURM executor plugin
#                                          #   (what scripts/test.sh installs)
#
# The library and the `stablesweep` command alone need no Snakemake:
# `pip install -e .` installs just them.
#
# PyTorch is installed explicitly first (pinned CPU build), so that resolving
# the project never pulls a multi-GB CUDA build. A venv that already has a
# torch (e.g. a CUDA build the user installed) keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="workflow${1:+,$1}"
venv="${STABLESWEEP_VENV:-.venv}"
torch_pin="${STABLESWEEP_TORCH:-torch==2.13.0}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c "import torch" >/dev/null 2>&1; then
    echo "[bootstrap] installing $torch_pin (CPU build) into $venv" >&2
    "$py" -m pip install --quiet --disable-pip-version-check "$torch_pin" 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
    "$py" -c "import torch" >/dev/null 2>&1 \
        || { echo "[bootstrap] could not install $torch_pin" >&2; exit 1; }
fi
stamp="$venv/.stablesweep-installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    target="."
    [ -n "$extras" ] && target=".[${extras}]"
    echo "[bootstrap] installing stablesweep${extras:+[$extras]} into $venv" >&2
    if ! "$py" -m pip install --disable-pip-version-check -e "$target" > "$venv/pip.log" 2>&1; then
        tail -n 40 "$venv/pip.log" >&2
        echo "[bootstrap] pip install failed; full log in $venv/pip.log" >&2
        exit 1
    fi
    touch "$stamp"
fi
