#!/bin/sh
# Update a station to a new wheel, with rollback:
#   sudo deploy/station/update.sh dist/tem-0.2.0-py3-none-any.whl
#   sudo deploy/station/update.sh --rollback
# The new version gets its own venv; it must accept the station's config before the
# symlink switches; if the service is not active (READY and watchdog pings) within
# TEM_UPDATE_WAIT seconds the previous release is switched back. Three releases are kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
home=${TEM_STATION_HOME:-/opt/tem-station}
config=${TEM_STATION_CONFIG:-/etc/tem-station/station.toml}
wait_s=${TEM_UPDATE_WAIT:-60}
. "$here/release.sh"

healthy() {
    i=0
    while [ "$i" -lt "$wait_s" ]; do
        sleep 1
        i=$((i + 1))
        [ "$(systemctl show -p ActiveState --value tem-station)" = active ] || continue
        # active for a while without a restart: it started and the watchdog is fed
        [ "$i" -ge "${TEM_UPDATE_SETTLE:-20}" ] && return 0
    done
    return 1
}

if [ "${1:-}" = "--rollback" ]; then
    prev=$(cat "$home/previous")
    switch_release "$home" "$home/$prev"
    systemctl restart tem-station
    echo "rolled back to $prev"
    exit 0
fi

wheel=$(readlink -f "${1:?usage: update.sh WHEEL | --rollback}")
new=$(make_release "$home" "$wheel")
if ! "$new/bin/tem-station" check-config "$config"; then
    rm -rf "$new"
    echo "the new version refuses $config: not switched" >&2
    exit 1
fi
older=$(cat "$home/previous" 2>/dev/null || true)
switch_release "$home" "$new"
systemctl restart tem-station
if ! healthy; then
    prev=$(cat "$home/previous")
    echo "tem-station is not healthy on $(basename "$new"): rolling back to $prev" >&2
    switch_release "$home" "$home/$prev"
    echo "$older" > "$home/previous"
    rm -rf "$new"
    systemctl restart tem-station
    exit 1
fi
# keep the three newest releases (and whatever current/previous name)
keep="$(readlink "$home/current") $(cat "$home/previous")"
ls -1d "$home"/releases/*/ | sort -r | tail -n +4 | while read -r old; do
    case " $keep " in *" releases/$(basename "$old") "*) continue ;; esac
    rm -rf "$old"
done
echo "updated to $(basename "$new")"
