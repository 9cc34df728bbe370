"""The hub's tables (SQLAlchemy 2). Schema changes go through Alembic (hub/migrations)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything Tem stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Cooperative(Base):
    __tablename__ = "cooperative"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    province: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    gs1_prefix: Mapped[str | None] = mapped_column(String(12))
    # WGS84 position of the farm or shed, for the map link on public pages (0002).
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class Product(Base):
    __tablename__ = "product"
    id: Mapped[int] = mapped_column(primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperative.id"))
    cooperative: Mapped[Cooperative] = relationship()
    photo_url: Mapped[str | None] = mapped_column(String(300))  # shown on the public page (0002)


class Batch(Base):
    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("product_id", "lot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    lot: Mapped[str] = mapped_column(String(20))
    packed_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    quantity: Mapped[int | None]
    place: Mapped[str] = mapped_column(String(200), default="")
    product: Mapped[Product] = relationship()


class Station(Base):
    __tablename__ = "station"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperative.id"))
    # Mosquitto password-file hash of the station's broker secret; the secret itself is never stored.
    broker_hash: Mapped[str] = mapped_column(String(300), default="")
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))  # codes are topped up for it
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[dt.datetime | None]
    config_version: Mapped[int | None]
    telemetry: Mapped[dict[str, Any] | None]
    codes_sent_at: Mapped[dt.datetime | None]
    # Where a stall stands: "where to buy" on public pages and clone detection by distance (0002).
    province: Mapped[str] = mapped_column(String(100), default="", server_default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    software: Mapped[str | None] = mapped_column(String(60))  # what the station says it runs (0004)


class Stamp(Base):
    __tablename__ = "stamp"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(16), unique=True)
    gtin: Mapped[str | None] = mapped_column(String(14))
    state: Mapped[str] = mapped_column(String(10), default="issued")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), index=True)
    station_id: Mapped[str | None] = mapped_column(ForeignKey("station.id"))  # allocated to
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    printed_at: Mapped[dt.datetime | None]
    activated_at: Mapped[dt.datetime | None]
    sold_at: Mapped[dt.datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(40))
    checks: Mapped[int] = mapped_column(Integer, default=0)
    batch: Mapped[Batch | None] = relationship()


class Event(Base):
    """Every event a station or person recorded, applied or refused, exactly once by id."""
    __tablename__ = "event"
    __table_args__ = (Index("ix_event_serial_at", "serial", "at"), Index("ix_event_station_seq", "station_id", "seq"),
                      Index("ix_event_received_at", "received_at"))  # what changed since a sync
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(20))
    serial: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    applied: Mapped[bool] = mapped_column(Boolean, default=True)
    refusal: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[dict[str, Any]]


class Quarantine(Base):
    """Messages that could not be applied, kept with the reason; never silently dropped."""
    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    topic: Mapped[str] = mapped_column(String(200))
    station_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class Alert(Base):
    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    station_id: Mapped[str | None] = mapped_column(String(32))
    serial: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None]
    acknowledged_at: Mapped[dt.datetime | None]  # 0003
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    resolved_by: Mapped[str | None] = mapped_column(String(80))


class TelemetrySample(Base):
    __tablename__ = "telemetry"
    __table_args__ = (Index("ix_telemetry_station_at", "station_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime]
    body: Mapped[dict[str, Any]]


class Counter(Base):
    """Named counters (the next stamp number), taken under a row lock."""
    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class DiaryEntry(Base):
    """A step in a batch's production diary: planting, harvest, processing, packing, inspection, transport."""
    __tablename__ = "diary_entry"
    __table_args__ = (Index("ix_diary_batch_day", "batch_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"))
    stage: Mapped[str] = mapped_column(String(20))  # planting|harvest|processing|packing|inspection|transport|other
    day: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    who: Mapped[str] = mapped_column(String(200), default="")
    place: Mapped[str] = mapped_column(String(200), default="")
    # "device" when a station recorded it, "person" when someone typed it in: consumers are told which.
    recorded_by: Mapped[str] = mapped_column(String(10), default="person")
    station_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    """A certificate a product holds (VietGAP, OCOP stars, organic), with issuer and validity."""
    __tablename__ = "certificate"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # vietgap|ocop|organic|globalgap|other
    number: Mapped[str] = mapped_column(String(60), default="")
    issuer: Mapped[str] = mapped_column(String(200), default="")
    stars: Mapped[int | None]  # OCOP rating, 3-5
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(300))  # the issuer's record, when public


# -- operator console (0003) ----------------------------------------------------------------

ROLES = ("admin", "manager", "inspector", "station")


class User(Base):
    """A person who signs in to the operator console (or a station's machine identity, which cannot)."""
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(20))  # admin|manager|inspector|station
    cooperative_id: Mapped[int | None] = mapped_column(ForeignKey("cooperative.id"))  # managers only
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for /api/v1; only its SHA-256 is stored."""
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    user: Mapped[User] = relationship()


class AuditLog(Base):
    """Who changed what, when: every write made through the console or the API."""
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_target", "target_type", "target_id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64), default="")
    cooperative_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None]


class StationCommand(Base):
    """A command sent to a station; its answer is the command_result event whose `command` is this id."""
    __tablename__ = "station_command"
    __table_args__ = (Index("ix_command_station_at", "station_id", "sent_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(20))
    args: Mapped[dict[str, Any] | None]
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_by: Mapped[str] = mapped_column(String(80), default="")


class StationConfigPush(Base):
    """Config versions pushed (retained) to a station; the station reports the version it runs."""
    __tablename__ = "station_config_push"
    __table_args__ = (UniqueConstraint("station_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]]
    pushed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    pushed_by: Mapped[str] = mapped_column(String(80), default="")


class StampBlock(Base):
    """A block of stamps issued at once (minted here, or a pre-printed roll), and where it went."""
    __tablename__ = "stamp_block"
    id: Mapped[int] = mapped_column(primary_key=True)
    cooperative_id: Mapped[int] = mapped_column(ForeignKey("cooperative.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    first_serial: Mapped[str] = mapped_column(String(16))
    last_serial: Mapped[str] = mapped_column(String(16))
    first_number: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    station_id: Mapped[str | None] = mapped_column(String(32))  # allocated to
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(80), default="")


class HubSetting(Base):
    """A setting an admin edits in the console (the SMTP server for alert mail); never a secret (0004)."""
    __tablename__ = "hub_setting"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="")


class DiaryRevision(Base):
    """An earlier text of a diary entry, kept when someone edits or deletes it."""
    __tablename__ = "diary_revision"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(Integer, index=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    replaced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    replaced_by: Mapped[str] = mapped_column(String(80), default="")
    change: Mapped[str] = mapped_column(String(10))  # edit|delete
    old: Mapped[dict[str, Any]]


class EnrolmentCode(Base):
    """A station's pending one-time enrolment code (hub.enrol), shared by every web node: only
    the code's SHA-256 is kept, one code per station, deleted when used or replaced (0005)."""
    __tablename__ = "enrolment_code"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), unique=True)
    mqtt_host: Mapped[str] = mapped_column(String(253))
    mqtt_port: Mapped[int] = mapped_column(Integer)
    ca_pem: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80), default="")


class BatchOutlet(Base):
    """Where to buy: a station that checked or sold a stamp of the batch (the page lists the
    stalls among them). Kept by the ingestor (hub.outlets), so a page never joins a batch's
    thousands of stamps to their events (0007)."""
    __tablename__ = "batch_outlet"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), primary_key=True)
