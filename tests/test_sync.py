"""The hub's stamp sync for scan stations: chunks under the message limit that together
hold the area's stamps, scoped by the station's province, sent by `tem sync-stations`."""
from __future__ import annotations

import paho.mqtt.client as mqtt
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from hub.cli import main as tem_cli
from hub.models import Cooperative, Product, Station
from hub.stamps import mint
from hub.sync import build_chunks
from tem import messages, topics
from tests.conftest import GTIN, HUB_PASSWORD, World, wait_until


def test_chunks_stay_under_the_limit_and_together_hold_every_stamp_of_the_area(world: World) -> None:
    with world.sessions() as s:
        chunks = build_chunks(s, "st-2", limit=4096)
    assert len(chunks) > 3
    assert all(len(c.dump()) <= 4096 for c in chunks)
    assert {c.args["sync"] for c in chunks} == {chunks[0].args["sync"]}
    assert [c.args["part"] for c in chunks] == list(range(len(chunks)))
    assert all(c.args["parts"] == len(chunks) for c in chunks)
    sent = [row[0] for c in chunks for row in c.args["stamps"]]
    assert sorted(sent) == sorted(world.serials)
    assert chunks[0].args["products"][GTIN] == {"name": "Cá thát lát rút xương", "producer": "HTX Kỳ Như"}
    # each chunk is a command a station accepts off the wire
    assert messages.parse(messages.Command, chunks[-1].dump()).name == "sync_stamps"


def test_a_station_with_a_province_gets_only_that_provinces_products(world: World) -> None:
    with world.sessions() as s, s.begin():
        coop = Cooperative(name="HTX Chè Hà Giang", province="Hà Giang")
        s.add(coop)
        s.flush()
        s.add(Product(gtin="08934567890137", name_vi="Chè Shan tuyết", cooperative_id=coop.id))
        other = mint(s, world.keyring, "08934567890137", 5)
        s.get(Station, "st-3").province = "Hà Giang"
    with world.sessions() as s:
        area = [r[0] for c in build_chunks(s, "st-3") for r in c.args["stamps"]]
        everything = [r[0] for c in build_chunks(s, "st-2") for r in c.args["stamps"]]
    assert sorted(area) == sorted(other)
    assert len(everything) == len(world.serials) + 5


def test_tem_sync_stations_publishes_the_chunks_to_each_scan_station(world: World, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    got: list[messages.Command] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watch-st-4", protocol=mqtt.MQTTv5)
    c.username_pw_set("st-4", world.passwords["st-4"])
    c.on_message = lambda _c, _u, msg: got.append(messages.parse(messages.Command, msg.payload))
    c.connect("127.0.0.1", world.broker.port)
    c.subscribe(topics.topic("st-4", "cmd"), qos=1)
    c.loop_start()
    try:
        monkeypatch.setenv("TEM_INSTANCE", str(tmp_path / "inst"))
        monkeypatch.setenv("DATABASE_URL", world.url)
        monkeypatch.setenv("TEM_BROKER_PORT", str(world.broker.port))
        monkeypatch.setenv("TEM_HUB_MQTT_PASSWORD", HUB_PASSWORD)
        monkeypatch.delenv("MQTT_URL", raising=False)
        result = CliRunner().invoke(tem_cli, ["sync-stations", "st-4"])
        assert result.exit_code == 0, result.output
        assert "st-4: 200 stamps sent" in result.output
        wait_until(lambda: got, what="the sync command")
    finally:
        c.loop_stop()
        c.disconnect()
    assert got[0].name == "sync_stamps" and len(got[0].args["stamps"]) == 200
    bad = CliRunner().invoke(tem_cli, ["sync-stations", "no-such"])
    assert bad.exit_code != 0 and "no station" in bad.output


def test_changes_carry_the_area_stamps_changed_since_a_time_in_a_form_older_stations_refuse(world: World) -> None:
    import datetime as dt

    from hub.ops.registry import void_range
    from hub.sync import build_changes, changes_since
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with world.sessions() as s, s.begin():
        coop = Cooperative(name="HTX Chè Hà Giang", province="Hà Giang")
        s.add(coop)
        s.flush()
        s.add(Product(gtin="08934567890137", name_vi="Chè Shan tuyết", cooperative_id=coop.id))
        tea = mint(s, world.keyring, "08934567890137", 1)[0]
        s.get(Station, "st-3").province = "Hà Giang"
        void_range(s, world.serials[5], world.serials[5], "recalled", "test")
        void_range(s, tea, tea, "damaged", "test")
    now = dt.datetime.now(dt.UTC)
    with world.sessions() as s:
        found = changes_since(s, before)
        everywhere = build_changes(s, "st-2", found, before, now)
        tea_only = build_changes(s, "st-3", found, before, now)
        nothing_new = build_changes(s, "st-2", found, now, now)
    assert sorted(c.row[0] for c in found) == sorted([world.serials[5], tea])
    assert sorted(tuple(r) for c in everywhere for r in c.args["stamps"]) == sorted([
        (world.serials[5], "void", GTIN, None, "recalled"), (tea, "void", "08934567890137", None, "damaged")])
    assert [r[0] for c in tea_only for r in c.args["stamps"]] == [tea]
    assert tea_only[0].args["products"] == {"08934567890137": {"name": "Chè Shan tuyết", "producer": "HTX Chè Hà Giang"}}
    assert len(nothing_new) == 1 and nothing_new[0].args["stamps"] == []  # still sent: "current as of now"
    for cmd in everywhere + tea_only:
        # a station from before the changes form finds no part/parts and refuses it: it never
        # takes a change set for a whole sync and drops the rest of its cache
        assert cmd.args["mode"] == "changes" and "part" not in cmd.args and "parts" not in cmd.args
        assert messages.parse(messages.Command, cmd.dump()).name == "sync_stamps"
