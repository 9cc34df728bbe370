"""MQTT topic names: tem/v1/{station}/{kind}."""
from __future__ import annotations

import re

PREFIX = "tem/v1"
# req: a scan station's question to the hub (a stamp its cache cannot judge); the answer
# comes back as a command.
KINDS = ("evt", "ack", "state", "tele", "cmd", "cfg", "req")
STATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# Ingestors share event and telemetry traffic; clean sessions, see DESIGN.md.
SHARED_GROUP = "ingest"


def topic(station: str, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}")
    if not STATION_ID.fullmatch(station):
        raise ValueError(f"station id {station!r} must be 1-32 of a-z, 0-9 and '-'")
    return f"{PREFIX}/{station}/{kind}"


def shared(kind: str) -> str:
    return f"$share/{SHARED_GROUP}/{PREFIX}/+/{kind}"


def wildcard(kind: str) -> str:
    return f"{PREFIX}/+/{kind}"


def split(name: str) -> tuple[str, str]:
    """(station, kind) of a Tem topic; ValueError for anything else."""
    parts = name.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != PREFIX or parts[3] not in KINDS:
        raise ValueError(f"{name!r} is not a Tem topic")
    if not STATION_ID.fullmatch(parts[2]):
        raise ValueError(f"{parts[2]!r} is not a valid station id")
    return parts[2], parts[3]
