"""The console reaching real stations: a block of stamps allocated in the browser reaches
an in-process print station over the real Mosquitto, which prints from it; a command
is answered and the answer shows on the station's page; a pushed config is applied
and the version the station reports shows. SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from hub.auth import create_user
from hub.models import Event, StampBlock
from hub.ops import registry
from station.runtime import Station
from tests.conftest import GTIN, HUB_PASSWORD, LOT, World, wait_until
from tests.ops_fixtures import PASSWORD, Console, flashes, make_app


@pytest.fixture
def hub(world: World, tmp_path: Path) -> Iterator[Flask]:
    with world.sessions() as s, s.begin():
        create_user(s, "admin", PASSWORD, "admin")
    app = make_app(world.url, tmp_path / "instance", RATELIMIT_ENABLED=False, MQTT_HOST="127.0.0.1",
                   MQTT_PORT=world.broker.port, HUB_MQTT_PASSWORD=HUB_PASSWORD, TEM_TELEMETRY_INTERVAL_S=1)
    app.extensions["tem.keyring"] = world.keyring
    yield app
    if app.extensions.get("tem.publisher"):
        app.extensions["tem.publisher"].close()


@pytest.fixture
def print_station(world: World) -> Iterator[Station]:
    world.start_ingestor()
    cfg = world.station_config(
        "st-1", kind="print", printer={"driver": "file"},
        product={"gtin": GTIN, "name": "Cá thát lát rút xương", "producer": "HTX Kỳ Như", "lot": LOT})
    station = Station(cfg)
    t = threading.Thread(target=station.run, daemon=True)
    t.start()
    yield station
    station.stop()
    t.join(10)


def test_allocated_codes_reach_the_station_and_it_prints_from_them(hub: Flask, world: World,
                                                                   print_station: Station) -> None:
    admin = Console(hub.test_client()).sign_in("admin")
    wait_until(lambda: registry.liveness(_row(world), 1)[0] == "online", what="station online")
    # Given a block issued in the console
    r = admin.post("/ops/stamps/issue", {"product_id": 1, "count": 30}, follow_redirects=True)
    assert r.status_code == 200, flashes(r)
    with world.sessions() as s:
        block = s.scalars(select(StampBlock)).one()
        serials = registry.block_serials(s, block)
    # when it is allocated to the print station
    r = admin.post(f"/ops/stamps/blocks/{block.id}/allocate", {"station_id": "st-1"}, follow_redirects=True)
    assert any("st-1" in m for m in flashes(r)), flashes(r)
    # then the station holds exactly those codes and prints the first of them
    wait_until(lambda: print_station.flow.codebook.remaining() == 30, what="30 codes on the station")
    printed = print_station.flow.press()
    assert printed in serials
    # and the add_codes command's answer reaches the station page
    wait_until(lambda: "codes added" in admin.get("/ops/stations/st-1").get_data(as_text=True),
               what="add_codes answer on the page")
    # a label that came out badly is reprinted on the operator's command
    wait_until(lambda: print_station.flow.codebook.find(printed) and all(
        j.state == "done" for j in print_station.flow.codebook.find(printed)), what="first label done")
    r = admin.post("/ops/stations/st-1/command", {"name": "reprint", "serial": printed.lower()}, follow_redirects=True)
    assert any("reprint" in m for m in flashes(r)), flashes(r)
    wait_until(lambda: f"reprint of {printed} queued" in admin.get("/ops/stations/st-1").get_data(as_text=True),
               what="reprint answer")
    r = admin.post("/ops/stations/st-1/command", {"name": "void", "serial": "not a code", "reason": "damaged"},
                   follow_redirects=True)
    assert any("không phải mã tem" in m for m in flashes(r)), flashes(r)
    # the station's telemetry is drawn: codes left went up when the block arrived
    wait_until(lambda: 'aria-label="codes_left"' in admin.get("/ops/stations/st-1?window=7d").get_data(as_text=True),
               what="a codes_left chart")
    fleet = admin.get("/ops/fleet.json").get_json()
    st1 = next(x for x in fleet["stations"] if x["id"] == "st-1")
    assert st1["status"] == "online"


def _row(world: World):  # type: ignore[no-untyped-def]
    from hub.models import Station as StationRow
    with world.sessions() as s:
        return s.get(StationRow, "st-1")


def test_a_command_is_answered_and_the_answer_shows(hub: Flask, world: World, print_station: Station) -> None:
    admin = Console(hub.test_client()).sign_in("admin")
    wait_until(lambda: _row(world).online, what="station online")
    r = admin.post("/ops/stations/st-1/command", {"name": "pause"}, follow_redirects=True)
    assert any("pause" in m for m in flashes(r)), flashes(r)
    wait_until(lambda: print_station.flow.paused, what="station paused")

    def answered() -> dict | None:  # type: ignore[type-arg]
        cmds = admin.get("/ops/stations/st-1/commands.json").get_json()["commands"]
        return cmds[0]["result"] if cmds and cmds[0]["result"] else None

    result = wait_until(answered, what="the station's command_result")
    assert result["ok"] is True and result["message"] == "paused"
    assert "✔ paused" in admin.get("/ops/stations/st-1").get_data(as_text=True)
    with world.sessions() as s:
        assert s.scalars(select(Event).where(Event.type == "command_result")).first() is not None


def test_a_pushed_config_is_applied_and_its_version_reported(hub: Flask, world: World,
                                                             print_station: Station) -> None:
    admin = Console(hub.test_client()).sign_in("admin")
    wait_until(lambda: _row(world).online, what="station online")
    r = admin.post("/ops/stations/st-1/config", {"format": "toml", "config": 'place = "Xưởng 2"\n'},
                   follow_redirects=True)
    assert any("1" in m for m in flashes(r)), flashes(r)
    wait_until(lambda: print_station.cfg.place == "Xưởng 2", what="config applied on the station")
    wait_until(lambda: _row(world).config_version == 1, what="version 1 reported in telemetry")
    r = admin.post("/ops/stations/st-1/config", {"format": "json", "config": '{"place": "Xưởng 3"}'},
                   follow_redirects=True)
    wait_until(lambda: _row(world).config_version == 2, what="version 2 reported")
    assert print_station.cfg.place == "Xưởng 3"
    # the software the station runs (its online message) and the config version show, with a count per version
    import tem
    from station.runtime import SOFTWARE
    assert SOFTWARE == f"tem-station {tem.__version__}" and _row(world).software == SOFTWARE
    page = admin.get("/ops/").get_data(as_text=True)
    assert f'<td data-f="software">{SOFTWARE}</td>' in page
    versions = page[page.index('<table id="versions">'):]
    assert f"<tr><td>{SOFTWARE}</td><td>2</td><td class=\"num\">1</td></tr>" in versions
    assert '<tr><td>chưa báo</td><td>–</td><td class="num">4</td></tr>' in versions
    assert f'<b id="software">{SOFTWARE}</b>' in admin.get("/ops/stations/st-1").get_data(as_text=True)
    fleet = admin.get("/ops/fleet.json").get_json()["stations"]
    assert next(x for x in fleet if x["id"] == "st-1")["software"] == SOFTWARE


def test_a_script_sends_a_command_through_the_api_and_reads_the_answer(hub: Flask, world: World,
                                                                       print_station: Station) -> None:
    from hub.auth import create_token
    from hub.models import User
    with world.sessions() as s, s.begin():
        token = create_token(s, s.scalars(select(User)).one(), "script")
    client, headers = hub.test_client(), {"Authorization": f"Bearer {token}"}
    wait_until(lambda: _row(world).online, what="station online")
    r = client.post("/api/v1/stations/st-1/commands", json={"name": "set_batch", "lot": "L2"}, headers=headers)
    assert r.status_code == 202, r.get_json()
    url = f"/api/v1/stations/st-1/commands/{r.get_json()['id']}"
    result = wait_until(lambda: client.get(url, headers=headers).get_json()["result"], what="the answer")
    assert result["ok"] and result["message"] == "lot is now L2"
    r = client.post("/api/v1/stations/st-1/config", json={"place": "Xưởng 9"}, headers=headers)
    assert r.status_code == 202 and r.get_json()["version"] == 1
    wait_until(lambda: client.get("/api/v1/stations/st-1", headers=headers).get_json()["config_version"] == 1,
               what="version 1 reported")
