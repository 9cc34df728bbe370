"""Scan stations kept current by the hub without anyone running a command (hub/autosync.py),
and the stall asking the hub about a stamp its synced data cannot judge. Real Mosquitto,
the hub database on SQLite and PostgreSQL, real `Station` objects with their MQTT links."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from hub.autosync import AutoSync, Leadership
from hub.models import Batch, Stamp, Station as StationRow
from hub.stamps import mint
from station.runtime import Station
from tests.conftest import GTIN, HUB_PASSWORD, World, wait_until


def url(serial: str) -> str:
    return f"HTTPS://TEM.VN/01/{GTIN}/21/{serial}"


class Running:
    """Stations and sync services started by a test, stopped at its end."""

    def __init__(self, world: World):
        self.world = world
        self.things: list[Station | AutoSync] = []

    def autosync(self, period_s: float) -> AutoSync:
        auto = AutoSync(self.world.sessions, self.world.url, "127.0.0.1", self.world.broker.port, HUB_PASSWORD,
                        period_s)
        threading.Thread(target=auto.run, daemon=True).start()
        self.things.append(auto)
        return auto

    def station(self, sid: str, **overrides) -> Station:  # type: ignore[no-untyped-def]
        station = Station(self.world.station_config(sid, **overrides))
        threading.Thread(target=station.run, daemon=True).start()
        self.things.append(station)
        wait_until(station.link.connected.is_set, what=f"{sid} online")
        return station

    def stop(self, thing: Station | AutoSync) -> None:
        thing.stop()
        self.things.remove(thing)

    def close(self) -> None:
        for thing in reversed(self.things):
            thing.stop()


@pytest.fixture
def running(world: World) -> Iterator[Running]:
    world.start_ingestor()
    r = Running(world)
    yield r
    r.close()


def _activate_on_hub(world: World, serial: str) -> None:
    """A change the hub made without an event (so no periodic change set carries it)."""
    with world.sessions() as s, s.begin():
        stamp = s.scalars(select(Stamp).where(Stamp.serial == serial)).one()
        stamp.state, stamp.batch_id = "active", s.scalars(select(Batch.id).where(Batch.lot == "L1")).one()


def test_a_stall_that_comes_online_gets_a_full_sync_without_anyone_running_a_command(
        world: World, running: Running) -> None:
    running.autosync(period_s=3600)  # no periodic changes in this test: only coming online syncs
    stall = running.station("st-2")
    first = wait_until(lambda: stall.flow.cache.status()["sync"], what="a full sync after coming online")
    assert stall.flow.cache.status()["stamps"] == 200
    # Offline for a while, during which the hub learns of new stamps; back online: a new full sync.
    running.stop(stall)
    wait_until(lambda: not stall.link.connected.is_set(), what="stall stopped")
    with world.sessions() as s, s.begin():
        mint(s, world.keyring, GTIN, 5)
    again = running.station("st-2")
    second = wait_until(lambda: (again.flow.cache.status()["sync"] or "") > first and again.flow.cache.status()["sync"],
                        what="a second full sync after coming back")
    assert second > first and again.flow.cache.status()["stamps"] == 205


def test_a_stamp_activated_on_the_packing_line_shows_as_genuine_at_the_stall_within_the_sync_period(
        world: World, running: Running) -> None:
    with world.sessions() as s, s.begin():
        s.get(StationRow, "st-3").kind = "activation"
    running.autosync(period_s=1)
    stall = running.station("st-2")
    line = running.station("st-3", kind="activation",
                           product={"gtin": GTIN, "name": "Cá thát lát rút xương", "lot": "L1"})
    serial = world.serials[7]
    wait_until(lambda: stall.flow.cache.status()["sync"] and line.flow.cache.status()["sync"], what="both synced")
    assert stall.flow.cache.lookup(serial).state == "issued"
    before = stall.flow.cache.status()["synced_at"]

    assert line.flow.consider(url(serial)) == "activated"
    # the activation reaches the hub, and the next change set reaches the stall: nobody asks
    wait_until(lambda: stall.flow.cache.lookup(serial).state == "active", what="the activation at the stall")
    assert stall.flow.cache.lookup(serial).lot == "L1"
    assert stall.flow.cache.status()["stamps"] == 200  # changes forget nothing
    assert stall.flow.cache.status()["synced_at"] >= before
    verdict = stall.flow.scan(url(serial))
    assert (verdict.kind, verdict.headline, verdict.hub) == ("genuine", "Hàng chính hãng", "")
    # a recall voids stamps from the console; stalls learn it the same way
    with world.sessions() as s, s.begin():
        from hub.ops.registry import void_range
        assert void_range(s, serial, serial, "recalled", "test") == 1
    wait_until(lambda: stall.flow.cache.lookup(serial).state == "void", what="the recall at the stall")
    assert stall.flow.scan(url(serial)).kind == "void"


def test_a_stamp_the_stall_cannot_judge_is_verified_online_through_the_hub(world: World, running: Running) -> None:
    running.autosync(period_s=3600)
    stall = running.station("st-2")
    wait_until(lambda: stall.flow.cache.status()["sync"], what="synced")
    with world.sessions() as s, s.begin():
        new = mint(s, world.keyring, GTIN, 1)[0]  # issued after the stall's sync
    _activate_on_hub(world, new)
    _activate_on_hub(world, world.serials[3])  # the stall holds it as issued
    assert stall.flow.cache.lookup(new) is None

    for serial in (new, world.serials[3]):
        verdict = stall.flow.scan(url(serial))
        assert (verdict.kind, verdict.colour, verdict.hub) == ("genuine", "green", "answered")
        assert verdict.product == "Cá thát lát rút xương" and verdict.lot == "L1"
        assert stall.flow.cache.lookup(serial).state == "active"  # the answer is kept
    not_yet = stall.flow.scan(url(world.serials[4]))
    assert (not_yet.kind, not_yet.hub) == ("not_active", "answered") and "theo trung tâm" in not_yet.detail
    # a well-formed serial this hub never issued: the hub, which holds the keys, says so
    fake = stall.flow.scan(url(world.keyring.mint(999_999, GTIN)))
    assert (fake.kind, fake.colour, fake.headline, fake.hub) == ("forged", "red", "Không xác minh được", "unknown")
    assert "chưa từng phát hành" in fake.detail and fake.product is None  # the fake only claims a product


def test_with_the_hub_unreachable_the_stall_says_it_cannot_verify_offline(world: World, running: Running) -> None:
    stall = running.station("st-2")  # connected to the broker, but no hub answers questions
    stall.flow.questions.wait_s = 0.3
    silent = stall.flow.scan(url(world.serials[0]))
    assert (silent.kind, silent.colour, silent.hub) == ("unknown", "grey", "silent")
    assert silent.headline == "Không xác minh được khi ngoại tuyến" and "không trả lời" in silent.detail
    world.broker.stop()
    wait_until(lambda: not stall.link.connected.is_set(), what="stall offline")
    offline = stall.flow.scan(url(world.serials[0]))
    assert (offline.kind, offline.online, offline.hub) == ("unknown", False, "")
    assert offline.headline == "Không xác minh được khi ngoại tuyến" and "mất kết nối" in offline.detail


def test_one_ingestor_syncs_at_a_time_and_another_takes_over(world: World) -> None:
    first, second = Leadership(world.url), Leadership(world.url)
    try:
        assert first.held() and not second.held()
        assert first.held()
        first.release()
        assert second.held() and not first.held()
    finally:
        first.release()
        second.release()
