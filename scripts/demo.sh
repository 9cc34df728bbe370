#!/usr/bin/env bash
# Sets everything up on a fresh machine, then runs the demo: broker, hub and two
# simulated stations. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/tem demo "$@"
