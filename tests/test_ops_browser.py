"""An operator's afternoon in headless Chromium (Debian's build, driven by Playwright)
against a real werkzeug server, a real broker and an in-process print station: sign in,
register a product and a batch, issue stamps, and watch the station come online on the
dashboard without reloading the page."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from werkzeug.serving import make_server

from hub.auth import create_user
from station.runtime import Station
from tests.conftest import GTIN, HUB_PASSWORD, LOT, World
from tests.ops_fixtures import PASSWORD, gtin, make_app

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def live(world: World, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    with world.sessions() as s, s.begin():
        create_user(s, "admin", PASSWORD, "admin")
    app = make_app(world.url, tmp_path / "instance", MQTT_HOST="127.0.0.1", MQTT_PORT=world.broker.port,
                   HUB_MQTT_PASSWORD=HUB_PASSWORD, TEM_TELEMETRY_INTERVAL_S=1, TEM_FLEET_POLL_MS=300)
    app.extensions["tem.keyring"] = world.keyring
    server = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    t.join(5)


def test_operator_registers_issues_stamps_and_sees_a_station_come_online_live(
        browser: Browser, live: tuple[str, Flask], world: World, request: pytest.FixtureRequest) -> None:
    base, _app = live
    world.start_ingestor()
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = context.new_page()
    try:
        # Sign in (Vietnamese first)
        page.goto("/ops/")
        expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
        page.get_by_label("Tên đăng nhập").fill("admin")
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        expect(page.get_by_role("heading", name="Trạm")).to_be_visible()
        # a product ...
        new_gtin = gtin("893850597777")
        page.goto("/ops/products")
        page.get_by_label("GTIN", exact=True).fill(new_gtin)
        page.get_by_label("Tên (tiếng Việt)").fill("Khô cá lóc")
        page.get_by_role("button", name="Lưu").click()
        expect(page.locator(".flash")).to_contain_text(f"Đã lưu sản phẩm {new_gtin}")
        # ... a batch of it ...
        page.goto("/ops/batches")
        page.get_by_label("Sản phẩm").select_option(label=f"Khô cá lóc ({new_gtin})")
        page.get_by_label("Lô", exact=True).fill("KCL-01")
        page.get_by_role("button", name="Lưu").click()
        expect(page.locator(".flash")).to_contain_text("Đã lưu lô KCL-01")
        # ... and a block of stamps for it
        page.goto("/ops/stamps")
        page.locator("#issue").get_by_label("Sản phẩm").select_option(label=f"Khô cá lóc ({new_gtin})")
        page.get_by_label("Số lượng tem").fill("25")
        page.get_by_role("button", name="Cấp tem").click()
        expect(page.locator(".flash")).to_contain_text("Đã cấp 25 tem")
        expect(page.locator('#counts [data-state="issued"]')).not_to_have_text("0")
        # The dashboard shows the print station offline; it starts, and the row turns online in place
        page.goto("/ops/")
        cell = page.locator('tr[data-station="st-1"] [data-f="status"]')
        expect(cell).to_have_attribute("data-status", "offline")
        expect(cell).to_have_text("mất kết nối")
        page.evaluate("window.__same_page = true")
        cfg = world.station_config("st-1", kind="print", printer={"driver": "file"},
                                   product={"gtin": GTIN, "name": "Cá thát lát", "lot": LOT})
        station = Station(cfg)
        t = threading.Thread(target=station.run, daemon=True)
        t.start()
        try:
            expect(cell).to_have_attribute("data-status", "online", timeout=20_000)
            expect(cell).to_have_text("đang hoạt động")
            expect(page.locator('tr[data-station="st-1"] [data-f="printer"]')).not_to_have_text("–")
            assert page.evaluate("window.__same_page") is True  # no reload happened
            ARTIFACTS.mkdir(exist_ok=True)
            db = "pg" if "postgresql" in request.node.callspec.id else "sqlite"
            page.screenshot(path=str(ARTIFACTS / f"ops-dashboard-{db}.png"), full_page=True)
        finally:
            station.stop()
            t.join(10)
        expect(cell).to_have_attribute("data-status", "offline", timeout=20_000)
    finally:
        context.close()


def test_operator_sends_a_command_sees_the_answer_live_and_an_alert_when_the_station_stops(
        browser: Browser, live: tuple[str, Flask], world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.ops.watch as watch
    from hub.ops.watch import Watcher
    base, app = live
    monkeypatch.setattr(watch, "OFFLINE_GRACE_S", 1)
    watcher = Watcher(app.extensions["tem.sessions"], 0.3, 1)
    watcher.thread.start()
    world.start_ingestor()
    cfg = world.station_config("st-1", kind="print", printer={"driver": "file"},
                               product={"gtin": GTIN, "name": "Cá thát lát", "lot": LOT})
    station = Station(cfg)
    t = threading.Thread(target=station.run, daemon=True)
    t.start()
    context = browser.new_context(base_url=base, viewport={"width": 1024, "height": 1366}, locale="en-GB")
    page = context.new_page()
    try:
        page.goto("/login?lang=en")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/ops/stations/st-1")
        expect(page.locator("#status")).to_have_attribute("data-status", "online", timeout=20_000)
        # When the operator pauses the station, the answer shows in place, without a reload
        page.get_by_role("button", name="Pause").click()
        answer = page.locator("#commands tbody tr").first.locator('[data-f="result"]')
        expect(answer).to_have_text("✔ paused", timeout=20_000)
        assert station.flow.paused
        # When the station stops, the hub's timer raises an alert while it is away
        station.stop()
        t.join(10)
        expect(page.locator("#status")).to_have_attribute("data-status", "offline", timeout=20_000)

        def alert_listed() -> bool:
            page.goto("/ops/alerts")
            return page.locator("#alerts", has_text="Station offline").count() > 0

        from tests.conftest import wait_until
        wait_until(alert_listed, timeout=20, every=0.5, what="station_offline alert listed")
        page.get_by_role("button", name="Acknowledge").first.click()
        expect(page.locator("#alerts")).to_contain_text("acknowledged admin")
    finally:
        watcher.stop()
        station.stop()
        context.close()
