"""Wire messages (tem/messages.py): schemas, schema version, size limit and the
readable reasons that end up in the hub's quarantine."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tem import gs1, lifecycle, messages
from tem.codes import ALPHABET, grouped
from tem.messages import (MAX_ACK_IDS, MAX_BYTES, SCHEMA_VERSION, STAMP_EVENTS, Ack, ActivatedEvent, AlertEvent,
                          CheckedEvent, Command, CommandResultEvent, ConfigMessage, InspectedEvent, MessageError,
                          PrintedEvent, SoldEvent, StateMessage, Telemetry, VoidedEvent, parse, parse_event)

FAST = settings(max_examples=100, deadline=None)
AT = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.timezone.utc)
SERIAL = "A1B2C3D4E5F6G7H8"
GTIN = "08934567890120"


def _event(**overrides):
    data = {"v": 1, "id": str(uuid.UUID(int=1)), "seq": 1, "station": "kynhu-line-1",
            "at": "2026-11-23T08:30:00+07:00", "serial": SERIAL, "type": "printed"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def _err(payload) -> str:
    with pytest.raises(MessageError) as info:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        parse_event(payload)
    return str(info.value)


# --- round trips ----------------------------------------------------------

COMMON = dict(id=uuid.UUID(int=7), seq=3, station="st-1", at=AT)
EXAMPLES = [
    PrintedEvent(**COMMON, serial=SERIAL, gtin=GTIN, lot="L1", template="62x29", reprint=True),
    ActivatedEvent(**COMMON, serial=SERIAL, gtin=GTIN, lot="L1"),
    CheckedEvent(**COMMON, serial=SERIAL, place="Chợ Vị Thanh", verdict="genuine"),
    SoldEvent(**COMMON, serial=SERIAL),
    VoidedEvent(**COMMON, serial=SERIAL, reason="misprint", note="kẹt giấy"),
    InspectedEvent(**COMMON, serial=SERIAL, result="non_conformant"),
    AlertEvent(**COMMON, code="paper_out", message="Hết giấy"),
    CommandResultEvent(**COMMON, command=uuid.UUID(int=9), ok=True, message="done"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_every_event_type_round_trips_through_json(event):
    wire = event.dump()
    back = parse_event(wire)
    assert type(back) is type(event) and back == event
    assert json.loads(wire)["v"] == SCHEMA_VERSION


def test_the_six_stamp_events_are_the_ones_the_lifecycle_knows():
    assert set(STAMP_EVENTS) == {"printed", "activated", "checked", "sold", "voided", "inspected"}
    for name in STAMP_EVENTS:
        lifecycle.apply(lifecycle.State.ISSUED, name, event_batch="L1")  # no "unknown event" error


def test_dump_leaves_out_unset_optional_fields():
    data = json.loads(SoldEvent(**COMMON, serial=SERIAL).dump())
    assert "gtin" not in data and data["type"] == "sold" and data["clock_synced"] is True


@pytest.mark.parametrize("model, message", [
    (StateMessage, StateMessage(state="offline", software="tem-station 0.1")),
    (Telemetry, Telemetry(at=AT, config_version=3, outbox=5, queue=1, printer="ready", paper="low",
                          codes_left=120, cpu_temp=51.5, decode_rate=12.5, uptime_s=3600)),
    (Command, Command(name="set_batch", args={"lot": "L2"})),
    (ConfigMessage, ConfigMessage(version=4, config={"printer": {"dpi": 300}})),
    (Ack, Ack(ids=[uuid.UUID(int=i) for i in range(5)])),
])
def test_other_messages_round_trip(model, message):
    assert parse(model, message.dump()) == message
    assert parse(model, message.dump().decode()) == message


def test_commands_get_a_fresh_id():
    assert Command(name="pause").id != Command(name="pause").id


def test_messages_are_frozen():
    with pytest.raises(ValidationError):
        EXAMPLES[0].seq = 9  # type: ignore[misc]


stations = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda b: b + str(gs1.check_digit(b)))
aware = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=7))]))


@FAST
@given(st.uuids(), st.integers(1, 2**53), stations, aware, st.text(ALPHABET, min_size=16, max_size=16),
       st.none() | gtins, st.sampled_from(["printed", "checked", "sold"]), st.booleans())
def test_random_stamp_events_round_trip(id_, seq, station, at, serial, gtin, kind, synced):
    data = {"v": 1, "id": str(id_), "seq": seq, "station": station, "at": at.isoformat(),
            "serial": grouped(serial).lower(), "type": kind, "clock_synced": synced}
    if gtin:
        data["gtin"] = gtin.lstrip("0") if len(gtin.lstrip("0")) == 13 else gtin
    event = parse_event(json.dumps(data))
    assert event.serial == serial  # normalised on the way in
    assert event.gtin == (gtin and gs1.normalize_gtin(gtin))
    assert event.at == at and event.station == station and event.seq == seq
    assert parse_event(event.dump()) == event


# --- schema version -------------------------------------------------------

@pytest.mark.parametrize("v", [..., None, 0, 2, "1", True, 1.0, [1]])
def test_other_schema_versions_are_refused(v):
    assert "schema version" in _err(_event(v=v))


def test_schema_version_is_checked_for_every_message_kind():
    with pytest.raises(MessageError, match="schema version 2 is not supported"):
        parse(StateMessage, json.dumps({"v": 2, "state": "online"}))


# --- size limit -----------------------------------------------------------

def test_payload_at_the_limit_is_accepted_one_byte_more_is_refused():
    body = json.dumps(_event())
    exact = body[:-1] + " " * (MAX_BYTES - len(body.encode())) + "}"
    assert len(exact.encode()) == MAX_BYTES
    assert parse_event(exact).serial == SERIAL
    over = exact[:-1] + " }"
    assert "limit is 65536" in _err(over)


def test_oversized_payload_is_refused_before_it_is_parsed():
    # not even JSON: the size is what is reported
    assert _err(b"x" * (MAX_BYTES + 1)) == f"message is {MAX_BYTES + 1} bytes, the limit is {MAX_BYTES}"


def test_size_limit_counts_bytes_not_characters():
    note = "ă" * 20000  # 2 bytes each in UTF-8
    body = json.dumps(_event(type="voided", reason="other", note=None), ensure_ascii=False)
    big = body[:-1] + ", \"pad\": \"" + note * 2 + "\"}"
    assert len(big) < MAX_BYTES < len(big.encode())
    assert "limit" in _err(big)


# --- readable errors ------------------------------------------------------

@pytest.mark.parametrize("payload, words", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"", "not valid JSON"),
    (b"[1, 2]", "a message must be a JSON object"),
    (b'"printed"', "a message must be a JSON object"),
])
def test_malformed_payloads_are_explained(payload, words):
    assert words in _err(payload)


@pytest.mark.parametrize("overrides, words", [
    (dict(serial="ABC"), "serial: a stamp code has 16 characters, this one has 3"),
    (dict(serial="A1B2C3D4E5F6G7HU"), "serial: a stamp code cannot contain 'U'"),
    (dict(serial=...), "serial: Field required"),
    (dict(gtin="08934567890121"), "gtin: GTIN '08934567890121' has check digit 1, it should be 0"),
    (dict(type="bogus"), "'bogus'"),
    (dict(type=...), "discriminator 'type'"),
    (dict(extra_field=1), "extra_field: Extra inputs are not permitted"),
    (dict(at="2026-11-23T08:30:00"), "at: Input should have timezone info"),
    (dict(seq=0), "seq: Input should be greater than or equal to 1"),
    (dict(station="Kynhu Line"), "station: String should match pattern"),
    (dict(station="a" * 33), "station"),
    (dict(id="not-a-uuid"), "id: Input should be a valid UUID"),
    (dict(type="voided"), "reason: Field required"),
    (dict(type="voided", reason="lost"), "reason: Input should be 'misprint'"),
    (dict(type="activated"), "lot: Field required"),
    (dict(type="activated", lot="L" * 21), "lot: String should have at most 20 characters"),
    (dict(type="inspected", result="ok"), "result: Input should be 'conformant' or 'non_conformant'"),
])
def test_invalid_events_name_the_field_and_the_problem(overrides, words):
    assert words in _err(_event(**overrides))


def test_several_problems_are_all_reported():
    reason = _err(_event(seq=0, serial="X"))
    assert "seq" in reason and "serial" in reason and "; " in reason


@pytest.mark.parametrize("model, data, words", [
    (StateMessage, {"state": "asleep"}, "state: Input should be 'online' or 'offline'"),
    (Telemetry, {"at": "2026-01-01T00:00:00Z", "outbox": -1}, "outbox: Input should be greater than or equal to 0"),
    (Telemetry, {"outbox": 1}, "at: Field required"),
    (Telemetry, {"at": "2026-01-01T00:00:00Z", "paper": "half"}, "paper"),
    (Command, {"name": "selfdestruct"}, "name: Input should be"),
    (ConfigMessage, {"version": 0, "config": {}}, "version: Input should be greater than or equal to 1"),
    (Ack, {"ids": [str(uuid.UUID(int=1))] * (MAX_ACK_IDS + 1)}, f"ids: List should have at most {MAX_ACK_IDS} items"),
])
def test_other_messages_explain_what_is_wrong(model, data, words):
    with pytest.raises(MessageError) as info:
        parse(model, json.dumps({"v": 1, **data}))
    assert words in str(info.value)


def test_the_largest_ack_the_hub_may_send_fits_the_size_limit():
    """The hub splits acks at MAX_ACK_IDS; each part must still be accepted by a station."""
    ack = Ack(ids=[uuid.uuid4() for _ in range(MAX_ACK_IDS)])
    assert len(ack.dump()) <= MAX_BYTES
    assert len(parse(Ack, ack.dump()).ids) == MAX_ACK_IDS
    spaced = json.dumps({"v": 1, "ids": [str(i) for i in ack.ids]})  # json.dumps' default separators
    assert len(parse(Ack, spaced).ids) == MAX_ACK_IDS


def test_message_error_is_a_value_error():
    assert issubclass(MessageError, ValueError)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.dictionaries(st.sampled_from(["v", "id", "seq", "station", "at", "serial", "type", "gtin"]),
                                 st.one_of(st.none(), st.integers(), st.text(max_size=20), st.booleans()))
                 .map(json.dumps)))
def test_any_payload_parses_or_raises_message_error(payload):
    try:
        parse_event(payload)
    except MessageError as exc:
        assert str(exc)


def test_event_from_dict_validates_like_parse_event():
    ev = messages.event_from_dict(_event(type="sold"))
    assert isinstance(ev, SoldEvent)
    with pytest.raises(ValidationError):
        messages.event_from_dict(_event(type="sold", serial="short"))
