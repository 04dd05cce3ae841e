#!/usr/bin/env bash
# Set up loratui in ./.venv (Python >= 3.10) and, on a terminal, open the demo.
# Usage: ./scripts/quickstart.sh [loratui args...]   (default args: demo)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
if [ -t 0 ] && [ -t 1 ]; then
  exec .venv/bin/loratui "${@:-demo}"
else
  echo "loratui is installed in .venv: run .venv/bin/loratui ${*:-demo}"
fi
