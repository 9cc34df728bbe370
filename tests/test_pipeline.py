"""Station → Mosquitto → ingestor → database, on the real parts, SQLite and PostgreSQL."""
from __future__ import annotations

import json
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from hub.models import Alert, Event, Quarantine, Stamp, Station as StationRow
from station.link import Link
from station.outbox import Outbox
from station.runtime import Station
from tem import messages, topics
from tests.conftest import GTIN, LOT, World, wait_until


def _count(world: World, model, *where) -> int:  # type: ignore[no-untyped-def]
    with world.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _client(world: World, user: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{user}-{uuid.uuid4().hex[:4]}",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(user, world.passwords[user])
    c.connect("127.0.0.1", world.broker.port)
    c.loop_start()
    return c


def _event(station: str, serial: str, kind: str = "checked", seq: int = 1, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"v": 1, "id": str(uuid.uuid4()), "seq": seq, "station": station, "at": messages.now().isoformat(),
            "type": kind, "serial": serial, **extra}


def test_events_reach_the_database_once_and_leave_the_outbox_only_when_acked(world: World) -> None:
    world.start_ingestor()
    cfg = world.station_config("st-2")
    cfg.data_dir.mkdir(parents=True)
    outbox = Outbox(cfg.data_dir / "outbox.db", "st-2")
    link = Link(cfg, outbox)
    ids = [str(outbox.append("checked", serial=s, gtin=GTIN).id) for s in world.serials[:50]]
    link.start()
    try:
        wait_until(lambda: outbox.backlog() == 0, what="outbox drained by acks")
        with world.sessions() as s:
            stored = set(s.scalars(select(Event.id).where(Event.station_id == "st-2")))
            checks = s.scalar(select(func.sum(Stamp.checks)))
        assert stored == set(ids)
        assert checks == 50
    finally:
        link.stop()


def test_outbox_keeps_recording_while_the_hub_is_away_and_delivers_in_order_later(world: World) -> None:
    cfg = world.station_config("st-3")
    cfg.data_dir.mkdir(parents=True)
    outbox = Outbox(cfg.data_dir / "outbox.db", "st-3")
    link = Link(cfg, outbox)
    link.start()
    try:
        for serial in world.serials[:20]:
            outbox.append("checked", serial=serial)
        link.wake()
        assert link.connected.wait(10)
        # No ingestor: the broker takes the messages but nobody acknowledges them.
        with pytest.raises(AssertionError):
            wait_until(lambda: outbox.backlog() == 0, timeout=2)
        assert outbox.backlog() == 20
        world.start_ingestor()  # the hub comes back; the station resends after resend_after_s
        wait_until(lambda: outbox.backlog() == 0, timeout=30, what="resend after the hub returned")
        with world.sessions() as s:
            seqs = list(s.scalars(select(Event.seq).where(Event.station_id == "st-3").order_by(Event.seq)))
        assert seqs == list(range(1, 21))
    finally:
        link.stop()


def test_station_cannot_publish_on_another_stations_topic(world: World) -> None:
    world.start_ingestor()
    c = _client(world, "st-4")
    try:
        body = json.dumps(_event("st-5", world.serials[0])).encode()
        info = c.publish(topics.topic("st-5", "evt"), body, qos=1)
        info.wait_for_publish(5)
        # MQTT v5: the broker answers "not authorized" (0x87) instead of a silent success.
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
        reasons = []
        c.on_publish = lambda _c, _u, _mid, reason, _p: reasons.append(reason)
        info = c.publish(topics.topic("st-5", "evt"), body, qos=1)
        wait_until(lambda: reasons, what="PUBACK")
        assert reasons[0].value == 0x87
    finally:
        c.loop_stop()
        c.disconnect()
    assert _count(world, Event) == 0
    assert _count(world, Quarantine) == 0


@pytest.mark.parametrize("payload, reason", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"v": 2, "type": "checked"}).encode(), "schema version 2 is not supported"),
    (b'{"v":1,"pad":"' + b"x" * (messages.MAX_BYTES + 10) + b'"}', "the limit is"),
    (json.dumps(_event("st-2", "A000-BAD")).encode(), "stamp code has 16 characters"),
])
def test_malformed_messages_are_quarantined_with_a_reason_and_ingest_goes_on(
        world: World, payload: bytes, reason: str) -> None:
    world.start_ingestor()
    c = _client(world, "st-2")
    try:
        c.publish(topics.topic("st-2", "evt"), payload, qos=1).wait_for_publish(5)
        good = _event("st-2", world.serials[1], seq=2)
        c.publish(topics.topic("st-2", "evt"), json.dumps(good).encode(), qos=1).wait_for_publish(5)
        wait_until(lambda: _count(world, Event, Event.id == good["id"]), what="the next good event")
    finally:
        c.loop_stop()
        c.disconnect()
    with world.sessions() as s:
        reasons = list(s.scalars(select(Quarantine.reason)))
    assert len(reasons) == 1 and reason in reasons[0], reasons


def test_unknown_station_forged_serial_and_impersonation_are_quarantined(world: World) -> None:
    world.start_ingestor()
    ghost, st2 = _client(world, "ghost"), _client(world, "st-2")
    forged = world.keyring.mint(999_999, GTIN)[:-1] + "0"  # right shape, wrong tag, never issued
    try:
        ghost.publish(topics.topic("ghost", "evt"), json.dumps(_event("ghost", world.serials[0])).encode(),
                      qos=1).wait_for_publish(5)
        st2.publish(topics.topic("st-2", "evt"), json.dumps(_event("st-2", forged)).encode(),
                    qos=1).wait_for_publish(5)
        st2.publish(topics.topic("st-2", "evt"), json.dumps(_event("st-3", world.serials[0])).encode(),
                    qos=1).wait_for_publish(5)
        wait_until(lambda: _count(world, Quarantine) >= 3, what="three quarantine rows")
    finally:
        for c in (ghost, st2):
            c.loop_stop()
            c.disconnect()
    with world.sessions() as s:
        reasons = sorted(s.scalars(select(Quarantine.reason)))
        stamp_checks = s.scalar(select(func.sum(Stamp.checks)))
        alerts = list(s.scalars(select(Alert.kind)))
    assert any("unknown station 'ghost'" in r for r in reasons)
    assert any("not a Tem stamp" in r for r in reasons)
    assert any("in the name of st-3" in r for r in reasons)
    assert stamp_checks == 0
    assert "unknown_stamp" in alerts


def test_illegal_transitions_are_stored_refused_and_raise_alerts(world: World) -> None:
    world.start_ingestor()
    c = _client(world, "st-2")
    serial = world.serials[0]
    steps = [("sold", {}), ("activated", {"lot": LOT}), ("activated", {"lot": "L2"}), ("voided", {"reason": "damaged"}),
             ("activated", {"lot": LOT})]
    try:
        for seq, (kind, extra) in enumerate(steps, 1):
            ev = _event("st-2", serial, kind, seq=seq, **extra)
            c.publish(topics.topic("st-2", "evt"), json.dumps(ev).encode(), qos=1).wait_for_publish(5)
            wait_until(lambda: _count(world, Event, Event.id == ev["id"]), what=f"{kind} stored")
    finally:
        c.loop_stop()
        c.disconnect()
    with world.sessions() as s:
        rows = [(e.type, e.applied, e.refusal) for e in s.scalars(select(Event).order_by(Event.seq))]
        stamp = s.scalars(select(Stamp).where(Stamp.serial == serial)).one()
        alerts = s.scalar(select(func.count()).select_from(Alert).where(Alert.kind == "illegal_transition"))
    assert [r[1] for r in rows] == [False, True, False, True, False]
    assert "never activated" in rows[0][2]
    assert "already active for batch L1" in rows[2][2]
    assert "void" in rows[4][2]
    assert stamp.state == "void" and stamp.void_reason == "damaged"
    assert alerts == 3


def test_print_station_gets_codes_prints_activates_and_reports_state(world: World) -> None:
    with world.sessions() as s, s.begin():
        row = s.get(StationRow, "st-1")
        row.product_id = 1
    world.start_ingestor()
    cfg = world.station_config(
        "st-1", kind="print", printer={"driver": "file"},
        product={"gtin": GTIN, "name": "Cá thát lát rút xương", "producer": "HTX Kỳ Như", "lot": LOT},
        printing={"activate_on_print": True})
    station = Station(cfg)
    import threading
    t = threading.Thread(target=station.run, daemon=True)
    t.start()
    try:
        # Telemetry reports 0 codes left; the hub mints a block and sends it as a command.
        wait_until(lambda: station.flow.codebook.remaining() > 0, what="a block of codes from the hub")
        serials = [station.flow.press() for _ in range(3)]
        assert all(serials), station.flow.last_error
        wait_until(lambda: _count(world, Stamp, Stamp.state == "active") == 3, what="3 active stamps")
        labels = sorted((cfg.data_dir / "labels").glob("*.png"))
        assert len(labels) == 3 and serials[0] in labels[0].name
        with world.sessions() as s:
            row = s.get(StationRow, "st-1")
            assert row.online and row.last_seen is not None
            assert row.telemetry["codes_left"] is not None
    finally:
        station.stop()
        t.join(10)
    wait_until(lambda: not _count(world, StationRow, StationRow.id == "st-1", StationRow.online),
               what="offline after a clean stop")


def _hub_client(world: World) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hub-test-{uuid.uuid4().hex[:4]}", protocol=mqtt.MQTTv5)
    c.username_pw_set("hub", "hub-test-password")
    c.connect("127.0.0.1", world.broker.port)
    c.loop_start()
    return c


def test_station_answers_commands_and_applies_pushed_config(world: World) -> None:
    import threading
    world.start_ingestor()
    cfg = world.station_config(
        "st-1", kind="print", printer={"driver": "file"},
        product={"gtin": GTIN, "name": "Cá thát lát rút xương", "lot": LOT})
    station = Station(cfg)
    t = threading.Thread(target=station.run, daemon=True)
    t.start()
    hub = _hub_client(world)
    try:
        assert station.link.subscribed.wait(10)
        pause = messages.Command(name="pause")
        unknown_lot = messages.Command(name="set_batch", args={})
        for cmd in (pause, unknown_lot):
            hub.publish(topics.topic("st-1", "cmd"), cmd.dump(), qos=1).wait_for_publish(5)

        def result(cmd: messages.Command) -> dict | None:
            with world.sessions() as s:
                for body in s.scalars(select(Event.body).where(Event.type == "command_result")):
                    if body["command"] == str(cmd.id):
                        return body
            return None

        assert wait_until(lambda: result(pause), what="pause answered")["ok"] is True
        assert station.flow.press() is None and "tạm dừng" in station.flow.last_error
        bad = wait_until(lambda: result(unknown_lot), what="bad command answered")
        assert bad["ok"] is False and "bad arguments" in bad["message"]

        # Retained config: a new lot is applied and the version shows up in telemetry.
        new = messages.ConfigMessage(version=3, config={"product": {"gtin": GTIN, "name": "Cá", "lot": "L2"},
                                                        "printer": {"driver": "file"}})
        hub.publish(topics.topic("st-1", "cfg"), new.dump(), qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda: station.cfg.config_version == 3, what="config 3 applied")
        assert station.cfg.product.lot == "L2"

        def reported() -> int | None:
            with world.sessions() as s:
                return s.get(StationRow, "st-1").config_version
        wait_until(lambda: reported() == 3, what="hub sees config version 3")

        # A config with a typo is refused with an alert and changes nothing.
        typo = messages.ConfigMessage(version=4, config={"printer": {"driverr": "file"}})
        hub.publish(topics.topic("st-1", "cfg"), typo.dump(), qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda: _count(world, Alert, Alert.kind == "config_rejected"), what="config alert")
        with world.sessions() as s:
            message = s.scalars(select(Alert.message).where(Alert.kind == "config_rejected")).one()
        assert "printer.driverr" in message and "unknown field" in message
        assert station.cfg.config_version == 3 and station.cfg.product.lot == "L2"
    finally:
        hub.loop_stop()
        hub.disconnect()
        station.stop()
        t.join(10)
