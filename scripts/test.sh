#!/usr/bin/env bash
# Runs the whole test suite (real Mosquitto, SQLite and PostgreSQL, headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
