#!/usr/bin/env bash
# System packages CI needs beyond Python: headless Chromium for the HTML-report rendering test
# (tests/eval/test_report.py skips without it). Idempotent; safe to run on a dev machine.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
command -v chromium >/dev/null 2>&1 && chromium --version || chromium-browser --version
