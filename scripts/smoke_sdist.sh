#!/usr/bin/env bash
# The sdist as a user's pip meets it: build it from this tree, install it into a fresh virtualenv
# that has nothing but pip (pip fetches maturin, the build backend, from PyPI and builds the wheel),
# then run scripts/smoke.py against that install, outside the source tree.
#
#   scripts/smoke_sdist.sh [PYTHON] [MATURIN]     (make dist-check)
#
# Set CARGO_TARGET_DIR to an existing release build's to reuse its compiled dependencies.
set -euo pipefail
python=${1:-python3}
maturin=${2:-maturin}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
"$maturin" sdist --out "$work/sdist" >/dev/null
sdist=$(echo "$work"/sdist/*.tar.gz)
echo "sdist: $(basename "$sdist") ($(du -k "$sdist" | cut -f1) kB)"
"$python" -m venv "$work/venv"
start=$(date +%s)
"$work/venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check "$sdist[pytest]"
echo "pip built and installed it in $(($(date +%s) - start)) s"
cd "$work"
"$work/venv/bin/python" "$root/scripts/smoke.py"
