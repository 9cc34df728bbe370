"""The ingestor: takes station messages off the broker, applies them to the
database in batches, and acknowledges events only after they are committed.

What cannot be applied (malformed, unknown or mis-addressed sender, forged
serial) goes to the quarantine table with the reason; an illegal lifecycle
step is stored as a refused event and raises an alert. Nothing is dropped."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub import outlets
from hub.models import Alert, Batch, Event, Product, Quarantine, Stamp, Station, TelemetrySample, aware, utcnow
from hub.stamps import mint
from tem import lifecycle, messages, topics
from tem.codes import Keyring

log = logging.getLogger(__name__)
BATCH_MAX = 500
BATCH_WAIT_S = 0.02
CODES_LOW = 200  # top a print station up when it reports fewer codes than this
CODES_BLOCK = 500
CODES_RETRY = dt.timedelta(seconds=60)


# PostgreSQL takes a batch as one JSON document: one parameter, no per-row or per-array
# escaping in Python (psycopg quotes text arrays element by element with a regex).
_PG_INSERT_EVENTS = text("""
    INSERT INTO event (id, station_id, seq, type, serial, at, received_at, applied, body)
    SELECT id, station_id, seq, type, serial, at, received_at, true, body
    FROM json_to_recordset(CAST(:rows AS json))
         AS r(id varchar, station_id varchar, seq bigint, type varchar, serial varchar,
              at timestamptz, received_at timestamptz, body json)
    ON CONFLICT (id) DO NOTHING RETURNING id""")
# What an event can change on its stamp; written back in bulk after the batch is applied.
_STAMP_UPDATE = ("id", "state", "gtin", "batch_id", "printed_at", "activated_at", "sold_at", "void_reason", "checks")
_STAMP_COLUMNS = (Stamp.id, Stamp.serial, Stamp.state, Stamp.gtin, Stamp.batch_id, Stamp.printed_at,
                  Stamp.activated_at, Stamp.sold_at, Stamp.void_reason, Stamp.checks)
_PG_UPDATE_STAMPS = text("""
    UPDATE stamp SET state = c.state, gtin = c.gtin, batch_id = c.batch_id, printed_at = c.printed_at,
                     activated_at = c.activated_at, sold_at = c.sold_at, void_reason = c.void_reason,
                     checks = c.checks
    FROM json_to_recordset(CAST(:rows AS json))
         AS c(id bigint, state varchar, gtin varchar, batch_id integer, printed_at timestamptz,
              activated_at timestamptz, sold_at timestamptz, void_reason varchar, checks integer)
    WHERE stamp.id = c.id""")
_UPDATE_STAMP = (update(Stamp.__table__).where(Stamp.__table__.c.id == bindparam("b_id"))
                 .values({k: bindparam("b_" + k) for k in _STAMP_UPDATE if k != "id"}))


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=dt.datetime.isoformat, ensure_ascii=False)


@dataclass
class Incoming:
    topic: str
    payload: bytes


@dataclass
class Outcome:
    acks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    new_events: int = 0
    duplicates: int = 0
    quarantined: int = 0
    refused: int = 0
    commands: list[tuple[str, messages.Command]] = field(default_factory=list)


def _text(payload: bytes) -> str:
    return payload[: messages.MAX_BYTES].decode("utf-8", errors="replace")


def _event_id(payload: bytes) -> str | None:
    """The id of an event we could not validate, so it can still be acknowledged."""
    try:
        return str(uuid.UUID(str(json.loads(payload).get("id"))))
    except Exception:
        return None


class Applier:
    """Applies one batch of messages in one transaction."""

    def __init__(self, sessions: sessionmaker[Session], keyring: Keyring | None = None):
        self.sessions = sessions
        self.keyring = keyring

    def apply(self, batch: list[Incoming]) -> Outcome:
        out = Outcome()
        with self.sessions() as s, s.begin():
            self._apply(s, batch, out)
        return out

    def _apply(self, s: Session, batch: list[Incoming], out: Outcome) -> None:
        senders = set()
        for m in batch:
            try:
                senders.add(topics.split(m.topic)[0])
            except ValueError:
                pass
        known = set(s.scalars(select(Station.id).where(Station.id.in_(senders))))
        events: list[Any] = []
        status: dict[str, dict[str, Any]] = {}  # station -> columns to set; the batch's last message wins
        samples: list[dict[str, Any]] = []
        low_on_codes: set[str] = set()

        def quarantine(m: Incoming, station: str | None, reason: str, ack_to: str | None = None) -> None:
            s.add(Quarantine(topic=m.topic[:200], station_id=station, reason=reason, payload=_text(m.payload)))
            out.quarantined += 1
            event_id = _event_id(m.payload) if ack_to else None
            if event_id:
                out.acks[ack_to].append(event_id)  # type: ignore[index]

        for m in batch:
            try:
                sender, kind = topics.split(m.topic)
            except ValueError as exc:
                quarantine(m, None, str(exc))
                continue
            if sender not in known:
                quarantine(m, sender, f"unknown station {sender!r}: not registered on this hub")
                continue
            try:
                if kind == "evt":
                    ev = messages.parse_event(m.payload)
                    if ev.station != sender:
                        quarantine(m, sender, f"station {sender} sent an event in the name of {ev.station}",
                                   ack_to=sender)
                        continue
                    events.append(ev)
                elif kind == "state":
                    st = messages.parse(messages.StateMessage, m.payload)
                    status.setdefault(sender, {}).update(online=st.state == "online", last_seen=utcnow())
                    if st.software:  # the online message says what the station runs
                        status[sender]["software"] = st.software[:60]
                elif kind == "tele":
                    tele = messages.parse(messages.Telemetry, m.payload)
                    body = tele.model_dump(mode="json", exclude_none=True)
                    status.setdefault(sender, {}).update(online=True, last_seen=utcnow(),
                                                         config_version=tele.config_version, telemetry=body)
                    samples.append({"station_id": sender, "at": tele.at, "body": body})
                    if tele.codes_left is not None and tele.codes_left < CODES_LOW:
                        low_on_codes.add(sender)
                else:
                    quarantine(m, sender, f"stations do not publish on {kind!r} topics")
            except messages.MessageError as exc:
                quarantine(m, sender, f"invalid {kind} message: {exc}", ack_to=sender if kind == "evt" else None)
        if samples:
            s.execute(insert(TelemetrySample), samples)
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for sid, columns in status.items():
            shapes[tuple(sorted(columns))].append({"b_id": sid, **{"b_" + k: v for k, v in columns.items()}})
        for shape, rows in shapes.items():
            s.execute(update(Station.__table__).where(Station.__table__.c.id == bindparam("b_id"))
                      .values({k: bindparam("b_" + k) for k in shape}), rows)
        for sid in sorted(low_on_codes):
            self._top_up(s, s.get(Station, sid), out)  # type: ignore[arg-type]
        if events:
            self._apply_events(s, events, out)

    def _top_up(self, s: Session, station: Station, out: Outcome) -> None:
        """Send a print station that reported fewer than CODES_LOW codes a new block."""
        if (self.keyring is None or station.product_id is None
                or (station.codes_sent_at and utcnow() - aware(station.codes_sent_at) < CODES_RETRY)):
            return
        gtin = s.get(Product, station.product_id).gtin  # type: ignore[union-attr]
        serials = mint(s, self.keyring, gtin, CODES_BLOCK, station.id)
        station.codes_sent_at = utcnow()
        out.commands.append((station.id, messages.Command(name="add_codes", args={"gtin": gtin, "serials": serials})))

    def _apply_events(self, s: Session, events: list[Any], out: Outcome) -> None:
        events = sorted(events, key=lambda e: str(e.id))  # one lock order across ingestors
        received = utcnow()
        rows = [{"id": str(e.id), "station_id": e.station, "seq": e.seq, "type": e.type,
                 "serial": getattr(e, "serial", None), "at": e.at, "received_at": received,
                 "body": e.model_dump(mode="json", exclude_none=True)} for e in events]
        postgres = s.get_bind().dialect.name == "postgresql"
        if postgres:
            inserted = set(s.scalars(_PG_INSERT_EVENTS, {"rows": _json(rows)}))
        else:
            ins = sqlite.insert(Event).on_conflict_do_nothing(index_elements=["id"]).returning(Event.id)
            inserted = set(s.scalars(ins, rows))
        for e in events:
            out.acks[e.station].append(str(e.id))
        out.duplicates += len(events) - len(inserted)
        fresh = sorted((e for e in events if str(e.id) in inserted), key=lambda e: (e.station, e.seq))
        out.new_events += len(fresh)
        serials = sorted({e.serial for e in fresh if getattr(e, "serial", None)})
        stamps = {r["serial"]: dict(r) for r in s.execute(
            select(*_STAMP_COLUMNS, Batch.lot).outerjoin(Batch, Stamp.batch_id == Batch.id)
            .where(Stamp.serial.in_(serials)).order_by(Stamp.serial).with_for_update(of=Stamp)).mappings()
        } if serials else {}
        batches: dict[tuple[str | None, str], tuple[int, str, str] | None] = {}
        changed: dict[str, dict[str, Any]] = {}
        refusals: dict[str, str] = {}
        for e in fresh:
            reason = self._apply_one(s, e, stamps, batches, changed)
            if reason:
                refusals[str(e.id)] = reason
        if changed:
            values = [{k: row[k] for k in _STAMP_UPDATE} for row in changed.values()]
            if postgres:
                s.execute(_PG_UPDATE_STAMPS, {"rows": _json(values)})
            else:
                s.execute(_UPDATE_STAMP, [{"b_" + k: v for k, v in row.items()} for row in values])
        outlets.record(s, fresh, stamps, refusals)  # where to buy each batch (hub.outlets)
        if refusals:
            out.refused += len(refusals)
            for event_id, reason in refusals.items():
                s.execute(Event.__table__.update().where(Event.id == event_id)
                          .values(applied=False, refusal=reason[:300]))

    def _apply_one(self, s: Session, e: Any, stamps: dict[str, dict[str, Any]],
                   batches: dict[tuple[str | None, str], tuple[int, str, str] | None],
                   changed: dict[str, dict[str, Any]]) -> str | None:
        """Apply one fresh event to its stamp's row (a plain dict, written back in bulk);
        returns the refusal reason, if any."""
        if e.type == "alert":
            s.add(Alert(kind=e.code, station_id=e.station, serial=e.serial, message=e.message))
            return None
        if e.type == "command_result":
            return None
        stamp = stamps.get(e.serial)
        if stamp is None:
            reason = f"not a Tem stamp: serial {e.serial} was never issued by this hub"
            s.add(Quarantine(topic=topics.topic(e.station, "evt"), station_id=e.station, reason=reason,
                             payload=json.dumps(e.model_dump(mode="json"))))
            s.add(Alert(kind="unknown_stamp", station_id=e.station, serial=e.serial,
                        message=f"{e.type} of an unknown stamp at station {e.station}"))
            return reason
        if e.gtin and stamp["gtin"] and e.gtin != stamp["gtin"]:
            reason = f"serial {e.serial} belongs to GTIN {stamp['gtin']}, not {e.gtin}"
            s.add(Alert(kind="wrong_product", station_id=e.station, serial=e.serial, message=reason))
            return reason
        batch = None
        if e.type == "activated":
            gtin = e.gtin or stamp["gtin"]
            if (gtin, e.lot) not in batches:
                batches[gtin, e.lot] = s.execute(
                    select(Batch.id, Batch.lot, Product.gtin).join(Product)
                    .where(Product.gtin == gtin, Batch.lot == e.lot)).first()
            batch = batches[gtin, e.lot]
            if batch is None:
                reason = f"batch {e.lot} of product {gtin} is not registered"
                s.add(Alert(kind="unknown_batch", station_id=e.station, serial=e.serial, message=reason))
                return reason
        result = lifecycle.apply(lifecycle.State(stamp["state"]), e.type,
                                 stamp_batch=stamp["lot"], event_batch=batch[1] if batch else None)
        if not result.ok:
            s.add(Alert(kind="illegal_transition", station_id=e.station, serial=e.serial,
                        message=f"{e.type} refused: {result.reason}"))
            return result.reason
        stamp["state"] = result.state.value
        if e.type == "printed" and stamp["printed_at"] is None:
            stamp["printed_at"] = e.at
        elif e.type == "activated" and result.changed:
            stamp["activated_at"] = e.at
            stamp["batch_id"], stamp["lot"], product_gtin = batch  # type: ignore[misc]
            stamp["gtin"] = stamp["gtin"] or product_gtin
        elif e.type == "sold":
            stamp["sold_at"] = e.at
        elif e.type == "voided":
            stamp["void_reason"] = e.reason
        elif e.type == "checked":
            stamp["checks"] += 1
        changed[e.serial] = stamp
        return None


class Ingestor:
    """One ingestor process's MQTT side: a clean session on the shared subscription."""

    def __init__(self, sessions: sessionmaker[Session], host: str, port: int, username: str, password: str,
                 keyring: Keyring | None = None, on_outcome: Callable[[Outcome], None] | None = None):
        self.applier = Applier(sessions, keyring)
        self.on_outcome = on_outcome
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker confirmed the subscriptions
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tem-ingest-{os.getpid()}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self._queue.put(Incoming(msg.topic, msg.payload))
        self._host, self._port = host, port

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the ingestor: %s", reason)
            return
        client.subscribe([(topics.shared("evt"), 1), (topics.shared("tele"), 0), (topics.wildcard("state"), 1)])
        self.connected.set()
        log.info("ingestor connected to %s:%s", self._host, self._port)

    def run(self) -> None:
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=True)
        self.client.loop_start()
        try:
            while not self._stop.is_set():
                batch = self._take()
                if batch:
                    self._commit(batch)
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def stop(self) -> None:
        self._stop.set()

    def _take(self) -> list[Incoming]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list[Incoming]) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                out = self.applier.apply(batch)
                break
            except OperationalError as exc:
                # Database away, locked, or a deadlock with another ingestor: nothing was
                # committed and nothing acknowledged, so trying the same batch again is safe.
                log.warning("database error, retrying in %.1fs: %s", delay, exc.orig)
                time.sleep(delay)
                delay = min(delay * 2, 5)
        else:
            return
        for station, ids in out.acks.items():
            for i in range(0, len(ids), messages.MAX_ACK_IDS):
                ack = messages.Ack(ids=[uuid.UUID(x) for x in ids[i:i + messages.MAX_ACK_IDS]])
                self.client.publish(topics.topic(station, "ack"), ack.dump(), qos=1)
        for station, cmd in out.commands:
            self.client.publish(topics.topic(station, "cmd"), cmd.dump(), qos=1)
        if self.on_outcome:
            self.on_outcome(out)
