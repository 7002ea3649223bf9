#!/bin/sh
# Sets up what the whole test suite needs on a fresh machine that has Python 3.11:
# the virtual environment with the package and its test extras, and Debian's Chromium
# (one test opens the evidence report in headless Chromium). Safe to run again.
set -eu
python3.11 -m venv .venv
.venv/bin/pip install -e '.[test]'
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then as_root=""; else as_root="sudo"; fi
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium
fi
