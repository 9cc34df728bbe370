"""Offline knowledge for scan stations: the stamp states of a station's area (products of
cooperatives in the station's province, or every product when the station has no
province), sent as `sync_stamps` commands in chunks under the message size limit.
Stations never get keys, only states; what they do not hold they call "not verifiable".

Independent of the operator console: `tem sync-stations` or `sync_stations()` with any
`publish(topic, payload)` callable."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from hub.models import Batch, Cooperative, Product, Stamp, Station
from tem import messages, topics

log = logging.getLogger(__name__)
SCAN_KINDS = ("stall", "activation")
# Room for the envelope (id, name, sync id, products) around the stamp rows.
ENVELOPE = 8 * 1024
Publish = Callable[[str, bytes], None]


def _area(session: Session, station: Station) -> tuple[dict[str, dict[str, str]], list[int]]:
    q = select(Product, Cooperative).join(Cooperative, Product.cooperative_id == Cooperative.id)
    if station.province:
        q = q.where(Cooperative.province == station.province)
    products: dict[str, dict[str, str]] = {}
    ids = []
    for product, coop in session.execute(q):
        products[product.gtin] = {"name": product.name_vi, "producer": coop.name}
        ids.append(product.id)
    return products, ids


def _rows(session: Session, gtins: list[str], product_ids: list[int]) -> Iterator[list[Any]]:
    if not gtins:
        return
    q = (select(Stamp.serial, Stamp.state, Stamp.gtin, Batch.lot, Stamp.void_reason)
         .outerjoin(Batch, Stamp.batch_id == Batch.id)
         .where(or_(Stamp.gtin.in_(gtins), Batch.product_id.in_(product_ids)))
         .order_by(Stamp.id).execution_options(yield_per=5000))
    for serial, state, gtin, lot, reason in session.execute(q):
        row: list[Any] = [serial, state, gtin, lot, reason]
        while row and row[-1] is None:
            row.pop()  # trailing nulls cost bytes on every row
        yield row


def build_chunks(session: Session, station_id: str, sync_id: str | None = None,
                 limit: int = messages.MAX_BYTES) -> list[messages.Command]:
    """The `sync_stamps` commands that give `station_id` its area's stamp states."""
    station = session.get(Station, station_id)
    if station is None:
        raise LookupError(f"no station {station_id!r}")
    products, product_ids = _area(session, station)
    sync_id = sync_id or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    budget = limit - ENVELOPE - len(json.dumps(products, ensure_ascii=False).encode())
    chunks: list[list[list[Any]]] = [[]]
    size = 0
    for row in _rows(session, list(products), product_ids):
        n = len(json.dumps(row).encode()) + 1
        if size + n > budget and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += n
    commands = []
    for i, rows in enumerate(chunks):
        gtins = {r[2] for r in rows if len(r) > 2}
        cmd = messages.Command(name="sync_stamps", args={
            "sync": sync_id, "part": i, "parts": len(chunks), "at": at, "scope": station.province or "*",
            "products": {g: p for g, p in products.items() if g in gtins or i == 0}, "stamps": rows})
        if len(cmd.dump()) > limit:  # cannot happen with the envelope above; refuse rather than send
            raise ValueError(f"sync chunk {i} is {len(cmd.dump())} bytes, over {limit}")
        commands.append(cmd)
    return commands


def scan_stations(session: Session) -> list[str]:
    return list(session.scalars(select(Station.id).where(Station.kind.in_(SCAN_KINDS)).order_by(Station.id)))


def sync_stations(sessions: sessionmaker[Session], publish: Publish,
                  station_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Publish a full sync to each station (default: every stall and activation station);
    returns the number of stamps sent to each."""
    sent: dict[str, int] = {}
    with sessions() as s:
        for sid in (list(station_ids) if station_ids is not None else scan_stations(s)):
            commands = build_chunks(s, sid)
            for cmd in commands:
                publish(topics.topic(sid, "cmd"), cmd.dump())
            sent[sid] = sum(len(c.args["stamps"]) for c in commands)
            log.info("sync %s: %d stamps in %d chunks", sid, sent[sid], len(commands))
    return sent


class MqttPublisher:
    """Publishes as the hub's broker login, QoS 1, waiting for each PUBACK."""

    def __init__(self, host: str, port: int, password: str, username: str = "hub", timeout_s: float = 10):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.timeout_s = timeout_s
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tem-sync-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self._connected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, reason, _p: (
            None if reason.is_failure else self._connected.set())
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise RuntimeError(f"the broker at {host}:{port} did not accept the hub login")

    def __call__(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(self.timeout_s)
        if not info.is_published():
            raise RuntimeError(f"the broker did not take the sync message for {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
