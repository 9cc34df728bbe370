"""The registry's real work, shared by the operator console and the JSON API: plain
functions over a session that check their input, raise `Refused` with a message a
person understands, and leave committing to the caller (so a refusal writes nothing)."""
from __future__ import annotations

import datetime as dt
import json
import tomllib
import uuid
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub.models import (Batch, Cooperative, DiaryEntry, DiaryRevision, Event, Product, Stamp, StampBlock, Station,
                        StationConfigPush, aware, utcnow)
from hub.stamps import mint
from tem import codes, gs1, lifecycle
from tem.codes import Keyring

MAX_BLOCK = 100_000
MAX_PHOTO_BYTES = 2 * 1024 * 1024
STAGES = ("planting", "harvest", "processing", "packing", "inspection", "transport", "other")
VOID_REASONS = ("misprint", "damaged", "recalled", "stolen", "other")
LOCAL_ONLY = ("mqtt", "station_id", "data_dir", "kind")


class Refused(ValueError):
    """Input the hub will not accept; str() is shown to the operator as is."""


# What a field is called in a refusal, in the operator's language.
FIELDS = {"name": _l("Name"), "address": _l("Address"), "province": _l("Province"), "district": _l("District"),
          "phone": _l("Phone"), "gs1_prefix": _l("GS1 prefix"), "name_vi": _l("Name (Vietnamese)"),
          "name_en": _l("Name (English)"), "category": _l("Category"), "lot": _l("Lot"), "packed_on": _l("Packed on"),
          "expires_on": _l("Expires on"), "quantity": _l("Quantity"), "place": _l("Place"), "stars": _l("OCOP stars"),
          "url": _l("Link"), "number": _l("Number"), "issuer": _l("Issuer"), "valid_from": _l("Valid from"),
          "valid_to": _l("Valid to"), "day": _l("Day"), "note": _l("Note"), "who": _l("Who")}


def _field(key: str) -> str:
    return str(FIELDS.get(key, key))


def _text(data: dict[str, Any], key: str, limit: int, required: bool = False, label: str = "") -> str:
    value = str(data.get(key) or "").strip()
    if required and not value:
        raise Refused(_("%(field)s is required", field=_field(key)))
    if len(value) > limit:
        raise Refused(_("%(field)s is longer than %(n)s characters", field=_field(key), n=limit))
    return value


def _date(data: dict[str, Any], key: str) -> dt.date | None:
    value = str(data.get(key) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Refused(_("%(field)s must be a date as YYYY-MM-DD, not %(value)s", field=_field(key),
                        value=repr(value))) from None


def _int(data: dict[str, Any], key: str, lo: int = 0, hi: int | None = None) -> int | None:
    value = str(data.get(key) if data.get(key) is not None else "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise Refused(_("%(field)s must be a whole number, not %(value)s", field=_field(key),
                        value=repr(value))) from None
    if n < lo or (hi is not None and n > hi):
        raise Refused(_("%(field)s must be between %(lo)s and %(hi)s", field=_field(key), lo=lo, hi=hi)
                      if hi is not None else _("%(field)s must be at least %(lo)s", field=_field(key), lo=lo))
    return n


# -- cooperatives, products, batches, diary ----------------------------------------------------

def save_cooperative(s: Session, data: dict[str, Any], coop: Cooperative | None = None) -> Cooperative:
    coop = coop or Cooperative()
    coop.name = _text(data, "name", 200, True, "name")
    coop.address = _text(data, "address", 300)
    coop.province = _text(data, "province", 100)
    coop.district = _text(data, "district", 100)
    coop.phone = _text(data, "phone", 40)
    prefix = _text(data, "gs1_prefix", 12)
    if prefix and (not prefix.isdigit() or not 6 <= len(prefix) <= 12):
        raise Refused(_("a GS1 company prefix has 6 to 12 digits"))
    coop.gs1_prefix = prefix or None
    s.add(coop)
    s.flush()
    return coop


def check_gtin(s: Session, raw: str, product_id: int | None = None, scope: int | None = None) -> str:
    """A valid, unused GTIN-14. `scope`: the viewer's cooperative, so a clash names no one else's product."""
    text = (raw or "").strip()
    if not text.isdigit() or not text.isascii():
        raise Refused(_("GTIN %(gtin)s must contain only digits", gtin=repr(text)))
    if len(text) not in (8, 12, 13, 14):
        raise Refused(_("GTIN %(gtin)s has %(n)s digits; a GTIN has 8, 12, 13 or 14", gtin=text, n=len(text)))
    want = gs1.check_digit(text[:-1])
    if int(text[-1]) != want:
        raise Refused(_("GTIN %(gtin)s has check digit %(got)s, it should be %(want)s", gtin=text, got=text[-1],
                        want=want))
    try:
        gtin = gs1.normalize_gtin(text)
    except gs1.GS1Error as exc:
        raise Refused(str(exc)) from None
    other = s.scalars(select(Product).where(Product.gtin == gtin)).first()
    if other is not None and other.id != product_id:
        if scope is not None and other.cooperative_id != scope:
            raise Refused(_("GTIN %(gtin)s is already registered by another cooperative", gtin=gtin))
        raise Refused(_("GTIN %(gtin)s is already registered for product “%(name)s”", gtin=gtin, name=other.name_vi))
    return gtin


def save_product(s: Session, data: dict[str, Any], cooperative_id: int, product: Product | None = None,
                 scope: int | None = None) -> Product:
    gtin = check_gtin(s, str(data.get("gtin", "")), product.id if product else None, scope)
    if s.get(Cooperative, cooperative_id) is None:
        raise Refused(_("cooperative %(id)s does not exist", id=cooperative_id))
    product = product or Product()
    product.gtin = gtin
    product.name_vi = _text(data, "name_vi", 200, True, "Vietnamese name")
    product.name_en = _text(data, "name_en", 200)
    product.category = _text(data, "category", 100)
    product.cooperative_id = cooperative_id
    s.add(product)
    s.flush()
    return product


def save_batch(s: Session, data: dict[str, Any], product: Product, batch: Batch | None = None) -> Batch:
    lot = _text(data, "lot", 20, True, "lot")
    clash = s.scalars(select(Batch).where(Batch.product_id == product.id, Batch.lot == lot)).first()
    if clash is not None and (batch is None or clash.id != batch.id):
        raise Refused(_("lot %(lot)s already exists for this product", lot=lot))
    batch = batch or Batch(product_id=product.id)
    batch.lot = lot
    batch.packed_on = _date(data, "packed_on")
    batch.expires_on = _date(data, "expires_on")
    if batch.packed_on and batch.expires_on and batch.expires_on < batch.packed_on:
        raise Refused(_("the expiry date is before the packing date"))
    batch.quantity = _int(data, "quantity", 0, 10_000_000)
    batch.place = _text(data, "place", 200)
    s.add(batch)
    s.flush()
    return batch


def save_photo(folder: Any, data: bytes) -> str:
    """Store a product photo (JPEG/PNG/WebP, checked by decoding it) under its content hash."""
    import hashlib
    import io

    from PIL import Image, UnidentifiedImageError
    if len(data) > MAX_PHOTO_BYTES:
        raise Refused(_("the photo is larger than %(mb)s MB", mb=MAX_PHOTO_BYTES // (1024 * 1024)))
    try:
        with Image.open(io.BytesIO(data)) as im:
            kind = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, ValueError):
        raise Refused(_("the photo is not a JPEG, PNG or WebP image")) from None
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(kind or "")
    if ext is None:
        raise Refused(_("the photo is not a JPEG, PNG or WebP image"))
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return name


CERT_KINDS = ("vietgap", "ocop", "organic", "globalgap", "other")


def add_certificate(s: Session, product: Product, data: dict[str, Any]) -> Any:
    from hub.models import Certificate
    kind = str(data.get("kind") or "")
    if kind not in CERT_KINDS:
        raise Refused(_("certificate kind must be one of %(choices)s", choices=", ".join(CERT_KINDS)))
    stars = _int(data, "stars", 3, 5)
    if kind == "ocop" and stars is None:
        raise Refused(_("an OCOP certificate has 3 to 5 stars"))
    url = _text(data, "url", 300)
    if url and not url.startswith(("https://", "http://")):
        raise Refused(_("the link must start with https://"))
    cert = Certificate(product_id=product.id, kind=kind, number=_text(data, "number", 60),
                       issuer=_text(data, "issuer", 200), stars=stars if kind == "ocop" else None,
                       valid_from=_date(data, "valid_from"), valid_to=_date(data, "valid_to"), url=url or None)
    if cert.valid_from and cert.valid_to and cert.valid_to < cert.valid_from:
        raise Refused(_("the certificate ends before it starts"))
    s.add(cert)
    s.flush()
    return cert


IMPORT_COLUMNS = ("gtin", "name_vi", "name_en", "category")
MAX_IMPORT_ROWS = 5000


def import_products(s: Session, data: bytes, cooperative_id: int, scope: int | None = None) -> list[Product]:
    """Products from a CSV file (UTF-8, header gtin,name_vi[,name_en,category]): every row is
    checked first, and one bad row refuses the whole file with every problem listed."""
    import csv
    import io
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(_("the file is not UTF-8 text (byte %(at)s): save it as CSV UTF-8", at=exc.start)) from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise Refused(_("not a CSV file: %(why)s", why=str(exc))) from None
    if not rows:
        raise Refused(_("the file is empty"))
    head = [h.strip().lower() for h in rows[0]]
    unknown = [h for h in head if h not in IMPORT_COLUMNS]
    if unknown or "gtin" not in head or "name_vi" not in head:
        raise Refused(_("the first line must name the columns gtin, name_vi (and optionally name_en, category); "
                        "found: %(found)s", found=", ".join(head)))
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if len(body) > MAX_IMPORT_ROWS:
        raise Refused(_("at most %(n)s products per file", n=MAX_IMPORT_ROWS))
    problems: list[str] = []
    seen: dict[str, int] = {}
    records = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(head):
            problems.append(_("line %(line)s: %(n)s fields, expected %(want)s", line=line, n=len(row), want=len(head)))
            continue
        record = dict(zip(head, (c.strip() for c in row)))
        try:
            gtin = check_gtin(s, record["gtin"], scope=scope)
            if gtin in seen:
                raise Refused(_("GTIN %(gtin)s is also on line %(other)s", gtin=gtin, other=seen[gtin]))
            seen[gtin] = line
            _text(record, "name_vi", 200, True, "name_vi")
        except Refused as exc:
            problems.append(_("line %(line)s: %(why)s", line=line, why=str(exc)))
            continue
        records.append(record)
    if problems:
        raise Refused("; ".join(problems[:20]) + (" …" if len(problems) > 20 else ""))
    return [save_product(s, r, cooperative_id, scope=scope) for r in records]


def _diary_fields(data: dict[str, Any]) -> dict[str, Any]:
    stage = str(data.get("stage") or "")
    if stage not in STAGES:
        raise Refused(_("stage must be one of %(choices)s", choices=", ".join(STAGES)))
    day = _date(data, "day")
    if day is None:
        raise Refused(_("day is required"))
    return {"stage": stage, "day": day, "note": _text(data, "note", 2000), "who": _text(data, "who", 200),
            "place": _text(data, "place", 200)}


def _snapshot(e: DiaryEntry) -> dict[str, Any]:
    return {"stage": e.stage, "day": e.day.isoformat(), "note": e.note, "who": e.who, "place": e.place}


def add_diary(s: Session, batch: Batch, data: dict[str, Any]) -> DiaryEntry:
    entry = DiaryEntry(batch_id=batch.id, recorded_by="person", **_diary_fields(data))
    s.add(entry)
    s.flush()
    return entry


def edit_diary(s: Session, entry: DiaryEntry, data: dict[str, Any], by: str) -> DiaryEntry:
    fields = _diary_fields(data)
    s.add(DiaryRevision(entry_id=entry.id, batch_id=entry.batch_id, replaced_by=by, change="edit",
                        old=_snapshot(entry)))
    for k, v in fields.items():
        setattr(entry, k, v)
    s.flush()
    return entry


def delete_diary(s: Session, entry: DiaryEntry, by: str) -> None:
    s.add(DiaryRevision(entry_id=entry.id, batch_id=entry.batch_id, replaced_by=by, change="delete",
                        old=_snapshot(entry)))
    s.delete(entry)
    s.flush()


# -- stamps -------------------------------------------------------------------------------------

def _number(serial: str) -> int:
    return codes.Serial.parse(serial).number


def issue_block(s: Session, keyring: Keyring, product: Product, count: int, by: str) -> StampBlock:
    if not 1 <= count <= MAX_BLOCK:
        raise Refused(_("a block has 1 to %(n)s stamps", n=MAX_BLOCK))
    serials = mint(s, keyring, product.gtin, count)
    block = StampBlock(cooperative_id=product.cooperative_id, product_id=product.id, first_serial=serials[0],
                       last_serial=serials[-1], first_number=_number(serials[0]), count=count, issued_by=by)
    s.add(block)
    s.flush()
    return block


def overlapping_block(s: Session, first: int, last: int) -> StampBlock | None:
    return s.scalars(select(StampBlock).where(StampBlock.first_number <= last,
                                              StampBlock.first_number + StampBlock.count - 1 >= first)).first()


def register_roll(s: Session, keyring: Keyring, cooperative_id: int, first_serial: str, last_serial: str,
                  by: str) -> StampBlock:
    """A pre-printed roll: its stamps carry no GTIN until activation binds them to a batch."""
    try:
        first, last = codes.Serial.parse(first_serial), codes.Serial.parse(last_serial)
    except codes.CodeError as exc:
        raise Refused(_("not a stamp code: %(why)s", why=str(exc))) from None
    for serial in (first, last):
        if not keyring.verify(serial.text):
            raise Refused(_("%(serial)s is not a roll stamp minted by this hub", serial=serial.text))
    if first.key_id != last.key_id or last.number < first.number:
        raise Refused(_("the last serial must come after the first, with the same key"))
    count = last.number - first.number + 1
    if count > MAX_BLOCK:
        raise Refused(_("a roll has at most %(n)s stamps", n=MAX_BLOCK))
    clash = overlapping_block(s, first.number, last.number)
    if clash is not None:
        raise Refused(_("serials %(first)s…%(last)s overlap block #%(id)s (%(bfirst)s…%(blast)s)", first=first.text,
                        last=last.text, id=clash.id, bfirst=clash.first_serial, blast=clash.last_serial))
    existing = set(s.scalars(select(Stamp.serial).where(*_serial_range(first.key_id, first.number, last.number))))
    rows = [{"serial": keyring.mint(n), "gtin": None, "state": "issued", "checks": 0}
            for n in range(first.number, last.number + 1)]
    fresh = [r for r in rows if r["serial"] not in existing]
    if fresh:
        s.execute(Stamp.__table__.insert(), fresh)
    from hub.models import Counter
    row = s.execute(select(Counter).where(Counter.name == "stamp").with_for_update()).scalar_one_or_none()
    if row is None:
        s.add(Counter(name="stamp", value=last.number))
    elif row.value < last.number:
        row.value = last.number  # minting must never reach into a registered roll
    block = StampBlock(cooperative_id=cooperative_id, product_id=None, first_serial=first.text,
                       last_serial=last.text, first_number=first.number, count=count, issued_by=by)
    s.add(block)
    s.flush()
    return block


def _serial_range(key_id: str, first: int, last: int) -> tuple[Any, Any]:
    # Crockford Base32 sorts like ASCII, so a number range is a serial range.
    lo = key_id + codes.encode(first, codes.NUMBER_CHARS) + "0" * codes.TAG_CHARS
    hi = key_id + codes.encode(last, codes.NUMBER_CHARS) + "Z" * codes.TAG_CHARS
    return Stamp.serial >= lo, Stamp.serial <= hi


def block_serials(s: Session, block: StampBlock) -> list[str]:
    key = block.first_serial[0]
    return list(s.scalars(select(Stamp.serial).where(
        *_serial_range(key, block.first_number, block.first_number + block.count - 1)).order_by(Stamp.serial)))


def allocate(s: Session, block: StampBlock, station: Station) -> list[str]:
    """Give a block to a print station; returns the serials to send it."""
    if station.kind != "print":
        raise Refused(_("station %(id)s is a %(kind)s station; only print stations take codes", id=station.id,
                        kind=station.kind))
    if station.cooperative_id is not None and station.cooperative_id != block.cooperative_id:
        raise Refused(_("station %(id)s belongs to another cooperative", id=station.id))
    if block.station_id is not None:
        raise Refused(_("block #%(id)s is already allocated to station %(station)s", id=block.id,
                        station=block.station_id))
    serials = block_serials(s, block)
    states = dict(s.execute(select(Stamp.serial, Stamp.state).where(Stamp.serial.in_(serials))).all())
    unused = [x for x in serials if states.get(x) == "issued"]
    if not unused:
        raise Refused(_("block #%(id)s has no unused stamps left", id=block.id))
    block.station_id = station.id
    s.execute(update(Stamp).where(Stamp.serial.in_(unused)).values(station_id=station.id))
    s.flush()
    return unused


def void_range(s: Session, first_serial: str, last_serial: str, reason: str, by: str, note: str = "",
               cooperative_id: int | None = None) -> int:
    """Void every stamp from first to last (stamp numbers, one key); returns how many changed."""
    if reason not in VOID_REASONS:
        raise Refused(_("reason must be one of %(choices)s", choices=", ".join(VOID_REASONS)))
    try:
        first, last = codes.Serial.parse(first_serial), codes.Serial.parse(last_serial or first_serial)
    except codes.CodeError as exc:
        raise Refused(_("not a stamp code: %(why)s", why=str(exc))) from None
    if first.key_id != last.key_id or last.number < first.number:
        raise Refused(_("the last serial must come after the first, with the same key"))
    if last.number - first.number >= MAX_BLOCK:
        raise Refused(_("void at most %(n)s stamps at once", n=MAX_BLOCK))
    q = select(Stamp).where(*_serial_range(first.key_id, first.number, last.number)).order_by(Stamp.serial)
    stamps = list(s.scalars(q.with_for_update()))
    if not stamps:
        raise Refused(_("no stamps of this hub in that range"))
    if cooperative_id is not None:
        owned = {b.first_number: b for b in s.scalars(select(StampBlock).where(
            StampBlock.cooperative_id == cooperative_id))}
        gtins = set(s.scalars(select(Product.gtin).where(Product.cooperative_id == cooperative_id)))
        for st in stamps:
            n = _number(st.serial)
            if st.gtin not in gtins and not any(b.first_number <= n < b.first_number + b.count
                                                for b in owned.values()):
                raise Refused(_("stamp %(serial)s belongs to another cooperative", serial=st.serial))
    now = utcnow()
    changed = 0
    for st in stamps:
        result = lifecycle.apply(lifecycle.State(st.state), "voided")
        if not result.ok or not result.changed:
            continue
        st.state, st.void_reason = result.state.value, reason
        s.add(Event(id=str(uuid.uuid4()), station_id=f"@{by}"[:32], seq=0, type="voided",
                    serial=st.serial, at=now, received_at=now, applied=True,
                    body={"type": "voided", "serial": st.serial, "reason": reason, "note": note[:200] or None,
                          "by": by, "gtin": st.gtin}))
        changed += 1
    s.flush()
    return changed


def record_inspection(s: Session, serial: str, result: str, note: str, by: str) -> tuple[Stamp, Event]:
    """An inspector's finding on one stamp, kept as an `inspected` event (state unchanged);
    a non-conformant finding also raises an alert."""
    from hub.models import Alert
    if result not in ("conformant", "non_conformant"):
        raise Refused(_("result must be conformant or non_conformant"))
    try:
        serial = codes.normalize(serial)
    except codes.CodeError as exc:
        raise Refused(_("not a stamp code: %(why)s", why=str(exc))) from None
    stamp = s.scalars(select(Stamp).where(Stamp.serial == serial)).first()
    if stamp is None:
        raise Refused(_("%(serial)s is not a stamp of this hub", serial=serial))
    lifecycle.apply(lifecycle.State(stamp.state), "inspected")  # never changes the state
    now = utcnow()
    event = Event(id=str(uuid.uuid4()), station_id=f"@{by}"[:32], seq=0, type="inspected", serial=serial, at=now,
                  received_at=now, applied=True,
                  body={"type": "inspected", "serial": serial, "result": result, "note": note[:200] or None,
                        "by": by, "gtin": stamp.gtin})
    s.add(event)
    if result == "non_conformant":
        s.add(Alert(kind="inspection_failed", station_id=stamp.station_id, serial=serial,
                    message=f"inspection by {by}: non-conformant. {note[:200]}".strip()))
    s.flush()
    return stamp, event


def stamp_counts(s: Session, cooperative_id: int | None = None) -> dict[str, int]:
    q = select(Stamp.state, func.count()).group_by(Stamp.state)
    if cooperative_id is not None:
        q = q.join(Product, Product.gtin == Stamp.gtin).where(Product.cooperative_id == cooperative_id)
    counts = {state.value: 0 for state in lifecycle.State}
    counts.update({state: n for state, n in s.execute(q).all()})
    return counts


# -- station config -----------------------------------------------------------------------------

def parse_config_text(text: str, fmt: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Refused(_("not valid %(fmt)s: %(why)s", fmt=fmt.upper(), why=str(exc))) from None
    if not isinstance(data, dict):
        raise Refused(_("the config must be an object of sections"))
    return data


def check_config(station: Station, config: dict[str, Any]) -> None:
    """Validate pushed sections the way the station will (station.config is pure pydantic)."""
    from station import config as station_config
    local = sorted(k for k in config if k in LOCAL_ONLY)
    if local:
        raise Refused(_("%(keys)s can only be set in the station's own file", keys=", ".join(local)))
    base: dict[str, Any] = {"station_id": station.id, "kind": station.kind}
    if station.kind == "print" and "printer" not in config:
        base["printer"] = {"driver": "file"}  # the station keeps its own printer section
    try:
        station_config.from_dict({**base, **config}, "pushed config")
    except station_config.ConfigError as exc:
        raise Refused(_("the station would refuse this config: %(why)s", why=str(exc))) from None


def next_config_version(s: Session, station: Station) -> int:
    pushed = s.scalar(select(func.max(StationConfigPush.version)).where(
        StationConfigPush.station_id == station.id)) or 0
    return max(pushed, station.config_version or 0) + 1


# -- device liveness ----------------------------------------------------------------------------

def liveness(station: Station, interval_s: float, now: dt.datetime | None = None) -> tuple[str, str]:
    """("online" | "offline" | "silent", reason). Silent: connected, but no telemetry for 3 intervals."""
    now = now or utcnow()
    if not station.online:
        return "offline", "offline" if station.last_seen else "never connected"
    if station.last_seen is None:
        return "silent", "no telemetry yet"
    quiet = (now - aware(station.last_seen)).total_seconds()
    if quiet > 3 * interval_s:
        return "silent", f"no telemetry for {int(quiet)} s"
    return "online", ""
