"""The stall's own page in headless Chromium (Debian's build, Playwright), served by a real
station: the verdict screen for genuine, unactivated, void, forged and unsynced codes,
online (connected to Mosquitto, synced by the hub on its own, which also judges what the
stall does not hold) and offline (synced earlier, broker gone). Codes are typed into the scan box as a keyboard-wedge scanner does.
Screenshots go to test-artifacts/."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from hub.autosync import AutoSync
from hub.broker import free_port
from hub.models import Batch, Event, Stamp
from hub.sync import build_chunks
from station.runtime import Station
from tests.conftest import GTIN, HUB_PASSWORD, World, wait_until

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
GREEN, AMBER, RED, GREY = "rgb(20, 108, 46)", "rgb(138, 75, 0)", "rgb(176, 0, 32)", "rgb(85, 85, 85)"


def _setup_states(world: World) -> dict[str, str]:
    s0, s1, s2 = world.serials[:3]
    with world.sessions() as s, s.begin():
        lot = s.scalars(select(Batch).where(Batch.lot == "L1")).one()
        rows = {st.serial: st for st in s.scalars(select(Stamp).where(Stamp.serial.in_([s0, s1, s2])))}
        rows[s0].state, rows[s0].batch_id = "active", lot.id
        rows[s2].state, rows[s2].void_reason = "void", "damaged"
    unsynced = world.keyring.mint(999_999, GTIN)  # well-formed, never issued: the station cannot know it
    return {"genuine": s0, "not_active": s1, "void": s2, "unknown": unsynced}


def url(serial: str) -> str:
    return f"HTTPS://TEM.VN/01/{GTIN}/21/{serial}"


# role -> (data-verdict, colour, headline) ; "unknown" depends on online (the hub says it
# never issued it) or offline
EXPECT = {
    "genuine": ("genuine", GREEN, "Hàng chính hãng"),
    "not_active": ("not_active", AMBER, "Chưa kích hoạt"),
    "void": ("void", RED, "Tem đã bị hủy"),
    "forged": ("forged", RED, "Không xác minh được"),
}


def _start(world: World, sid: str, online: bool) -> Station:
    overrides = {"kiosk": {"port": free_port()}, "scan": {"sound": False}}
    cfg = world.station_config(sid, **overrides)
    if not online:
        cfg.mqtt.port = free_port()  # nothing listens there: the station stays offline
    station = Station(cfg)
    threading.Thread(target=station.run, daemon=True).start()
    wait_until(lambda: station.kiosk_server is not None, what="kiosk page up")
    return station


def _scan(page: Page, text: str, n: int) -> None:
    box = page.locator("#code")
    box.fill(text)
    box.press("Enter")  # a keyboard-wedge scanner ends each code with Enter
    page.wait_for_function(f"document.getElementById('verdict').dataset.id == '{n}'", timeout=10_000)


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_the_vendor_sees_a_plain_verdict_for_each_kind_of_code(
        world: World, browser: Browser, request: pytest.FixtureRequest, mode: str) -> None:
    online = mode == "online"
    serials = _setup_states(world)
    auto = None
    if online:
        world.start_ingestor()
        auto = AutoSync(world.sessions, world.url, "127.0.0.1", world.broker.port, HUB_PASSWORD, period_s=3600)
        threading.Thread(target=auto.run, daemon=True).start()
    station = _start(world, "st-2", online)
    try:
        if online:
            wait_until(station.link.connected.is_set, what="station online")  # the hub syncs it by itself
        else:
            # Synced earlier, while it was connected; now the market's network is down.
            with world.sessions() as s:
                for cmd in build_chunks(s, "st-2"):
                    assert station.flow.handle(cmd)[0]
        wait_until(lambda: station.flow.cache.status()["sync"], what="sync complete")
        host = f"http://127.0.0.1:{station.cfg.kiosk.port}"
        context = browser.new_context(viewport={"width": 800, "height": 480}, locale="vi-VN")
        page = context.new_page()
        page.goto(host + "/")
        link = page.locator("#link")
        assert ("Đang kết nối" if online else "Ngoại tuyến") in link.inner_text()
        db = "pg" if "postgresql" in request.node.callspec.id else "sqlite"
        ARTIFACTS.mkdir(exist_ok=True)
        unknown = EXPECT["forged"] if online else ("unknown", GREY, "Không xác minh được khi ngoại tuyến")
        cases = [(role, url(serials[role]), *EXPECT[role]) for role in ("genuine", "not_active", "void")]
        cases += [("forged", f"HTTPS://TEM.VN/01/{GTIN}/21/{serials['genuine'][:-2]}", *EXPECT["forged"]),
                  ("unknown", url(serials["unknown"]), *unknown)]
        for n, (role, text, kind, colour, headline) in enumerate(cases, 1):
            _scan(page, text, n)
            box = page.locator("#verdict")
            assert box.get_attribute("data-verdict") == kind
            assert box.evaluate("e => getComputedStyle(e).backgroundColor") == colour
            assert page.locator("#headline").inner_text() == headline
            if role in ("genuine", "not_active", "void"):
                assert "Cá thát lát rút xương" in box.inner_text() and "HTX Kỳ Như" in box.inner_text()
            assert page.locator("#sell").is_visible() == (role == "genuine")
            page.screenshot(path=str(ARTIFACTS / f"vendor-{role}-{mode}-{db}.png"))
        # The last scans are listed, newest first
        items = page.locator("#recent li")
        assert items.count() == len(cases) and unknown[2] in items.nth(0).inner_text()
        if online:
            # the vendor records the sale of a genuine pack; the hub learns it and every check
            _scan(page, url(serials["genuine"]), len(cases) + 1)
            page.locator("#sell button").click()
            page.wait_for_function("document.getElementById('sell').hidden")
            wait_until(lambda: _state(world, serials["genuine"]) == "sold", what="sold on the hub")
            with world.sessions() as s:
                verdicts = [e.body.get("verdict") for e in s.scalars(
                    select(Event).where(Event.type == "checked", Event.station_id == "st-2").order_by(Event.seq))]
            # the malformed code has no serial; the never-issued one was judged by the hub
            assert verdicts == ["genuine", "not_active", "void", "forged", "genuine"]
        # The language switch of the kiosk pages: the same screen in English
        page.goto(host + "/?lang=en")
        expected = "Genuine product" if online else "Cannot be verified offline"
        assert page.locator("#headline").inner_text() == expected
        assert ("Connected" if online else "Offline") in page.locator("#link").inner_text()
        page.screenshot(path=str(ARTIFACTS / f"vendor-en-{mode}-{db}.png"))
        context.close()
    finally:
        station.stop()
        if auto is not None:
            auto.stop()


def _state(world: World, serial: str) -> str:
    with world.sessions() as s:
        return s.scalars(select(Stamp.state).where(Stamp.serial == serial)).one()
