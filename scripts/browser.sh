#!/usr/bin/env bash
# The browser test (tests/e2e/test_sandbox_console.py) drives the system Chromium through Playwright;
# `playwright install` is never used. Install Chromium when it is missing, and fail loudly (never skip)
# when that is impossible, so CI cannot pass without the browser test having run.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium; }
fi
"$CHROMIUM" --version >/dev/null 2>&1 || { echo "Chromium is not usable at $CHROMIUM" >&2; exit 1; }
