#!/bin/sh
# Back up a Tem hub: the database (pg_dump custom format), the broker's persistence
# (retained config, queued acks and commands for offline stations) and the instance
# secrets (minting keys: without them no new stamp verifies). docs/operations.md.
#   DATABASE_URL=... TEM_INSTANCE=... deploy/backup.sh /srv/backups
# Keeps the newest TEM_BACKUP_KEEP backups (default 14). Safe while the hub runs.
set -eu
dest=${1:?usage: backup.sh BACKUP_DIR}
instance=${TEM_INSTANCE:?set TEM_INSTANCE}
url=$(printf '%s' "${DATABASE_URL:?set DATABASE_URL}" | sed 's/^postgresql+psycopg:/postgresql:/')
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dir="$dest/tem-$stamp"
umask 077
mkdir -p "$dir.partial"

# One consistent snapshot of the whole database, compressed, restorable table by table.
pg_dump --format=custom --no-owner --no-privileges --file="$dir.partial/tem.dump" "$url"

# Mosquitto replaces mosquitto.db by rename when it saves, so a copy is always a whole file.
if [ -d "$instance/broker/data" ]; then
    tar -C "$instance" -czf "$dir.partial/broker.tar.gz" broker/data
fi
secrets=$(cd "$instance" && ls keys.json ./*.secret 2>/dev/null || true)
if [ -n "$secrets" ]; then
    # shellcheck disable=SC2086
    tar -C "$instance" -czf "$dir.partial/instance-secrets.tar.gz" $secrets
fi
(cd "$dir.partial" && sha256sum ./* > SHA256SUMS)
mv "$dir.partial" "$dir"
echo "backup written: $dir"

keep=${TEM_BACKUP_KEEP:-14}
ls -1d "$dest"/tem-*Z 2>/dev/null | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
    rm -rf "$old"
done
