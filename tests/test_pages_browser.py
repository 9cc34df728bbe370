"""What a person sees on a phone after scanning a stamp: headless Chromium (Debian's
build, driven by Playwright) against a real werkzeug server, for every verdict, in
Vietnamese and English. Screenshots go to test-artifacts/."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import GTIN, LOT, LiveHub, Story

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "locale": "vi-VN",
         "has_touch": True}
GREEN, AMBER, RED = "rgb(20, 108, 46)", "rgb(138, 75, 0)", "rgb(176, 0, 32)"

# verdict role -> (verdict kind, colour, Vietnamese headline, English headline)
VERDICTS = {
    "genuine": ("genuine", GREEN, "Tem thật", "Genuine Tem stamp"),
    "sold": ("sold", GREEN, "Tem thật – sản phẩm đã được bán", "Genuine Tem stamp – already sold"),
    "not_active": ("not_active", AMBER, "Tem chưa được kích hoạt", "Stamp not activated"),
    "void": ("void", RED, "Tem đã bị hủy: hư hỏng", "Stamp cancelled: damaged"),
    "recalled": ("void", RED, "Tem đã bị hủy: sản phẩm bị thu hồi", "Stamp cancelled: product recalled"),
    "clone_far": ("clone", RED, "Cảnh báo: tem này có thể là tem sao chép", "Warning: this stamp may be a copy"),
    "clone_many": ("clone", RED, "Cảnh báo: tem này có thể là tem sao chép", "Warning: this stamp may be a copy"),
    "forged": ("not_tem", RED, "Không phải tem Tem", "Not a Tem stamp"),
}


@pytest.fixture
def phone(browser: Browser, live_hub: LiveHub) -> Iterator[Page]:
    context = browser.new_context(base_url=live_hub.url, **PHONE)
    page = context.new_page()
    yield page
    context.close()


def _shot(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    db = "pg" if "postgresql" in request.node.callspec.id else "sqlite"
    page.screenshot(path=str(ARTIFACTS / f"{name}-{db}.png"), full_page=True)


def _serial(story: Story, role: str) -> str:
    if role == "forged":
        real = story.serials["genuine"]
        return real[:-1] + ("0" if real[-1] != "0" else "1")
    return story.serials[role]


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("role", list(VERDICTS))
def test_scanning_a_stamp_shows_the_verdict_at_the_top(browser: Browser, live_hub: LiveHub, story: Story,
                                                       request: pytest.FixtureRequest, role: str, lang: str) -> None:
    kind, colour, vi, en = VERDICTS[role]
    # Given a phone set to this language, when its camera opens the printed (uppercase) URL
    context = browser.new_context(base_url=live_hub.url, **{**PHONE, "locale": "en-GB" if lang == "en" else "vi-VN"})
    phone = context.new_page()
    phone.goto(f"/01/{GTIN}/21/{_serial(story, role).upper()}")
    # then the verdict is the first thing on the screen, in its colour and words
    box = phone.locator("#verdict")
    assert box.get_attribute("data-verdict") == kind
    assert box.evaluate("e => getComputedStyle(e).backgroundColor") == colour
    assert (vi if lang == "vi" else en) in box.inner_text()
    top = box.bounding_box()
    assert top is not None and top["y"] < 80 and top["height"] < 844
    assert phone.locator("html").get_attribute("lang") == lang
    _shot(phone, request, f"verdict-{role}-{lang}")
    context.close()


def test_timeline_tells_the_story_in_order_and_marks_who_recorded_it(phone: Page, story: Story,
                                                                       request: pytest.FixtureRequest) -> None:
    phone.goto(f"/01/{GTIN}/21/{story.serials['sold']}")
    steps = phone.locator("ol.timeline > li")
    titles = [steps.nth(i).locator("strong").inner_text() for i in range(steps.count())]
    assert titles[:6] == ["Gieo trồng", "Thu hoạch", "Sơ chế, chế biến", "In tem", "Dán tem lên gói và kích hoạt",
                          "Đã bán"]
    assert re.fullmatch(r"Được quét kiểm tra \d+ lần", titles[-1])
    stamps = [steps.nth(i).locator("time").get_attribute("datetime") for i in range(steps.count())]
    assert stamps == sorted(stamps, key=lambda t: t[:10])  # oldest first
    assert steps.nth(0).locator(".src").inner_text() == "Người nhập"
    assert steps.nth(3).locator(".src").inner_text().startswith("Thiết bị ghi nhận")
    # Where to buy names the stall that sold it; the producer can be called and found on a map.
    assert "Sạp cô Ba" in phone.locator("#where-to-buy + ul").inner_text()
    assert phone.get_by_role("link", name="0293 3870 123").get_attribute("href") == "tel:02933870123"
    assert "maps" in (phone.get_by_role("link", name="Xem trên bản đồ").get_attribute("href") or "")
    assert "VietGAP" in phone.locator("section[aria-labelledby=certificates]").inner_text()
    _shot(phone, request, "timeline-sold-vi")


def test_language_and_text_size_switches_work_without_javascript(browser: Browser, live_hub: LiveHub,
                                                                  story: Story,
                                                                  request: pytest.FixtureRequest) -> None:
    context = browser.new_context(base_url=live_hub.url, java_script_enabled=False, **PHONE)
    page = context.new_page()
    page.goto(f"/t/{story.serials['genuine']}")
    assert "Tem thật" in page.locator("#verdict").inner_text()
    page.get_by_role("link", name="English").click()
    assert "Genuine Tem stamp" in page.locator("#verdict").inner_text()
    size = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    page.get_by_role("link", name="Larger text").click()
    larger = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert larger > size * 1.2
    # The choices stay for the next scan.
    page.goto(f"/01/{GTIN}/10/{LOT}")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("html").get_attribute("class") == "large"
    _shot(page, request, "batch-en-large")
    context.close()


def test_page_is_small_and_prints_cleanly(phone: Page, story: Story, request: pytest.FixtureRequest) -> None:
    response = phone.goto(f"/01/{GTIN}/21/{story.serials['genuine']}")
    assert response is not None and len(response.body()) < 20_000
    assert phone.evaluate("() => document.scripts.length") == 0
    phone.emulate_media(media="print")
    assert not phone.locator("header nav").is_visible()
    assert phone.locator("#verdict").is_visible()
    _shot(phone, request, "print-genuine-vi")


def test_every_image_has_a_text_and_every_section_a_heading(phone: Page, story: Story) -> None:
    phone.goto(f"/01/{GTIN}/21/{story.serials['genuine']}")
    assert phone.locator("img:not([alt])").count() == 0
    for section in phone.locator("section[aria-labelledby]").all():
        label = section.get_attribute("aria-labelledby")
        assert phone.locator(f"#{label}").count() == 1
    assert phone.get_by_role("navigation", name="Tùy chọn hiển thị").is_visible()
