"""The print station's touch page in headless Chromium (Debian's build, driven by Playwright)
against the station's own werkzeug server: PRINT makes a label, the count goes up, an empty
printer says what to do in Vietnamese (or English), an unknown label is asked about, the lot
can be switched. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from station import kiosk
from tests.fakes.printers import FakeBrotherQL
from tests.print_helpers import events, make_station, wait_until

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SCREEN = {"viewport": {"width": 800, "height": 480}, "has_touch": True, "locale": "vi-VN"}


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEM_TEST_MQTT_PASSWORD", "unused")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ql() -> Iterator[FakeBrotherQL]:
    fake = FakeBrotherQL("QL-800", roll=(62, 29))
    yield fake
    fake.close()


class Kiosk:
    def __init__(self, tmp: Path, printer: dict):
        self.port = _free_port()
        self.station = make_station(tmp, printer, kiosk={"port": self.port})
        self.station.flow.start()
        kiosk.serve(self.station)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.station.kiosk_server.shutdown()
        self.station.flow.stop()
        self.station.outbox.close()


@pytest.fixture
def screen(browser: Browser) -> Iterator:
    opened: list = []

    def open_(k: Kiosk) -> Page:
        context = browser.new_context(base_url=k.url, **SCREEN)
        opened.append((context, k))
        page = context.new_page()
        page.goto("/")
        return page
    yield open_
    for context, k in opened:
        context.close()
        k.close()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"kiosk-print-{name}.png"))


def test_pressing_print_makes_a_label_and_the_counter_goes_up(tmp_path: Path, screen) -> None:  # type: ignore[no-untyped-def]
    k = Kiosk(tmp_path, {"driver": "file"})
    page = screen(k)
    assert page.locator("html").get_attribute("lang") == "vi"
    expect(page.locator("#product")).to_have_text("Cá thát lát rút xương")
    expect(page.locator("#lot")).to_have_text("L1")
    expect(page.locator("#today")).to_have_text("0")
    expect(page.locator("#instruction")).to_have_text("Máy in sẵn sàng")
    expect(page.locator("#link")).to_have_attribute("data-state", "offline")
    page.get_by_role("button", name="IN TEM").click()
    expect(page.locator("#today")).to_have_text("1", timeout=10_000)
    [label] = wait_until(lambda: list((tmp_path / "labels").glob("*.png")), what="a label file")
    assert label.stat().st_size > 0
    # Big enough for a gloved thumb on an 800x480 screen.
    box = page.locator("#print").bounding_box()
    assert box and box["height"] >= 80 and box["width"] >= 200
    _shot(page, "ready")


def test_out_of_paper_shows_the_instruction_and_printing_resumes_by_itself(
        tmp_path: Path, screen, ql: FakeBrotherQL) -> None:  # type: ignore[no-untyped-def]
    ql.run_out_of_paper()
    k = Kiosk(tmp_path, {"driver": "brother_ql", "model": "QL-800", "target": ql.path, "template": "62x29"})
    page = screen(k)
    page.get_by_role("button", name="IN TEM").click()
    expect(page.locator("#instruction")).to_have_text("Hết giấy: lắp cuộn nhãn mới", timeout=10_000)
    expect(page.locator("#verdict")).to_have_attribute("data-state", "error")
    expect(page.locator("#queue")).to_have_text("1")
    assert page.locator("#verdict").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(176, 0, 32)"
    _shot(page, "no-paper-vi")
    page.get_by_role("link", name="English").click()
    expect(page.locator("#instruction")).to_have_text("Out of labels: load a new roll", timeout=10_000)
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("#errors")).to_contain_text("Out of labels: load a new roll")
    _shot(page, "no-paper-en")
    ql.load_roll((62, 29))
    # Nobody touches the page: the job prints and the page catches up on its own.
    expect(page.locator("#today")).to_have_text("1", timeout=15_000)
    expect(page.locator("#instruction")).to_have_text("Printer ready", timeout=10_000)
    assert len(ql.pages) == 1


def test_a_label_nobody_can_vouch_for_is_asked_about_and_reprinted_on_request(
        tmp_path: Path, screen, ql: FakeBrotherQL) -> None:  # type: ignore[no-untyped-def]
    k = Kiosk(tmp_path, {"driver": "brother_ql", "model": "QL-800", "target": ql.path, "template": "62x29"})
    k.station.flow.printer.print_timeout = 0.5
    ql.answer_print = False
    page = screen(k)
    page.get_by_role("button", name="IN TEM").click()
    question = page.locator(".question")
    expect(question).to_contain_text("Nhãn này đã in ra chưa?", timeout=10_000)
    _shot(page, "question")
    ql.answer_print = True
    question.get_by_role("button", name="Chưa ra: in lại").click()
    expect(page.locator(".question")).to_have_count(0)
    expect(page.locator("#today")).to_have_text("1", timeout=10_000)
    [printed] = wait_until(lambda: events(tmp_path, "printed"), what="the reprint recorded")
    assert printed["reprint"] is True


def test_switching_lot_changes_the_header_and_the_next_label(tmp_path: Path, screen) -> None:  # type: ignore[no-untyped-def]
    k = Kiosk(tmp_path, {"driver": "file"})
    page = screen(k)
    page.locator("#new-lot").fill("L2-0523")
    page.get_by_role("button", name="Đổi lô").click()
    expect(page.locator("#lot")).to_have_text("L2-0523")
    page.get_by_role("button", name="IN TEM").click()
    [printed] = wait_until(lambda: events(tmp_path, "printed"), what="printed")
    assert printed["lot"] == "L2-0523"
    page.locator("#new-lot").fill("x" * 20 + "y")  # the browser cuts at 20; the station checks anyway
    page.get_by_role("button", name="Đổi lô").click()
    expect(page.locator("#lot")).to_have_text(re.compile(r"^x{20}$"))


def test_posts_from_another_origin_or_host_are_refused(tmp_path: Path) -> None:
    station = make_station(tmp_path, {"driver": "file"}, kiosk={})
    client = kiosk.create_app(station).test_client()
    base = {"base_url": "http://127.0.0.1:8080"}
    assert client.post("/print", headers={"Origin": "http://evil.example"}, **base).status_code == 403
    assert client.post("/print", **base).status_code == 403  # no Origin, no Referer
    # DNS rebinding: a foreign name resolving to us carries its own Host.
    assert client.post("/print", base_url="http://rebind.example:8080",
                       headers={"Origin": "http://rebind.example:8080"}).status_code == 403
    assert station.flow.codebook.count("queued") == 0
    ok = client.post("/print", headers={"Origin": "http://127.0.0.1:8080"}, **base)
    assert ok.status_code == 303 and station.flow.codebook.count("queued") == 1
    assert client.get("/state.json", **base).get_json()["queue"] == 1
    station.outbox.close()


def test_a_foot_pedal_key_prints_like_the_button_once_per_press(tmp_path: Path, screen) -> None:  # type: ignore[no-untyped-def]
    k = Kiosk(tmp_path, {"driver": "file"})
    page = screen(k)
    page.keyboard.press("PageDown")  # what most USB pedals send
    expect(page.locator("#today")).to_have_text("1", timeout=10_000)
    # Held down, the pedal's key auto-repeats: the repeats print nothing more.
    page.keyboard.down("PageDown")
    expect(page.locator("#today")).to_have_text("2", timeout=10_000)
    page.evaluate("""() => { for (let i = 0; i < 5; i++)
        document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'PageDown', repeat: true, bubbles: true})); }""")
    page.keyboard.up("PageDown")
    page.wait_for_timeout(500)
    assert len(events(tmp_path, "printed")) == 2
