"""Is the station's clock synchronised? A Pi has no real-time clock: until NTP answers
after boot its time may be days off, so events say `clock_synced: false` and the hub
flags them. Asked of systemd-timesyncd (or timedatectl); assumed true where neither
exists (a laptop or container keeps its time)."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")  # touched by timesyncd on first sync
RECHECK_S = 30.0
_cache: tuple[float, bool] | None = None


def _ask() -> bool:
    if TIMESYNC_FLAG.exists():
        return True
    exe = shutil.which("timedatectl")
    if exe is None:
        return True
    try:
        out = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"], check=False, capture_output=True,
                             text=True, timeout=2)
    except (OSError, subprocess.TimeoutExpired):
        return True
    if out.returncode != 0:  # no systemd running (container, chroot): nothing to ask
        return True
    return out.stdout.strip() == "yes"


def synced() -> bool:
    """Cached for RECHECK_S: this runs for every recorded event."""
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > RECHECK_S:
        _cache = (now, _ask())
    return _cache[1]
