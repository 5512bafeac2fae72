#!/usr/bin/env bash
# Install headless Chromium (Debian's `chromium` package) for the browser test of the
# HTML report (tests/test_report.py, marker `browser`). Idempotent: a quick no-op when
# a Chromium is already on PATH.
#
#   bash scripts/chromium.sh            # installs only as root with CI=true
#   bash scripts/chromium.sh --install  # installs when asked (needs root for apt-get)
#
# Reports (on stderr) the browser it found or installed; exits 0 when it did nothing
# because installing was not asked for (the test then skips with its reason).
set -euo pipefail

find_chromium() {
    local name
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if path="$(find_chromium)"; then
    echo "[chromium] found $path" >&2
    exit 0
fi

asked=false
[ "${1:-}" = "--install" ] && asked=true
if [ "$asked" != true ] && [ "${CI:-}" != true ]; then
    echo "[chromium] not installed; run 'bash scripts/chromium.sh --install' (as root)" \
         "to enable the browser test" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "[chromium] not installed and not root: cannot apt-get install chromium" >&2
    [ "$asked" = true ] && exit 1
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[chromium] apt-get not found: install Chromium with the system's package manager" >&2
    exit 1
fi
echo "[chromium] installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
path="$(find_chromium)" || { echo "[chromium] install finished but no chromium on PATH" >&2; exit 1; }
echo "[chromium] installed $path" >&2
