"""MQTT topic names (tem/topics.py): tem/v1/{station}/{kind}."""
from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tem.topics import KINDS, PREFIX, STATION_ID, shared, split, topic, wildcard

stations = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)


def test_topic_names_follow_the_wire_protocol():
    assert topic("kynhu-line-1", "evt") == "tem/v1/kynhu-line-1/evt"
    assert [topic("s1", k) for k in KINDS] == [f"tem/v1/s1/{k}" for k in ("evt", "ack", "state", "tele", "cmd", "cfg", "req")]
    assert PREFIX == "tem/v1"


def test_ingestors_use_a_shared_subscription_for_all_stations():
    assert shared("evt") == "$share/ingest/tem/v1/+/evt"
    assert wildcard("tele") == "tem/v1/+/tele"


@settings(max_examples=100, deadline=None)
@given(stations, st.sampled_from(KINDS))
def test_split_inverts_topic(station, kind):
    assert split(topic(station, kind)) == (station, kind)


@pytest.mark.parametrize("station", [
    "", "Kynhu", "-lead", "a b", "a/b", "a+", "#", "a" * 33, "trạm-1", "abc\n", "st-1\n",
])
def test_bad_station_ids_are_refused(station):
    with pytest.raises(ValueError, match="station id"):
        topic(station, "evt")


def test_longest_station_id_is_32_characters():
    assert topic("a" * 32, "evt") == f"tem/v1/{'a' * 32}/evt"


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown topic kind"):
        topic("s1", "telemetry")


@pytest.mark.parametrize("name", [
    "tem/v1/s1", "tem/v1/s1/evt/x", "tem/v2/s1/evt", "foo/v1/s1/evt", "tem/v1/s1/log",
    "tem/v1/S1/evt", "tem/v1//evt", "tem/v1/+/evt", "tem/v1/s1\n/evt", "/tem/v1/s1/evt",
])
def test_split_refuses_what_is_not_a_tem_topic(name):
    with pytest.raises(ValueError):
        split(name)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
@example("abc\n")
@example("a" * 33)
def test_station_id_rule_matches_the_message_schema(text):
    """topics and the pydantic schemas use one rule: whatever one accepts the other does."""
    from pydantic import TypeAdapter, ValidationError

    from tem.messages import StationId
    try:
        TypeAdapter(StationId).validate_python(text)
        schema_ok = True
    except ValidationError:
        schema_ok = False
    try:
        topic(text, "evt")
        topic_ok = True
    except ValueError:
        topic_ok = False
    assert schema_ok == topic_ok == bool(STATION_ID.fullmatch(text))
