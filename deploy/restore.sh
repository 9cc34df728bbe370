#!/bin/sh
# Restore a backup made by backup.sh into an EMPTY database and an instance directory.
# Stop the hub's processes (web, ingestors, broker) first. docs/operations.md.
#   DATABASE_URL=... TEM_INSTANCE=... deploy/restore.sh /srv/backups/tem-20261123T020000Z
# Then: `tem db upgrade` (a backup from an older version), `tem broker --write-only`
# (password file and ACL come from the restored station registry), start everything.
set -eu
dir=${1:?usage: restore.sh BACKUP_DIR}
instance=${TEM_INSTANCE:?set TEM_INSTANCE}
url=$(printf '%s' "${DATABASE_URL:?set DATABASE_URL}" | sed 's/^postgresql+psycopg:/postgresql:/')

(cd "$dir" && sha256sum --check --quiet SHA256SUMS)

# --single-transaction: a restore that fails half-way leaves the database empty, not half full.
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges --dbname="$url" "$dir/tem.dump"

mkdir -p "$instance"
if [ -f "$dir/broker.tar.gz" ]; then
    rm -rf "$instance/broker/data"
    tar -C "$instance" -xzf "$dir/broker.tar.gz"
fi
if [ -f "$dir/instance-secrets.tar.gz" ]; then
    # Keys that differ from the backup's are kept aside, never overwritten silently.
    if [ -f "$instance/keys.json" ]; then
        mv "$instance/keys.json" "$instance/keys.json.before-restore.$(date -u +%s)"
    fi
    tar -C "$instance" -xzf "$dir/instance-secrets.tar.gz"
fi
echo "restored $dir into the database and $instance"
echo "next: tem db upgrade && tem broker --write-only (or restart tem broker), then start the hub"
