#!/bin/sh
# Sets up what the whole test suite needs on a fresh machine that has Python 3.11:
# the virtual environment with the package and its test extras; Debian's Chromium (one
# test opens the evidence report in headless Chromium); and Debian's PostgreSQL server
# (the registry's tests start a throwaway server on a Unix socket in a temp folder; they
# never use a system cluster); and Debian's Prometheus package, for promtool (the alert
# rules are checked and unit-tested with it; its server is never started). Safe to run again.
set -eu
python3.11 -m venv .venv
.venv/bin/pip install -e '.[test,ray]'
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
    || need="$need postgresql"
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
if [ -n "$need" ]; then
    if [ "$(id -u)" -eq 0 ]; then as_root=""; else as_root="sudo"; fi
    $as_root apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq $need
fi
