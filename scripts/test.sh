#!/usr/bin/env bash
# The test suite: install what is missing, then run the fast tests (add `-m slow` for the real-model ones).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
