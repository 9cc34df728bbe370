"""Helpers for the print-station tests: a station with real codes, outbox and printer
(no broker needed: events stay in the outbox), and ways to read what it recorded."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import zxingcpp

from station import config as station_config
from station.codebook import Codebook
from station.runtime import Station
from tem.codes import Keyring
from tests.conftest import wait_until  # noqa: F401 - the print tests import it from here

GTIN = "08934567890120"
KEYRING = Keyring({"A": b"test-key-0123456789abcdef"})
PRODUCT = {"gtin": GTIN, "name": "Cá thát lát rút xương", "producer": "HTX Kỳ Như", "lot": "L1",
           "packed_on": "2026-05-01"}


def serials(n: int, start: int = 1) -> list[str]:
    return [KEYRING.mint(i, GTIN) for i in range(start, start + n)]


def config_dict(data_dir: Path, printer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"station_id": "st-1", "kind": "print", "data_dir": str(data_dir), "product": PRODUCT,
            "printer": printer, "telemetry_interval_s": 1,
            # Nothing listens there: the station works offline and keeps every event in its outbox.
            "mqtt": {"port": 1, "password_env": "TEM_TEST_MQTT_PASSWORD"}, **extra}


def make_station(data_dir: Path, printer: dict[str, Any], codes: int = 10, **extra: Any) -> Station:
    cfg = station_config.from_dict(config_dict(data_dir, printer, **extra))
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    if codes:
        book = Codebook(cfg.data_dir / "codes.db")
        book.add(serials(codes), GTIN)
        book.close()
    return Station(cfg)


def events(data_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Every event the station recorded (none is acknowledged: there is no hub)."""
    import sqlite3
    db = sqlite3.connect(data_dir / "outbox.db")
    try:
        rows = db.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()
    found = [json.loads(r[0]) for r in rows]
    return [e for e in found if kind is None or e["type"] == kind]


def decode(image) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def serial_of(url: str) -> str:
    return url.rsplit("/", 1)[-1]
