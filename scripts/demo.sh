#!/usr/bin/env bash
# The main job: install what is missing, then run `punie demo` (data → baseline eval → LoRA → eval → report).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/punie demo "$@"
