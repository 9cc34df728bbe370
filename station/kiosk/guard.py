"""What the stations' local pages share: POSTs only from the page itself.

The page runs on the station's loopback with no login (a vendor or worker just taps), so a
token would guard nothing; what must be stopped is another web page open in the kiosk's
browser posting "sold" or a new batch here, and a DNS-rebinding name pointing at us.
Browsers send Origin on every POST: it must be this page's own origin, and the Host this
station's loopback or the address it was told to bind."""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Blueprint, abort, request

if TYPE_CHECKING:
    from station.runtime import Station

LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def same_origin_posts(bp: Blueprint, station: Station) -> None:
    @bp.before_request
    def _guard() -> None:
        if request.method != "POST":
            return
        allowed = LOOPBACK | ({station.cfg.kiosk.bind} if station.cfg.kiosk else set())
        if _hostname(request.host) not in allowed:
            abort(403)
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        if not origin:
            abort(403)
        parts = urlsplit(origin)
        if f"{parts.scheme}://{parts.netloc}" != request.host_url.rstrip("/"):
            abort(403)
