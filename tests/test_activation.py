"""The activation flow without a broker: batch counters, local refusals, the station page,
and a camera that vanishes and comes back."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2

from station import config as station_config
from station import kiosk
from station.runtime import Station
from tem import messages
from tem.codes import Keyring
from tests.conftest import GTIN, wait_until
from tests.test_scanner_e2e import stamp_frame, url

KEYS = Keyring({"A": b"activation-test-key-012345"})
SERIALS = [KEYS.mint(n, GTIN) for n in range(1, 6)]
OTHER_GTIN = "08934567890137"


def _station(tmp_path: Path, **overrides) -> Station:  # type: ignore[no-untyped-def]
    (tmp_path / "secret").write_text("x")
    data = {"station_id": "act-1", "kind": "activation", "data_dir": str(tmp_path / "act"),
            "mqtt": {"port": 1, "password_file": str(tmp_path / "secret")},
            "product": {"gtin": GTIN, "name": "Cá thát lát rút xương", "lot": "L1"}, **overrides}
    return Station(station_config.from_dict(data))


def _events(station: Station) -> list:  # type: ignore[type-arg]
    return [messages.parse_event(body) for _s, _i, body in station.outbox.pending()]


def test_each_stamp_is_activated_once_for_the_current_batch_and_counted_per_batch(tmp_path: Path) -> None:
    station = _station(tmp_path)
    flow = station.flow
    assert flow.consider(url(SERIALS[0])) == "activated"
    assert flow.consider(url(SERIALS[0])) == "again"  # the same pack held up twice
    assert flow.set_lot("L2")[0]
    assert flow.batch_counts() == {"activated": 0, "rejected": 0, "again": 0}
    assert flow.consider(url(SERIALS[1])) == "activated"
    assert [(e.type, e.serial, e.lot) for e in _events(station)] == [
        ("activated", SERIALS[0], "L1"), ("activated", SERIALS[1], "L2")]
    assert flow.counts["L1"]["activated"] == 1 and flow.counts["L2"]["activated"] == 1


def test_a_code_of_another_product_is_refused_on_the_line_with_an_alert(tmp_path: Path) -> None:
    station = _station(tmp_path)
    flow = station.flow
    assert flow.consider(url(SERIALS[2]).replace(GTIN, OTHER_GTIN)) == "rejected"
    assert flow.consider(url(SERIALS[2]).replace(GTIN, OTHER_GTIN)) == "rejected"  # back in view
    (alert,) = _events(station)  # one alert, but the worker is warned each time
    assert alert.type == "alert" and alert.code == "wrong_product" and alert.serial == SERIALS[2]
    assert flow.lamp.colour == "red" and flow.lamp.buzzes == 2 and flow.batch_counts()["rejected"] == 1


def test_synced_states_refuse_void_sold_and_other_batch_stamps(tmp_path: Path) -> None:
    station = _station(tmp_path)
    flow = station.flow
    ok, _ = flow.handle(messages.Command(name="sync_stamps", args={
        "sync": "s1", "part": 0, "parts": 1, "products": {},
        "stamps": [[SERIALS[0], "void", GTIN, None, "damaged"], [SERIALS[1], "sold", GTIN, "L0"],
                   [SERIALS[2], "active", GTIN, "L0"], [SERIALS[3], "printed", GTIN]]}))
    assert ok
    results = [flow.consider(url(s)) for s in SERIALS[:4]]
    assert results == ["rejected", "rejected", "rejected", "activated"]
    assert [e.code for e in _events(station) if e.type == "alert"] == ["void_stamp", "sold_stamp", "other_batch"]


def test_the_page_shows_the_counters_and_changes_the_batch(tmp_path: Path) -> None:
    station = _station(tmp_path)
    station.flow.consider(url(SERIALS[0]))
    client = kiosk.create_app(station).test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="activated">1<' in page and 'id="rejected">0<' in page and "L1" in page
    # another web site cannot switch the batch: only the page itself may post
    assert client.post("/batch", data={"lot": "EVIL"}).status_code == 403
    assert client.post("/batch", data={"lot": "EVIL"}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert station.cfg.product is not None and station.cfg.product.lot == "L1"
    client = kiosk.create_app(station).test_client()
    client.environ_base["HTTP_ORIGIN"] = "http://localhost"
    assert client.post("/batch", data={"lot": "L7"}).status_code == 200
    assert station.cfg.product is not None and station.cfg.product.lot == "L7"
    assert client.get("/api/state").get_json()["counts"] == {"activated": 0, "rejected": 0, "again": 0}
    assert client.post("/batch", data={"lot": ""}).status_code == 400


def _frames(folder: Path, serials: list[str]) -> None:
    folder.mkdir(parents=True)
    for i, s in enumerate(serials):
        cv2.imwrite(str(folder / f"{i:03d}.png"), stamp_frame([url(s)], i))


def test_a_camera_that_vanishes_is_reported_reopened_and_the_line_goes_on(tmp_path: Path) -> None:
    frames = tmp_path / "cam"
    _frames(frames, SERIALS[:2])
    station = _station(tmp_path, camera={"source": "replay", "device": str(frames), "fps": 20, "loop": True,
                                         "budget_ms": 200})
    flow = station.flow
    flow.start()
    try:
        wait_until(lambda: flow.batch_counts()["activated"] == 2, what="two activations")
        # the camera is unplugged: the page says so in Vietnamese, nothing crashes
        shutil.rmtree(frames)
        wait_until(lambda: flow.state()["camera_error"], what="camera error shown")
        assert "camera" in flow.state()["camera_error"].lower() or "ảnh" in flow.state()["camera_error"]
        # plugged back in: frames flow again and new packs are activated
        tmp = tmp_path / "cam.new"
        _frames(tmp, SERIALS[2:4])
        os.replace(tmp, frames)
        wait_until(lambda: flow.batch_counts()["activated"] == 4, timeout=40, what="activations after reopening")
        assert flow.state()["camera_error"] is None and flow.watch.source.reopens >= 1
    finally:
        flow.stop()
