#!/bin/sh
# Run the docker-compose topology on this machine with honcho: demo CA, migrations and
# demo seed once, then broker (TLS for stations, plain on 127.0.0.1 for the hub), hub,
# two ingestors and two simulated stations from the Procfile.
# Usage: deploy/local.sh ENV_FILE   (see deploy/local.env.example)
set -eu
env_file=$(readlink -f "${1:?usage: deploy/local.sh ENV_FILE}")
root=$(cd "$(dirname "$0")/.." && pwd)
set -a
. "$env_file"
set +a
bin=${TEM_BIN:-$root/.venv/bin}
export PATH="$bin:$PATH"
sh "$root/deploy/gen-demo-ca.sh" "$TEM_BROKER_TLS_DIR"
tem db upgrade
# Where stations reach the broker: the demo seed writes it into their configs, and the
# hub hands it out with enrolment codes.
export TEM_STATION_MQTT_HOST=127.0.0.1 TEM_STATION_MQTT_PORT="$TEM_BROKER_PORT" \
    TEM_STATION_TLS_CA="$TEM_BROKER_TLS_DIR/ca.crt"
python "$root/deploy/demo_seed.py"
exec honcho start -f "$root/Procfile" -d "$root" -e "$env_file"
