"""Offline knowledge for scan stations: the stamp states of a station's area (products of
cooperatives in the station's province, or every product when the station has no
province), sent as `sync_stamps` commands in chunks under the message size limit.
Stations never get keys, only states; what they do not hold they call "not verifiable".

Three forms, all `sync_stamps`: a full sync (`part`/`parts`, the whole area), changes
(`"mode": "changes"`: stamps whose state changed since a time) and the answer to one
station's question about one stamp (changes with `answer`). hub/autosync.py sends them
without anyone asking; `tem sync-stations` or `sync_stations()` sends a full sync by hand."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hub.models import Batch, Cooperative, Event, Product, Stamp, Station, aware
from tem import messages, topics

log = logging.getLogger(__name__)
SCAN_KINDS = ("stall", "activation")
# Room for the envelope (id, name, sync id, products) around the stamp rows.
ENVELOPE = 8 * 1024
# Events that change what a scan station shows for a stamp (void covers recalls).
CHANGES = ("activated", "voided", "sold")
Publish = Callable[[str, bytes], None]
Row = list[Any]  # [serial, state, gtin, lot, void reason], trailing nulls dropped


def new_sync_id(at: dt.datetime) -> str:
    """Sync ids sort by the time the hub built them (stations compare them as text)."""
    return at.strftime("%Y%m%dT%H%M%S%f-") + uuid.uuid4().hex[:6]


def _row(serial: str, state: str, gtin: str | None, lot: str | None, reason: str | None) -> Row:
    row: Row = [serial, state, gtin, lot, reason]
    while row and row[-1] is None:
        row.pop()  # trailing nulls cost bytes on every row
    return row


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


def _rows(session: Session, gtins: list[str], product_ids: list[int]) -> Iterator[Row]:
    if not gtins:
        return
    q = (select(Stamp.serial, Stamp.state, Stamp.gtin, Batch.lot, Stamp.void_reason)
         .outerjoin(Batch, Stamp.batch_id == Batch.id)
         .where(or_(Stamp.gtin.in_(gtins), Batch.product_id.in_(product_ids)))
         .order_by(Stamp.id).execution_options(yield_per=5000))
    for r in session.execute(q):
        yield _row(*r)


def _pack(rows: Iterable[Row], budget: int) -> list[list[Row]]:
    """Rows split into runs whose JSON fits in `budget` bytes (at least one run)."""
    chunks: list[list[Row]] = [[]]
    size = 0
    for row in rows:
        n = len(json.dumps(row).encode()) + 1
        if size + n > budget and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += n
    return chunks


def _command(args: dict[str, Any], limit: int) -> messages.Command:
    cmd = messages.Command(name="sync_stamps", args=args)
    if len(cmd.dump()) > limit:  # cannot happen with the envelope; refuse rather than send
        raise ValueError(f"sync message is {len(cmd.dump())} bytes, over {limit}")
    return cmd


def _station(session: Session, station_id: str) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise LookupError(f"no station {station_id!r}")
    return station


def build_chunks(session: Session, station_id: str, sync_id: str | None = None,
                 limit: int = messages.MAX_BYTES) -> list[messages.Command]:
    """The `sync_stamps` commands that give `station_id` its area's stamp states."""
    station = _station(session, station_id)
    products, product_ids = _area(session, station)
    now = dt.datetime.now(dt.UTC)
    sync_id = sync_id or new_sync_id(now)
    at = now.isoformat(timespec="seconds")
    budget = limit - ENVELOPE - len(json.dumps(products, ensure_ascii=False).encode())
    chunks = _pack(_rows(session, list(products), product_ids), budget)
    commands = []
    for i, rows in enumerate(chunks):
        gtins = {r[2] for r in rows if len(r) > 2}
        commands.append(_command({
            "mode": "full", "sync": sync_id, "part": i, "parts": len(chunks), "at": at,
            "scope": station.province or "*",
            "products": {g: p for g, p in products.items() if g in gtins or i == 0}, "stamps": rows}, limit))
    return commands


@dataclass
class Change:
    row: Row
    product_id: int | None
    received_at: dt.datetime


def changes_since(session: Session, since: dt.datetime) -> list[Change]:
    """Current rows of the stamps an applied event changed (activated, voided, sold) after
    `since` (the hub's receiving time), with the newest such time of each."""
    last = (select(Event.serial, func.max(Event.received_at).label("at"))
            .where(Event.received_at > since, Event.type.in_(CHANGES), Event.applied.is_(True))
            .group_by(Event.serial).subquery())
    q = (select(Stamp.serial, Stamp.state, Stamp.gtin, Batch.lot, Stamp.void_reason, Batch.product_id, last.c.at)
         .join(last, last.c.serial == Stamp.serial).outerjoin(Batch, Stamp.batch_id == Batch.id)
         .order_by(Stamp.id))
    return [Change(_row(*r[:5]), r[5], aware(r[6])) for r in session.execute(q)]


def build_changes(session: Session, station_id: str, changes: list[Change], since: dt.datetime,
                  at: dt.datetime, limit: int = messages.MAX_BYTES) -> list[messages.Command]:
    """`sync_stamps` commands in the changes form: the rows of `changes` after `since` that
    lie in the station's area. Always at least one (an empty one tells the station that
    its cache is current as of `at`)."""
    products, product_ids = _area(session, _station(session, station_id))
    ids = set(product_ids)
    rows = [c.row for c in changes if c.received_at > since
            and ((len(c.row) > 2 and c.row[2] in products) or c.product_id in ids)]
    sync_id = new_sync_id(at)
    commands = []
    for part in _pack(rows, limit - ENVELOPE - 1024):
        gtins = {r[2] for r in part if len(r) > 2}
        commands.append(_command({
            "mode": "changes", "sync": sync_id, "at": at.isoformat(timespec="seconds"),
            "since": since.isoformat(timespec="seconds"), "quiet": True,
            "products": {g: products[g] for g in gtins if g in products}, "stamps": part}, limit))
    return commands


def answer(session: Session, station_id: str, request: messages.VerifyRequest) -> messages.Command:
    """The hub's verdict on one stamp a station asked about: its current row (which the
    station keeps), or `unknown` when this hub never issued the serial."""
    _station(session, station_id)
    now = dt.datetime.now(dt.UTC)
    found = session.execute(
        select(Stamp.serial, Stamp.state, Stamp.gtin, Batch.lot, Stamp.void_reason, Product.name_vi, Cooperative.name)
        .outerjoin(Batch, Stamp.batch_id == Batch.id)
        .outerjoin(Product, Product.gtin == Stamp.gtin).outerjoin(Cooperative, Product.cooperative_id == Cooperative.id)
        .where(Stamp.serial == request.serial)).first()
    args: dict[str, Any] = {"mode": "changes", "sync": new_sync_id(now), "at": now.isoformat(timespec="seconds"),
                            "answer": str(request.id), "quiet": True, "stamps": [], "products": {}}
    if found is None:
        args["unknown"] = [request.serial]
    else:
        args["stamps"] = [_row(*found[:5])]
        if found.gtin and found.name_vi is not None:
            args["products"] = {found.gtin: {"name": found.name_vi, "producer": found[6] or ""}}
    return _command(args, messages.MAX_BYTES)


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
    """Publishes as the hub's broker login, QoS 1, waiting for each PUBACK; reconnects by
    itself. With `on_message` it also listens on what `subscribe()` adds (hub/autosync.py)."""

    def __init__(self, host: str, port: int, password: str, username: str = "hub", timeout_s: float = 10,
                 on_message: Callable[[Any, Any, Any], None] | None = None, wait: bool = True):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.timeout_s = timeout_s
        self.subscriptions: dict[str, int] = {}
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tem-sync-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 10)
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self._connected.clear()
        if on_message is not None:
            self.client.on_message = on_message
        self.client.connect_async(host, port, keepalive=30, clean_start=True)
        self.client.loop_start()
        if wait and not self._connected.wait(timeout_s):
            self.close()
            raise RuntimeError(f"the broker at {host}:{port} did not accept the hub login")

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("the broker refused the hub login: %s", reason)
            return
        if self.subscriptions:  # a clean session: subscribe again after every reconnect
            client.subscribe(list(self.subscriptions.items()))
        self._connected.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self.subscriptions[topic] = qos
        if self._connected.is_set():
            self.client.subscribe(topic, qos)

    def unsubscribe(self, topic: str) -> None:
        if self.subscriptions.pop(topic, None) is not None and self._connected.is_set():
            self.client.unsubscribe(topic)

    def __call__(self, topic: str, payload: bytes) -> None:
        if not self._connected.wait(self.timeout_s):
            raise RuntimeError(f"not connected to the broker: nothing sent to {topic}")
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
