"""Rate limits on the public pages (Flask-Limiter), with a friendly Vietnamese 429 page,
and the "one check per client per stamp per window" rule that keeps reloads from
inflating a stamp's check count.

Storage is in memory by default, per worker; TEM_RATELIMIT_STORAGE_URI (redis://host:6379/0)
shares the limits and the check window between gunicorn workers and web nodes."""
from __future__ import annotations

import hashlib
import os
import threading
import time

from flask import Blueprint, Flask, current_app, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

DEFAULTS = {
    "RATELIMIT_STORAGE_URI": os.environ.get("TEM_RATELIMIT_STORAGE_URI") or "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    # A market vendor's phone may check a whole crate: generous per minute, bounded per hour.
    "TEM_PUBLIC_LIMIT": "120 per minute;3000 per hour",
    "TEM_CHECK_WINDOW": "1 per 10 minutes",
}


def init_app(app: Flask, *blueprints: Blueprint) -> Limiter:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config["RATELIMIT_STORAGE_URI"])
    for bp in blueprints:
        limiter.limit(lambda: current_app.config["TEM_PUBLIC_LIMIT"])(bp)
    app.extensions["tem.limiter"] = limiter
    # Its own store: check counting must work even when RATELIMIT_ENABLED is off (benchmarks, tests).
    uri = app.config["RATELIMIT_STORAGE_URI"]
    app.extensions["tem.check_window"] = CheckWindow() if uri.startswith("memory:") \
        else FixedWindowRateLimiter(storage_from_string(uri))

    @app.errorhandler(429)
    def _too_many(exc):  # type: ignore[no-untyped-def]
        response = app.make_response((render_template("too_many.html"), 429))
        retry = getattr(exc, "retry_after", None)
        if retry:
            response.headers["Retry-After"] = str(retry)
        return response

    return limiter


class CheckWindow:
    """In-process "first time in the window" memory for one worker.

    `limits`' memory storage starts a timer thread that walks every key each 10 ms; with a
    key per client and stamp held for ten minutes that walk grows with the traffic and
    ate the workers' CPU. Here expired keys are dropped in one sweep at most every SWEEP_S."""

    SWEEP_S = 10.0

    def __init__(self) -> None:
        self._until: dict[str, tuple[float, int]] = {}  # key -> (window end, hits in it)
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def hit(self, item, *identifiers: str) -> bool:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        key = "/".join(identifiers)
        with self._lock:
            if now - self._swept > self.SWEEP_S:
                self._until = {k: v for k, v in self._until.items() if v[0] > now}
                self._swept = now
            until, hits = self._until.get(key, (0.0, 0))
            if until <= now:
                until, hits = now + item.get_expiry(), 0
            if hits >= item.amount:
                return False
            self._until[key] = (until, hits + 1)
            return True


def first_check(serial: str) -> bool:
    """True the first time this client looks at this stamp within the window.

    The client is known only by a hash of its address and browser, held in the
    limiter's storage until the window ends; nothing personal reaches the database."""
    window: CheckWindow | FixedWindowRateLimiter = current_app.extensions["tem.check_window"]
    who = hashlib.sha256(f"{get_remote_address()}|{request.user_agent.string}".encode()).hexdigest()[:20]
    return window.hit(parse(current_app.config["TEM_CHECK_WINDOW"]), "tem-check", who, serial)
