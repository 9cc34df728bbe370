#!/usr/bin/env bash
# Installs everything Tem needs on a fresh Debian machine (run as root, or with sudo):
# Debian packages (docker-compose: `config` validates docker-compose.yml in the tests, no
# engine needed), then a virtualenv in .venv with Tem and its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
APT_PACKAGES="mosquitto mosquitto-clients libzbar0 fonts-dejavu-core chromium postgresql-client poppler-utils openssl systemd docker-compose"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "== apt-get install$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[station,hub,test]'
echo "== installed: .venv ($(.venv/bin/python --version))"
