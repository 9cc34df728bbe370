"""The station registry: broker logins, and the password file and ACL made from it."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.broker import HUB_USER, hash_password, new_secret
from hub.models import Station
from tem.topics import STATION_ID


class RegistryError(ValueError):
    pass


def register(session: Session, station_id: str, kind: str, *, name: str = "", place: str = "",
             product_id: int | None = None, cooperative_id: int | None = None) -> str:
    """Add a station (or give an existing one a new secret); returns its broker password,
    which is shown once and never stored."""
    if not STATION_ID.match(station_id) or station_id == HUB_USER:
        raise RegistryError(f"station id {station_id!r} must be 1-32 of a-z, 0-9 and '-' (not 'hub')")
    if kind not in ("print", "activation", "stall"):
        raise RegistryError(f"station kind {kind!r} must be print, activation or stall")
    password = new_secret()
    station = session.get(Station, station_id) or Station(id=station_id)
    station.kind, station.name, station.place = kind, name or station_id, place
    station.product_id, station.cooperative_id = product_id, cooperative_id
    station.broker_hash = hash_password(password)
    session.add(station)
    return password


def broker_accounts(session: Session, hub_password: str) -> dict[str, str]:
    accounts = {st.id: st.broker_hash for st in session.scalars(select(Station)) if st.broker_hash}
    accounts[HUB_USER] = hash_password(hub_password)
    return accounts
