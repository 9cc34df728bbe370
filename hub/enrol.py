"""Station enrolment: `tem admin enrol STATION` gives the station a fresh broker password
and prints a one-time code; the station trades the code for its identity (broker login
and password, broker address, CA certificate) at POST /enrol (`python -m station.enrol`).

The code is the credential: 60 random bits, valid 24 hours, usable once, stored only as
its SHA-256 in the instance directory (0600) next to the identity it unlocks."""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request

CODE_TTL = dt.timedelta(hours=24)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

bp = Blueprint("enrol", __name__)


def _digest(code: str) -> str:
    clean = code.strip().upper().replace("-", "").replace(" ", "")
    clean = clean.translate(str.maketrans("OIL", "011"))
    return hashlib.sha256(clean.encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


class EnrolStore:
    """Pending enrolments in INSTANCE/enrol.json, safe across gunicorn workers (flock)."""

    def __init__(self, instance: Path):
        self.path = Path(instance) / "enrol.json"

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text()) if self.path.exists() else {}
            now = dt.datetime.now(dt.UTC)
            data = {k: v for k, v in data.items() if dt.datetime.fromisoformat(v["expires"]) > now}
            yield data
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            tmp.replace(self.path)

    def issue(self, identity: dict[str, Any]) -> str:
        code = new_code()
        expires = dt.datetime.now(dt.UTC) + CODE_TTL
        with self._locked() as data:
            # one pending code per station: a new one replaces the old
            for key in [k for k, v in data.items() if v["identity"]["station_id"] == identity["station_id"]]:
                del data[key]
            data[_digest(code)] = {"expires": expires.isoformat(), "identity": identity}
        return code

    def redeem(self, code: str) -> dict[str, Any] | None:
        with self._locked() as data:
            entry = data.pop(_digest(code), None)
        return entry["identity"] if entry else None


@bp.post("/enrol")
def enrol() -> Any:
    body = request.get_json(silent=True) or {}
    code = body.get("code")
    if not isinstance(code, str) or len(code) > 40:
        return jsonify(error="send {\"code\": \"XXXX-XXXX-XXXX\"}"), 400
    identity = EnrolStore(Path(current_app.instance_path)).redeem(code)
    if identity is None:
        return jsonify(error="unknown, used or expired enrolment code"), 404
    return jsonify(identity)


def init_app(app: Any) -> None:
    """Register the endpoint: no CSRF (a station has no cookies), a tight rate limit."""
    from hub import auth
    app.register_blueprint(bp)
    auth.csrf.exempt(bp)
    limiter = app.extensions.get("tem.limiter")
    if limiter is not None:
        app.view_functions["enrol.enrol"] = limiter.limit("10/minute")(app.view_functions["enrol.enrol"])
