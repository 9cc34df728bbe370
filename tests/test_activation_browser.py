"""The activation station's page in headless Chromium: the batch's counters, the red lamp
after a refused stamp, and the lot switch. Screenshots go to test-artifacts/."""
from __future__ import annotations

import threading
from pathlib import Path

from playwright.sync_api import Browser

from hub.broker import free_port
from station import config as station_config
from station.runtime import Station
from tests.conftest import GTIN, wait_until
from tests.test_activation import OTHER_GTIN, SERIALS
from tests.test_scanner_e2e import url

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
RED = "rgb(176, 0, 32)"


def test_the_worker_sees_the_counts_a_red_lamp_for_a_refused_stamp_and_can_switch_the_lot(tmp_path: Path, browser: Browser) -> None:
    (tmp_path / "secret").write_text("x")
    station = Station(station_config.from_dict({
        "station_id": "act-2", "kind": "activation", "data_dir": str(tmp_path / "act"),
        "mqtt": {"port": free_port(), "password_file": str(tmp_path / "secret")},
        "product": {"gtin": GTIN, "name": "Cá thát lát rút xương", "lot": "L1"},
        "kiosk": {"port": free_port()}}))
    threading.Thread(target=station.run, daemon=True).start()
    try:
        wait_until(lambda: station.kiosk_server is not None, what="page up")
        flow = station.flow
        flow.consider(url(SERIALS[0]))
        flow.consider(url(SERIALS[1]))
        flow.consider(url(SERIALS[2]).replace(GTIN, OTHER_GTIN))  # another product's stamp on this line
        page = browser.new_page(viewport={"width": 800, "height": 480})
        page.goto(f"http://127.0.0.1:{station.cfg.kiosk.port}/")  # type: ignore[union-attr]
        assert page.locator("#activated").inner_text() == "2"
        assert page.locator("#rejected").inner_text() == "1"
        assert page.locator("#verdict").evaluate("e => getComputedStyle(e).backgroundColor") == RED
        assert "Cá thát lát rút xương" in page.locator("#product").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "activation-refused.png"))
        # a new batch: counters start again for it
        page.fill("#new-lot", "L2")
        page.click("form.lot button")
        assert page.locator("#lot").inner_text() == "L2"
        assert page.locator("#activated").inner_text() == "0"
        page.goto(f"http://127.0.0.1:{station.cfg.kiosk.port}/?lang=en")  # type: ignore[union-attr]
        assert "Activated" in page.locator(".count").first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "activation-new-lot-en.png"))
        assert station.cfg.product is not None and station.cfg.product.lot == "L2"
    finally:
        station.stop()
