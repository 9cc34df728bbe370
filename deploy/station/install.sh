#!/bin/sh
# Install a Tem station on Raspberry Pi OS (bookworm, arm64) from a wheel:
#   sudo deploy/station/install.sh dist/tem-0.1.0-py3-none-any.whl [station.toml]
# Creates the "tem" user, /var/lib/tem-station (the only place the service writes),
# a versioned venv under /opt/tem-station/releases with /opt/tem-station/current pointing
# at it, the systemd unit (watchdog, restart), the udev rule for printers and cameras and
# the journald limits, then enables the service once a config is in place.
#
# DESTDIR=/some/root installs the files under that root and skips what needs the live
# system (user, chown, udevadm, systemctl): the tests use it, and so can an image build.
# TEM_PIP_OPTS passes options to pip (e.g. --no-index --find-links /media/usb/wheels).
set -eu

wheel=$(readlink -f "${1:?usage: install.sh WHEEL [station.toml]}")
config=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=${DESTDIR:-}
home=/opt/tem-station
python=${TEM_PYTHON:-python3}
live() { [ -z "$root" ]; }
say() { echo "tem-station install: $*"; }

# -- user and groups (printers: lp; cameras: video; serial scanners: dialout; GPIO: gpio)
if live; then
    id tem >/dev/null 2>&1 || useradd --system --home-dir /var/lib/tem-station --no-create-home \
        --shell /usr/sbin/nologin --user-group tem
    for g in lp video dialout gpio plugdev; do
        getent group "$g" >/dev/null && usermod -aG "$g" tem
    done
else
    say "DESTDIR set: not creating user tem"
fi

# -- directories
install -d -m 0755 "$root$home/releases" "$root/etc/tem-station" "$root/etc/systemd/system" \
    "$root/etc/udev/rules.d" "$root/etc/systemd/journald.conf.d"
install -d -m 0750 "$root/var/lib/tem-station"
live && chown tem:tem /var/lib/tem-station

# -- the release: one venv per version, switched by a symlink (update.sh keeps the previous)
. "$here/release.sh"
release=$(make_release "$root$home" "$wheel")
switch_release "$root$home" "$release"
say "installed $(basename "$release") in $root$home/releases"

# -- system files
install -m 0644 "$here/tem-station.service" "$root/etc/systemd/system/tem-station.service"
install -m 0644 "$here/70-tem-station.rules" "$root/etc/udev/rules.d/70-tem-station.rules"
install -m 0644 "$here/journald-tem-station.conf" "$root/etc/systemd/journald.conf.d/50-tem-station.conf"
if [ -n "$config" ]; then
    install -m 0644 "$config" "$root/etc/tem-station/station.toml"
elif [ ! -e "$root/etc/tem-station/station.toml" ]; then
    install -m 0644 "$here/station.toml.example" "$root/etc/tem-station/station.toml.example"
fi

if live; then
    udevadm control --reload-rules && udevadm trigger || true
    systemctl restart systemd-journald || true
    systemctl daemon-reload
    if [ -e /etc/tem-station/station.toml ]; then
        "$home/current/bin/tem-station" check-config /etc/tem-station/station.toml
        systemctl enable --now tem-station.service
    else
        say "get the broker identity with the code from the console's station page:"
        say "  $home/current/bin/tem-station enrol CODE --hub https://HUB"
        say "write /etc/tem-station/station.toml (station.toml.example and the [mqtt] lines it prints),"
        say "then: systemctl enable --now tem-station"
    fi
fi
say "done"
