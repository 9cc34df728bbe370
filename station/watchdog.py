"""systemd notification without the sdnotify package: READY=1 once the station runs,
WATCHDOG=1 while its main loop turns (the unit's WatchdogSec restarts a hung station).
Does nothing when not started by systemd (no NOTIFY_SOCKET)."""
from __future__ import annotations

import os
import socket
import time


def notify(state: str) -> bool:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract socket namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(state.encode())
        return True
    except OSError:
        return False


class Watchdog:
    """Ping at half the interval systemd asked for (WATCHDOG_USEC)."""

    def __init__(self) -> None:
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.every = usec / 2e6 if usec else None
        self._last = 0.0

    def ready(self) -> None:
        notify("READY=1")

    def tick(self, healthy: bool = True) -> None:
        if self.every and healthy and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            notify("WATCHDOG=1")
