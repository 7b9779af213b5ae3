#!/usr/bin/env bash
# Install everything into a virtual environment and run every check: ruff, mypy --strict, pytest,
# and a quick smoke run of the benchmarks.
# Usage: bash scripts/check.sh [pytest arguments…]   (VENV=path chooses the environment; default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
echo "== ruff"
"$VENV/bin/ruff" check .
echo "== mypy --strict"
"$VENV/bin/mypy" --strict
echo "== pytest"
"$VENV/bin/pytest" "$@"
echo "== benchmarks (quick smoke run: fails only on errors, never on timing)"
"$VENV/bin/python" -m bench --quick
