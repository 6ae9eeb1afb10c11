#!/usr/bin/env bash
# System packages CI needs beyond Python (idempotent; safe to run on a dev machine):
#  - bubblewrap: confines model-written commands and code (punie.agent.sandbox); without it
#    run_command and the code suite refuse to run unless --allow-unconfined is given.
#  - headless Chromium for the HTML-report rendering test (tests/eval/test_report.py skips without it).
set -euo pipefail

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
bwrap --version
command -v chromium >/dev/null 2>&1 && chromium --version || chromium-browser --version
