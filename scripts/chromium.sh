#!/usr/bin/env bash
# The browser tests' Chromium (Debian's package, driven by Playwright): installed when it is missing and
# this runs as root with apt-get (make test, .ci/run); otherwise it says what to install and fails.
set -euo pipefail
chromium=/usr/bin/chromium
[ -x "$chromium" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo apt-get install -y -q chromium >/dev/null || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q chromium >/dev/null; }
fi
[ -x "$chromium" ] || { echo "The browser tests need Chromium at $chromium: apt-get install chromium" >&2; exit 1; }
