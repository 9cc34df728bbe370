"""Station enrolment: an admin makes a one-time code for a registered station (the console's
station page, or `tem admin enrol STATION`); the station trades it at POST /enrol for its
identity (broker login and password, broker address, CA certificate) with
`tem-station enrol CODE --hub URL`.

The code is the credential: 60 random bits, valid 24 hours, usable once, one per station.
The database keeps only its SHA-256, in `enrolment_code`, so every hub web node can redeem a
code another node made. The station's new broker password is derived from the code (HMAC
keyed by it), so no password is stored anywhere: issuing sets the station's broker hash
(the broker accepts the password once it reloads), redeeming derives the password again.
Redeeming is one DELETE … RETURNING: of two nodes given the same code at once, one gets
the row and the other nothing."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from hub.broker import hash_password
from hub.models import AuditLog, EnrolmentCode, Station, aware, utcnow

CODE_TTL = dt.timedelta(hours=24)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

bp = Blueprint("enrol", __name__)


class StaleCode(Exception):
    """The station's broker password changed after the code was made."""


def _clean(code: str) -> str:
    clean = code.strip().upper().replace("-", "").replace(" ", "")
    return clean.translate(str.maketrans("OIL", "011"))


def _digest(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()


def _password(code: str, station_id: str) -> str:
    mac = hmac.new(_clean(code).encode(), f"tem-broker-password:{station_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _matches(stored: str, password: str) -> bool:
    try:
        salt = base64.b64decode(stored.split("$")[3])
    except (IndexError, ValueError):
        return False
    return hmac.compare_digest(hash_password(password, salt), stored)


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def issue(s: Session, station: Station, *, mqtt_host: str, mqtt_port: int, ca_pem: str | None,
          by: str) -> tuple[str, dt.datetime]:
    """Make a code for `station` (replacing its pending one) and give the station the broker
    password the code unlocks. Returns the code, to be shown once, and when it expires.
    The caller commits; the broker accepts the new password after it reloads."""
    code, now = new_code(), utcnow()
    s.execute(delete(EnrolmentCode).where(or_(EnrolmentCode.station_id == station.id,
                                              EnrolmentCode.expires_at <= now)))
    expires = now + CODE_TTL
    s.add(EnrolmentCode(code_hash=_digest(code), station_id=station.id, mqtt_host=mqtt_host,
                        mqtt_port=mqtt_port, ca_pem=ca_pem, expires_at=expires, created_at=now, created_by=by))
    station.broker_hash = hash_password(_password(code, station.id))
    return code, expires


def redeem(s: Session, code: str) -> dict[str, Any] | None:
    """The identity a code unlocks, or None for an unknown, used or expired code. The code is
    gone once this returns (the caller commits). Raises StaleCode when the station got
    another broker password since."""
    row = s.execute(delete(EnrolmentCode).where(EnrolmentCode.code_hash == _digest(code)).returning(
        EnrolmentCode.station_id, EnrolmentCode.mqtt_host, EnrolmentCode.mqtt_port, EnrolmentCode.ca_pem,
        EnrolmentCode.expires_at)).first()
    if row is None or aware(row.expires_at) <= utcnow():
        return None
    station = s.get(Station, row.station_id)
    password = _password(code, row.station_id)
    if station is None or not _matches(station.broker_hash, password):
        raise StaleCode(row.station_id)
    return {"station_id": station.id, "username": station.id, "password": password, "mqtt_host": row.mqtt_host,
            "mqtt_port": row.mqtt_port, "ca_pem": row.ca_pem}


@bp.post("/enrol")
def enrol() -> Any:
    from hub.app import db
    body = request.get_json(silent=True) or {}
    code = body.get("code")
    if not isinstance(code, str) or len(code) > 40:
        return jsonify(error="send {\"code\": \"XXXX-XXXX-XXXX\"}"), 400
    s = db()
    try:
        identity = redeem(s, code)
    except StaleCode as exc:
        s.commit()  # the code is used up either way
        return jsonify(error=f"station {exc} has another broker password since this code was made: "
                             "make a new code"), 409
    if identity is None:
        s.commit()  # an expired code is deleted
        return jsonify(error="unknown, used or expired enrolment code"), 404
    s.add(AuditLog(username=f"station:{identity['station_id']}", action="enrolled", target_type="station",
                   target_id=identity["station_id"], detail={"address": request.remote_addr}))
    s.commit()
    return jsonify(identity)


def init_app(app: Any) -> None:
    """Register the endpoint: no CSRF (a station has no cookies), a tight rate limit."""
    from hub import auth
    app.register_blueprint(bp)
    auth.csrf.exempt(bp)
    limiter = app.extensions.get("tem.limiter")
    if limiter is not None:
        app.view_functions["enrol.enrol"] = limiter.limit("10/minute")(app.view_functions["enrol.enrol"])
