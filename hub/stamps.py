"""Minting and allocating stamps on the hub (the only place that holds the keys)."""
from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hub.models import Counter, Stamp
from tem.codes import NO_GTIN, Keyring


def next_numbers(session: Session, count: int) -> range:
    """Reserve `count` stamp numbers under a row lock (safe with several hub processes)."""
    row = session.execute(select(Counter).where(Counter.name == "stamp").with_for_update()).scalar_one_or_none()
    if row is None:
        row = Counter(name="stamp", value=0)
        session.add(row)
        session.flush()
    start = row.value + 1
    row.value += count
    return range(start, start + count)


def mint(session: Session, keyring: Keyring, gtin: str | None, count: int,
         station_id: str | None = None) -> list[str]:
    """Mint `count` new stamps in state `issued`; the caller commits."""
    serials = [keyring.mint(n, gtin or NO_GTIN) for n in next_numbers(session, count)]
    if serials:
        session.execute(insert(Stamp), [
            {"serial": s, "gtin": gtin, "state": "issued", "station_id": station_id, "checks": 0}
            for s in serials])
    return serials
