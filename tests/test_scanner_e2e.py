"""Replayed camera frames → activation station → Mosquitto → ingestor → database, on the
real parts (SQLite and PostgreSQL): stamps seen on the line become active for the
station's batch; a void stamp in the stream is never silently activated."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import func, select

from hub.models import Alert, Event, Stamp
from hub.sync import MqttPublisher, sync_stations
from station.runtime import Station
from tests import scanner_images as si
from tests.conftest import GTIN, HUB_PASSWORD, World, wait_until

PRODUCT = {"gtin": GTIN, "name": "Cá thát lát rút xương", "producer": "HTX Kỳ Như", "lot": "L2"}


def stamp_frame(texts: list[str], index: int) -> np.ndarray:
    """A camera frame with these stamps on packs side by side, a little rotated, noisy, JPEG'd."""
    rng = np.random.default_rng([11, index])
    frame = si.background(rng)
    for i, text in enumerate(texts):
        lab = si.label(si.qr_matrix(text), 8, rng)
        scale = rng.uniform(3.6, 4.4) / 8
        cx = si.W * (i + 1) / (len(texts) + 1)
        si.place(frame, si._antialias(lab, scale),
                 *si.affine_maps(lab.shape, cx, si.H / 2 + rng.uniform(-30, 30), scale, rng.uniform(-15, 15)))
    return si._finish(frame, rng)


def url(serial: str) -> str:
    return f"HTTPS://TEM.VN/01/{GTIN}/21/{serial}"


def write_stream(folder: Path, groups: list[list[str]], repeat: int = 2) -> None:
    """Each pack stays in view for `repeat` frames, as on a slow belt; written, then moved into place."""
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True)
    n = 0
    for g, serials in enumerate(groups):
        for _ in range(repeat):
            cv2.imwrite(str(tmp / f"{n:04d}.png"), stamp_frame([url(s) for s in serials], g))
            n += 1
    os.replace(tmp, folder)  # the replay source sees the whole stream at once


@contextmanager
def running(station: Station) -> Iterator[Station]:
    t = threading.Thread(target=station.run, daemon=True)
    t.start()
    try:
        yield station
    finally:
        station.stop()
        t.join(15)


def _count(world: World, model, *where) -> int:  # type: ignore[no-untyped-def]
    with world.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def activation_config(world: World, sid: str, frames: Path):  # type: ignore[no-untyped-def]
    return world.station_config(sid, kind="activation", product=PRODUCT,
                                camera={"source": "replay", "device": str(frames), "fps": 10, "budget_ms": 200})


def test_stamps_seen_on_the_line_become_active_for_the_stations_batch(world: World, tmp_path: Path) -> None:
    world.start_ingestor()
    serials = world.serials[:12]
    frames = tmp_path / "frames"
    # Given a stream of packs, two to a frame, each in view for two frames
    write_stream(frames, [serials[i:i + 2] for i in range(0, len(serials), 2)])
    # when the activation station for batch L2 watches it
    with running(Station(activation_config(world, "st-2", frames))) as station:
        wait_until(lambda: _count(world, Stamp, Stamp.state == "active") == len(serials), timeout=60,
                   what="every stamp active")
        wait_until(lambda: station.outbox.backlog() == 0, what="outbox drained")
        counts = station.flow.batch_counts()
    # then every stamp is active for L2, activated exactly once, and nothing else moved
    with world.sessions() as s:
        rows = s.scalars(select(Stamp).where(Stamp.serial.in_(serials))).all()
        lots = {st.batch.lot for st in rows}
        activated = s.scalar(select(func.count()).select_from(Event).where(Event.type == "activated"))
    assert lots == {"L2"} and all(st.state == "active" for st in rows)
    assert activated == len(serials)
    assert counts == {"activated": len(serials), "rejected": 0, "again": 0}
    assert _count(world, Stamp, Stamp.state == "active") == len(serials)
    assert _count(world, Alert) == 0


def _void(world: World, serial: str) -> None:
    with world.sessions() as s, s.begin():
        stamp = s.scalars(select(Stamp).where(Stamp.serial == serial)).one()
        stamp.state, stamp.void_reason = "void", "damaged"


def test_a_void_stamp_the_station_has_synced_gets_a_red_lamp_and_an_alert_not_an_activation(
        world: World, tmp_path: Path) -> None:
    world.start_ingestor()
    good, bad = world.serials[:3], world.serials[3]
    _void(world, bad)
    frames = tmp_path / "frames"
    with running(Station(activation_config(world, "st-3", frames))) as station:
        # Given the hub has synced the station's area (the void stamp among them)
        wait_until(station.link.connected.is_set, what="station online")
        with MqttPublisher("127.0.0.1", world.broker.port, HUB_PASSWORD) as publish:
            sent = sync_stations(world.sessions, publish, ["st-3"])
        assert sent == {"st-3": 200}
        wait_until(lambda: station.flow.cache.status()["sync"], what="sync complete on the station")
        # when the void stamp passes the camera between good ones
        write_stream(frames, [[good[0]], [bad], [good[1], good[2]]])
        wait_until(lambda: _count(world, Stamp, Stamp.state == "active") == 3, timeout=60,
                   what="the good stamps active")
        wait_until(lambda: _count(world, Alert, Alert.kind == "void_stamp"), what="the station's alert")
        counts = station.flow.batch_counts()
        lamp = station.flow.lamp
    # then the station refused it itself: red lamp, a buzz, an alert, no activation event
    with world.sessions() as s:
        alert = s.scalars(select(Alert).where(Alert.kind == "void_stamp")).one()
        state = s.scalars(select(Stamp.state).where(Stamp.serial == bad)).one()
        tried = s.scalar(select(func.count()).select_from(Event).where(Event.type == "activated",
                                                                       Event.serial == bad))
    assert alert.serial == bad and alert.station_id == "st-3" and "void" in alert.message
    assert state == "void" and tried == 0
    assert counts["activated"] == 3 and counts["rejected"] == 1
    assert lamp.buzzes == 1


def test_without_synced_data_the_station_activates_and_the_hub_refuses_a_void_stamp(
        world: World, tmp_path: Path) -> None:
    world.start_ingestor()
    bad = world.serials[5]
    _void(world, bad)
    frames = tmp_path / "frames"
    write_stream(frames, [[world.serials[4]], [bad]])
    with running(Station(activation_config(world, "st-4", frames))):
        wait_until(lambda: _count(world, Alert, Alert.kind == "illegal_transition"), timeout=60,
                   what="the hub's alert")
    with world.sessions() as s:
        refused = s.scalars(select(Event).where(Event.serial == bad, Event.type == "activated")).one()
        state = s.scalars(select(Stamp.state).where(Stamp.serial == bad)).one()
    assert not refused.applied and "void" in refused.refusal
    assert state == "void"
