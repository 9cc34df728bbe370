"""What a public page shows: a stamp's verdict and the real history behind it (diary
entries, device events, certificates, where to buy), read with a bounded number of
indexed queries whatever the size of the tables."""
from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from hub import clones, outlets
from hub.models import (Alert, Batch, Certificate, DiaryEntry, Event, Product, Stamp, Station,
                        utcnow)

WEB_STATION = "web"  # station_id of checks made by opening the page
RECENT_CHECKS = 50  # clone detection looks at this many recent checks at most
TIMELINE_EVENTS = 100  # non-check events of one stamp shown at most (reprints, inspections)
DIARY_MAX = 100
OUTLETS_TTL_S = 300
SHARED_TTL_S = 30  # a diary entry or certificate typed in the office shows within half a minute


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass
class Step:
    """One line of the timeline."""
    at: dt.datetime | dt.date
    kind: str  # diary stage or event type
    source: str  # "device" or "person"
    who: str = ""
    place: str = ""
    note: str = ""
    station_id: str = ""
    count: int = 1  # checks are folded into one line

    @property
    def sort_key(self) -> dt.datetime:
        if isinstance(self.at, dt.datetime):
            return _aware(self.at)
        # A diary date sorts before the device events of that same day.
        return dt.datetime.combine(self.at, dt.time.min, dt.timezone.utc)


@dataclass
class Verdict:
    kind: str  # genuine | sold | not_active | void | clone | not_tem
    tone: str  # ok | warn | bad
    reason: str = ""


@dataclass
class Page:
    product: Product | None  # None for a pre-printed stamp not yet bound to a product
    batch: Batch | None = None
    stamp: Stamp | None = None
    verdict: Verdict | None = None
    suspicion: clones.Suspicion | None = None
    steps: list[Step] = field(default_factory=list)
    diary: list[Step] = field(default_factory=list)  # the batch's diary lines among `steps`
    certificates: list[Certificate] = field(default_factory=list)
    outlets: list[Station] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)  # product page: recent batches


def verdict_for(stamp: Stamp, suspicion: clones.Suspicion | None) -> Verdict:
    if stamp.state == "void":
        return Verdict("void", "bad", stamp.void_reason or "other")
    if suspicion is not None:
        return Verdict("clone", "bad", suspicion.kind)
    if stamp.state == "sold":
        return Verdict("sold", "ok")
    if stamp.state == "active":
        return Verdict("genuine", "ok")
    return Verdict("not_active", "warn")


def find_stamp(s: Session, serial: str) -> Stamp | None:
    return s.scalars(select(Stamp).where(Stamp.serial == serial).options(
        joinedload(Stamp.batch).joinedload(Batch.product).joinedload(Product.cooperative))).first()


def find_product(s: Session, gtin: str) -> Product | None:
    return s.scalars(select(Product).where(Product.gtin == gtin).options(joinedload(Product.cooperative))).first()


def find_batch(s: Session, product: Product, lot: str) -> Batch | None:
    found = s.scalars(select(Batch).where(Batch.product_id == product.id, Batch.lot == lot)).first()
    if found is None:
        # QR codes carry the URL in upper case; a product has few batches, so this stays cheap.
        found = s.scalars(select(Batch).where(Batch.product_id == product.id,
                                              func.upper(Batch.lot) == lot.upper())).first()
    if found is not None:
        found.product = product
    return found


def record_check(s: Session, stamp: Stamp, verdict: str) -> None:
    """A page view is a `checked` event from the web; the caller has already rate-limited it."""
    now = utcnow()
    s.add(Event(id=str(uuid.uuid4()), station_id=WEB_STATION, seq=time.time_ns() // 1000, type="checked",
                serial=stamp.serial, at=now, received_at=now, applied=True,
                body={"v": 1, "type": "checked", "station": WEB_STATION, "serial": stamp.serial,
                      "at": now.isoformat(), "verdict": verdict}))
    # Atomic in SQL (other workers may count the same stamp); the ORM refreshes `stamp.checks` from it.
    s.execute(update(Stamp).where(Stamp.id == stamp.id).values(checks=Stamp.checks + 1))


def _recent_checks(s: Session, serial: str) -> list[clones.Check]:
    rows = s.execute(select(Event.at, Event.station_id, Event.body, Station.place, Station.province,
                            Station.lat, Station.lon)
                     .outerjoin(Station, Station.id == Event.station_id)
                     .where(Event.serial == serial, Event.type == "checked", Event.applied.is_(True))
                     .order_by(Event.at.desc()).limit(RECENT_CHECKS)).all()
    return [clones.Check(at=_aware(r.at), station_id=r.station_id,
                         place=(r.body or {}).get("place") or r.place or "", province=r.province or "",
                         lat=r.lat, lon=r.lon) for r in rows]


def detect_clone(s: Session, stamp: Stamp) -> clones.Suspicion | None:
    suspicion = clones.far_apart(_recent_checks(s, stamp.serial))
    if suspicion is None and stamp.checks > clones.MIN_CHECKS:
        mean = None
        if stamp.batch_id is not None:  # only reached for heavily checked stamps
            mean = s.scalar(select(func.avg(Stamp.checks)).where(Stamp.batch_id == stamp.batch_id))
        suspicion = clones.too_many(stamp.checks, float(mean) if mean is not None else None)
    return suspicion


def raise_clone_alert(s: Session, stamp: Stamp, suspicion: clones.Suspicion) -> None:
    """One open alert per stamp: operators see it once, not once per page view."""
    open_alert = s.scalar(select(Alert.id).where(Alert.serial == stamp.serial, Alert.kind == "suspected_clone",
                                                 Alert.resolved_at.is_(None)).limit(1))
    if open_alert is None:
        s.add(Alert(kind="suspected_clone", serial=stamp.serial, station_id=None,
                    message=f"stamp {stamp.serial} may be copied: {suspicion.detail}"))


def _event_steps(s: Session, serial: str, checks: int) -> list[Step]:
    rows = s.execute(select(Event.at, Event.type, Event.station_id, Event.body)
                     .where(Event.serial == serial, Event.applied.is_(True), Event.type != "checked")
                     .order_by(Event.at).limit(TIMELINE_EVENTS)).all()
    ids = {r.station_id for r in rows}
    stations = {st.id: st for st in s.scalars(select(Station).where(Station.id.in_(ids)))} if ids else {}
    devices = set(stations) | {WEB_STATION}
    steps = []
    for r in rows:
        body = r.body or {}
        st = stations.get(r.station_id)
        note = body.get("reason") or body.get("result") or body.get("note") or ""
        steps.append(Step(at=_aware(r.at), kind=r.type, station_id=r.station_id,
                          source="device" if r.station_id in devices else "person",
                          who=body.get("by", "") or (st.name if st else r.station_id),
                          place=body.get("place") or (st.place if st else ""), note=str(note)))
    if checks:
        last = s.scalar(select(func.max(Event.at)).where(Event.serial == serial, Event.type == "checked"))
        if last is not None:
            steps.append(Step(at=_aware(last), kind="checked", source="device", count=checks))
    return steps


def _diary_steps(s: Session, batch_id: int) -> list[Step]:
    entries = s.scalars(select(DiaryEntry).where(DiaryEntry.batch_id == batch_id)
                        .order_by(DiaryEntry.day, DiaryEntry.id).limit(DIARY_MAX))
    return [Step(at=e.day, kind=e.stage, source="device" if e.recorded_by == "device" else "person",
                 who=e.who, place=e.place, note=e.note, station_id=e.station_id or "") for e in entries]


def certificates(s: Session, product_id: int) -> list[Any]:
    """Plain copies, so a cached list never touches a closed session."""
    rows = s.scalars(select(Certificate).where(Certificate.product_id == product_id)
                     .order_by(Certificate.kind, Certificate.id))
    return [SimpleNamespace(kind=c.kind, number=c.number, issuer=c.issuer, stars=c.stars, valid_from=c.valid_from,
                            valid_to=c.valid_to, url=c.url) for c in rows]


class Outlets:
    """Stalls whose stations checked or sold stamps of a batch, and other batch-level
    facts shared by every stamp of the batch; cached per process because they change
    slowly and thousands of stamps share them."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, ...], tuple[float, list[Any]]] = {}
        self._shared: dict[tuple[str, int], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def shared(self, kind: str, key: int, load: Callable[[], Any], ttl: float = SHARED_TTL_S) -> Any:
        hit = self._shared.get((kind, key))
        if hit is None or time.monotonic() - hit[0] > ttl:
            hit = (time.monotonic(), load())
            with self._lock:
                self._shared[(kind, key)] = hit
        return hit[1]

    def for_batches(self, s: Session, batch_ids: list[int]) -> list[Any]:
        key = tuple(sorted(batch_ids))
        if not key:
            return []
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or time.monotonic() - hit[0] > OUTLETS_TTL_S:
            # Plain copies: the list outlives the session that read it.
            hit = (time.monotonic(), [SimpleNamespace(**r._mapping) for r in s.execute(outlets.stalls(key))])
            with self._lock:
                self._cache[key] = hit
        return hit[1]


def stamp_page(s: Session, stamp: Stamp, product: Product | None, outlets: Outlets) -> Page:
    suspicion = detect_clone(s, stamp) if stamp.state != "void" else None
    page = Page(product=product, batch=stamp.batch, stamp=stamp, suspicion=suspicion,
                verdict=verdict_for(stamp, suspicion))
    steps = _event_steps(s, stamp.serial, stamp.checks)
    if stamp.batch_id is not None:
        batch_id = stamp.batch_id
        steps += outlets.shared("diary", batch_id, lambda: _diary_steps(s, batch_id))
        page.outlets = outlets.for_batches(s, [batch_id])
    page.steps = sorted(steps, key=lambda st: st.sort_key)
    if product is not None:
        product_id = product.id
        page.certificates = outlets.shared("certificates", product_id, lambda: certificates(s, product_id))
    return page


def batch_page(s: Session, batch: Batch, outlets: Outlets) -> Page:
    page = Page(product=batch.product, batch=batch)
    page.steps = _diary_steps(s, batch.id)
    page.certificates = certificates(s, batch.product_id)
    page.outlets = outlets.for_batches(s, [batch.id])
    return page


def product_page(s: Session, product: Product, outlets: Outlets) -> Page:
    page = Page(product=product)
    page.batches = list(s.scalars(select(Batch).where(Batch.product_id == product.id)
                                  .order_by(Batch.packed_on.desc(), Batch.id.desc()).limit(10)))
    page.certificates = certificates(s, product.id)
    page.outlets = outlets.for_batches(s, [b.id for b in page.batches[:3]])
    return page
