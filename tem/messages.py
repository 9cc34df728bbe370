"""Wire messages between stations and the hub (JSON, validated by pydantic).

Every message carries the schema version `v`; a payload larger than MAX_BYTES is
refused before it is parsed. `MessageError` says what is wrong in plain words.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tem import codes, gs1
from tem.topics import STATION_ID

SCHEMA_VERSION = 1
MAX_BYTES = 64 * 1024
MAX_ACK_IDS = 1500  # 1500 UUIDs in JSON are ~58 KB: a full ack must fit in MAX_BYTES


class MessageError(ValueError):
    """A payload that cannot be accepted; str() is the reason for the quarantine."""


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = Field(SCHEMA_VERSION, description="schema version")

    def dump(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


StationId = Annotated[str, Field(pattern=STATION_ID.pattern, description="station id")]


class _Event(Message):
    id: uuid.UUID = Field(description="unique event id; the hub inserts each id once")
    seq: int = Field(ge=1, description="per-station sequence number, gap-free order of recording")
    station: StationId
    at: AwareDatetime = Field(description="when it happened, by the station's clock")
    clock_synced: bool = Field(True, description="false when the station had no synchronised clock")


def _serial(value: str) -> str:
    try:
        return codes.normalize(value)
    except codes.CodeError as exc:
        raise ValueError(str(exc)) from None


def _gtin(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return gs1.normalize_gtin(value)
    except gs1.GS1Error as exc:
        raise ValueError(str(exc)) from None


Serial = Annotated[str, AfterValidator(_serial), Field(description="16-character stamp serial")]
Gtin = Annotated[str | None, AfterValidator(_gtin), Field(description="GTIN-14 the stamp carries, when known")]


class _StampEvent(_Event):
    serial: Serial
    gtin: Gtin = None


class PrintedEvent(_StampEvent):
    type: Literal["printed"] = "printed"
    lot: str | None = Field(None, max_length=20, description="batch/lot printed on the label")
    template: str | None = Field(None, max_length=40)
    reprint: bool = False


class ActivatedEvent(_StampEvent):
    type: Literal["activated"] = "activated"
    lot: str = Field(min_length=1, max_length=20, description="the batch the stamp is bound to")


class CheckedEvent(_StampEvent):
    type: Literal["checked"] = "checked"
    place: str | None = Field(None, max_length=80, description="coarse place of the check")
    verdict: str | None = Field(None, max_length=40, description="what the station showed")


class SoldEvent(_StampEvent):
    type: Literal["sold"] = "sold"


class VoidedEvent(_StampEvent):
    type: Literal["voided"] = "voided"
    reason: Literal["misprint", "damaged", "recalled", "stolen", "other"]
    note: str | None = Field(None, max_length=200)


class InspectedEvent(_StampEvent):
    type: Literal["inspected"] = "inspected"
    result: Literal["conformant", "non_conformant"]
    note: str | None = Field(None, max_length=200)


class AlertEvent(_Event):
    type: Literal["alert"] = "alert"
    code: str = Field(max_length=40, description="machine-readable kind, e.g. paper_out")
    message: str = Field(max_length=300)
    serial: str | None = None


class CommandResultEvent(_Event):
    type: Literal["command_result"] = "command_result"
    command: uuid.UUID
    ok: bool
    message: str = Field("", max_length=300)


Event = Annotated[
    Union[PrintedEvent, ActivatedEvent, CheckedEvent, SoldEvent, VoidedEvent, InspectedEvent,
          AlertEvent, CommandResultEvent],
    Field(discriminator="type"),
]
STAMP_EVENTS = ("printed", "activated", "checked", "sold", "voided", "inspected")


class StateMessage(Message):
    state: Literal["online", "offline"]
    software: str | None = None


class Telemetry(Message):
    at: AwareDatetime
    config_version: int | None = None
    outbox: int = Field(0, ge=0, description="events waiting for the hub's ack")
    queue: int = Field(0, ge=0, description="print or scan jobs waiting")
    printer: str | None = Field(None, max_length=40, description="printer state word, e.g. ready, no_paper")
    paper: Literal["ok", "low", "out", "unknown"] | None = None
    codes_left: int | None = Field(None, ge=0, description="pre-minted codes not yet printed")
    cpu_temp: float | None = None
    decode_rate: float | None = Field(None, description="frames decoded per second")
    uptime_s: float | None = None


class Command(Message):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    name: Literal["reprint", "void", "pause", "resume", "test_print", "reload", "set_batch", "add_codes",
                  "sync_stamps"]
    args: dict[str, Any] = Field(default_factory=dict)


class VerifyRequest(Message):
    """A scan station asks the hub about a stamp its cache does not know (or knows only as
    not yet active), on tem/v1/{station}/req. The hub answers with a `sync_stamps` command
    in the "changes" form whose `answer` is this id."""
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    serial: Serial
    gtin: Gtin = None


class ConfigMessage(Message):
    version: int = Field(ge=1)
    config: dict[str, Any]


class Ack(Message):
    ids: list[uuid.UUID] = Field(max_length=MAX_ACK_IDS)


M = TypeVar("M", bound=BaseModel)
_event_adapter: TypeAdapter[Any] = TypeAdapter(Event)


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int) or len(err["loc"]) == 1)
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc or 'message'}: {msg}" if loc else msg)
    return "; ".join(parts)


def _load(payload: bytes | str) -> Any:
    raw = payload.encode() if isinstance(payload, str) else payload
    if len(raw) > MAX_BYTES:
        raise MessageError(f"message is {len(raw)} bytes, the limit is {MAX_BYTES}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError("a message must be a JSON object")
    version = data.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise MessageError(f"schema version {version!r} is not supported (expected {SCHEMA_VERSION})")
    return data


def parse(model: type[M], payload: bytes | str) -> M:
    data = _load(payload)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MessageError(_explain(exc)) from None


def parse_event(payload: bytes | str) -> Any:
    """One of the Event models, chosen by its `type`."""
    data = _load(payload)
    try:
        return _event_adapter.validate_python(data)
    except ValidationError as exc:
        raise MessageError(_explain(exc)) from None


def event_from_dict(data: dict[str, Any]) -> Any:
    return _event_adapter.validate_python(data)
