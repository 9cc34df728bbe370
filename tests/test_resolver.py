"""The hub as a GS1 resolver and the public pages over HTTP (Flask test client), on
SQLite and PostgreSQL: content negotiation, linkType, status codes, the forms a
printed QR code takes, languages, check counting, clone alerts and rate limits."""
from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from alembic import command
from babel.messages.extract import extract_from_dir
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import db as hubdb
from hub.i18n import SOURCE
from hub.ingest import Applier, Incoming
from hub.models import Alert, BatchOutlet, Event, Stamp, Station
from tests.web_fixtures import *  # noqa: F403
from tem import messages, topics
from tests.web_fixtures import GTIN, GTIN13, LOT, OTHER_GTIN, T0, Story, make_app

LINKSET = "application/linkset+json"
VOC = "https://gs1.org/voc/"


@pytest.fixture
def client(hub_app: Flask) -> FlaskClient:
    return hub_app.test_client()


def verdict(response) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'data-verdict="(\w+)"', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:500]
    return found.group(1)


def stamp_url(serial: str, gtin: str = GTIN) -> str:
    return f"/01/{gtin}/21/{serial}"


# --- what a consumer's phone gets from the URL printed in the QR code -------------------------

def test_uppercase_url_from_qr_resolves_like_lowercase(client: FlaskClient, story: Story) -> None:
    serial = story.serials["genuine"]
    upper = client.get(stamp_url(serial.upper()))
    lower = client.get(stamp_url(serial.lower()))
    short_upper = client.get(f"/T/{serial.upper()}")
    short_lower = client.get(f"/t/{serial.lower()}")
    for response in (upper, lower, short_upper, short_lower):
        assert response.status_code == 200
        assert verdict(response) == "genuine"
        assert "Cá thát lát rút xương" in response.get_data(as_text=True)


def test_gtin13_in_path_works_like_gtin14(client: FlaskClient, story: Story) -> None:
    serial = story.serials["genuine"]
    r13 = client.get(stamp_url(serial, GTIN13))
    r14 = client.get(stamp_url(serial, GTIN))
    assert r13.status_code == r14.status_code == 200
    assert verdict(r13) == verdict(r14) == "genuine"
    assert client.get(f"/01/{GTIN13}/10/{LOT}").status_code == 200


def test_each_verdict_is_shown(client: FlaskClient, story: Story) -> None:
    expected = {"genuine": "genuine", "sold": "sold", "not_active": "not_active", "issued": "not_active",
                "void": "void", "recalled": "void", "clone_far": "clone", "clone_many": "clone"}
    for role, kind in expected.items():
        assert verdict(client.get(stamp_url(story.serials[role]))) == kind, role


def test_forged_or_mistyped_code_is_not_a_tem_stamp(client: FlaskClient, story: Story) -> None:
    real = story.serials["genuine"]
    forged = real[:-1] + ("0" if real[-1] != "0" else "1")
    for url in (stamp_url(forged), f"/t/{forged}", "/t/HELLO", stamp_url("ABC123")):
        response = client.get(url)
        assert response.status_code == 404, url
        assert verdict(response) == "not_tem"
        assert "Không phải tem Tem" in response.get_data(as_text=True)


def test_stamp_under_another_products_gtin_is_not_tem(client: FlaskClient, story: Story) -> None:
    response = client.get(stamp_url(story.serials["genuine"], OTHER_GTIN))
    assert response.status_code == 404 and verdict(response) == "not_tem"


def test_unknown_product_and_unknown_lot_are_404(client: FlaskClient, story: Story) -> None:
    unknown = "893850597099" + "0"
    from tem.gs1 import check_digit
    unknown = unknown[:-1] + str(check_digit(unknown[:-1]))
    assert client.get(f"/01/{unknown}").status_code == 404
    assert client.get(f"/01/{GTIN}/10/NOPE").status_code == 404


@pytest.mark.parametrize("path, why", [
    (f"/01/{GTIN[:-1]}9/21/A0000001BCD5K13C", "check digit"),
    ("/01/12345/21/A0000001BCD5K13C", "digits"),
    ("/01/ABCDEFGHIJKLMN", "only digits"),
    (f"/01/{GTIN}/21/X/10/Y", "out of order"),
    (f"/01/{GTIN}/99/X", "not a qualifier"),
    (f"/01/{GTIN}/10/{LOT}?17=991399", "not a real date"),
])
def test_malformed_digital_link_gets_400_that_explains(client: FlaskClient, story: Story, path: str,
                                                       why: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert why in body
    assert "Địa chỉ này không hợp lệ" in body  # the explanation, in Vietnamese by default


def test_wrong_check_digit_tells_the_right_one(client: FlaskClient, story: Story) -> None:
    bad = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    body = client.get(f"/01/{bad}").get_data(as_text=True)
    assert f"it should be {GTIN[-1]}" in body


# --- GS1 resolver: linksets, linkType, HEAD/OPTIONS, CORS ------------------------------------

def _entries(response) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    return {e["anchor"]: e for e in response.get_json(force=True)["linkset"]}


def test_accept_linkset_json_returns_rfc9264_linkset(client: FlaskClient, story: Story) -> None:
    serial = story.serials["genuine"]
    response = client.get(stamp_url(serial), headers={"Accept": LINKSET})
    assert response.status_code == 200
    assert response.mimetype == LINKSET
    entries = _entries(response)
    root = "http://localhost"
    item = entries[f"{root}/01/{GTIN}/21/{serial}"]
    for rel in ("pip", "certificationInfo", "traceability", "verificationService", "defaultLink",
                "locationInfo", "hasRetailers"):
        assert VOC + rel in item, rel
        for link in item[VOC + rel]:
            assert link["href"].startswith("http") and link["type"] and link["hreflang"] == ["vi", "en"]
    assert item[VOC + "pip"][0]["href"] == f"{root}/01/{GTIN}"
    assert {c["href"] for c in item[VOC + "certificationInfo"]} == {
        "https://ocop.example.vn/hg/123", f"{root}/01/{GTIN}#certificates"}
    # The lot- and GTIN-level links come along.
    assert f"{root}/01/{GTIN}/10/{LOT}" in entries and f"{root}/01/{GTIN}" in entries


@pytest.mark.parametrize("value", ["all", "linkset"])
def test_linktype_all_or_linkset_returns_the_linkset(client: FlaskClient, story: Story, value: str) -> None:
    response = client.get(f"{stamp_url(story.serials['genuine'])}?linkType={value}")
    assert response.status_code == 200 and response.mimetype == LINKSET
    assert len(_entries(response)) == 3


def test_linkset_of_a_lot_and_of_a_gtin(client: FlaskClient, story: Story) -> None:
    lot = _entries(client.get(f"/01/{GTIN}/10/{LOT}", headers={"Accept": LINKSET}))
    assert VOC + "traceability" in lot[f"http://localhost/01/{GTIN}/10/{LOT}"]
    gtin = _entries(client.get(f"/01/{GTIN}?linkType=all"))
    assert list(gtin) == [f"http://localhost/01/{GTIN}"]


def test_linktype_redirects_307_and_passes_the_query_on(client: FlaskClient, story: Story) -> None:
    response = client.get(f"{stamp_url(story.serials['genuine'])}?linkType=gs1:pip&17=270220&src=qr")
    assert response.status_code == 307
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/01/{GTIN}"
    assert dict(parse_qsl(location.query)) == {"17": "270220", "src": "qr"}


def test_linktype_as_full_uri_and_certification_link(client: FlaskClient, story: Story) -> None:
    response = client.get(f"/01/{GTIN}?linkType={VOC}certificationInfo")
    assert response.status_code == 307
    assert response.headers["Location"] == "https://ocop.example.vn/hg/123"


def test_unoffered_linktype_falls_back_to_the_default_link(client: FlaskClient, story: Story) -> None:
    serial = story.serials["genuine"]
    response = client.get(f"{stamp_url(serial)}?linkType=gs1:recipeInfo")
    assert response.status_code == 307
    assert response.headers["Location"].endswith(f"/01/{GTIN}/21/{serial}")


def test_linkset_for_an_unknown_stamp_is_a_404_problem(client: FlaskClient, story: Story) -> None:
    response = client.get(stamp_url("A0000000ZZZZZZZZ"), headers={"Accept": LINKSET})
    assert response.status_code == 404 and response.get_json()["status"] == 404


def test_html_page_points_to_its_linkset(client: FlaskClient, story: Story) -> None:
    response = client.get(f"/01/{GTIN}")
    assert 'rel="linkset"' in response.headers["Link"]


def test_head_options_and_cors(client: FlaskClient, story: Story) -> None:
    url = stamp_url(story.serials["not_active"])
    head = client.head(url)
    assert head.status_code == 200 and head.get_data() == b""
    options = client.options(url)
    assert options.status_code == 200
    assert "GET" in options.headers["Allow"] and "HEAD" in options.headers["Allow"]
    assert options.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get(url).headers["Access-Control-Allow-Origin"] == "*"


def test_well_known_gs1resolver(client: FlaskClient, story: Story) -> None:
    data = client.get("/.well-known/gs1resolver").get_json()
    assert data["resolverRoot"] == "http://localhost"
    assert "gtin" in data["supportedPrimaryKeys"]
    assert "gs1:pip" in data["linkTypes"]


# --- languages --------------------------------------------------------------------------------

def test_vietnamese_by_default_english_by_browser_or_switch(client: FlaskClient, story: Story) -> None:
    url = stamp_url(story.serials["genuine"])
    assert "Tem thật" in client.get(url).get_data(as_text=True)
    assert "Genuine Tem stamp" in client.get(url, headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(
        as_text=True)
    assert "Tem thật" in client.get(url, headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}).get_data(
        as_text=True)
    switched = client.get(url + "?lang=en")
    assert "Genuine Tem stamp" in switched.get_data(as_text=True)
    assert "lang=en" in switched.headers["Set-Cookie"]
    assert "Genuine Tem stamp" in client.get(url).get_data(as_text=True)  # the cookie remembers


def test_every_page_string_has_a_vietnamese_translation() -> None:
    from babel.messages.pofile import read_po
    # Every catalogue the app loads (the public pages' messages.po, the console's ops.po).
    translated: dict[str, str] = {}
    for po in sorted((SOURCE / "vi" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            for message in read_po(f):
                key = message.id if isinstance(message.id, str) else message.id[0]
                text = message.string if isinstance(message.string, str) else "".join(message.string)
                if key and text:
                    translated[key] = text
    hub_dir = Path(__file__).resolve().parent.parent / "hub"
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    wanted = {msg[2] for msg in extract_from_dir(str(hub_dir), method_map, keywords={"_": None, "_l": None,
                                                                                   "gettext": None,
                                                                                   "ngettext": (1, 2)})}
    missing = [m for m in wanted if (m if isinstance(m, str) else m[0]) not in translated]
    assert not missing, f"untranslated: {missing}"


# --- checks, clones, limits -------------------------------------------------------------------

def _stamp_checks(url: str, serial: str) -> tuple[int, int, list[dict]]:  # type: ignore[type-arg]
    engine = hubdb.make_engine(url)
    with hubdb.sessions(engine)() as s:
        checks = s.scalar(select(Stamp.checks).where(Stamp.serial == serial))
        web = s.scalars(select(Event).where(Event.serial == serial, Event.station_id == "web")).all()
        alerts = s.scalar(select(func.count()).select_from(Alert).where(Alert.serial == serial,
                                                                         Alert.kind == "suspected_clone"))
        bodies = [e.body for e in web]
    engine.dispose()
    return checks or 0, alerts or 0, bodies


def test_a_view_records_one_checked_event_and_reloads_do_not_count(client: FlaskClient, story: Story) -> None:
    serial = story.spare[0]
    for _ in range(5):
        assert client.get(stamp_url(serial)).status_code == 200
    client.head(stamp_url(serial))
    client.get(stamp_url(serial), headers={"Accept": LINKSET})
    checks, _alerts, bodies = _stamp_checks(story.url, serial)
    assert checks == 1 and len(bodies) == 1
    assert bodies[0]["type"] == "checked"
    assert "127.0.0.1" not in str(bodies[0])  # no personal data
    # Another phone counts.
    client.get(stamp_url(serial), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert _stamp_checks(story.url, serial)[0] == 2


def test_suspected_clone_raises_one_alert_for_operators(client: FlaskClient, story: Story) -> None:
    serial = story.serials["clone_far"]
    for addr in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        response = client.get(stamp_url(serial), environ_base={"REMOTE_ADDR": addr})
        assert verdict(response) == "clone"
        assert "tem sao chép" in response.get_data(as_text=True)
    assert _stamp_checks(story.url, serial)[1] == 1


def test_too_many_requests_get_a_friendly_vietnamese_page(story: Story, tmp_path: Path) -> None:
    app = make_app(story.url, tmp_path, TEM_PUBLIC_LIMIT="3 per minute")
    client = app.test_client()
    codes = [client.get(f"/01/{GTIN}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get(f"/01/{GTIN}")
    assert "Vui lòng chờ một chút" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


def test_batch_page_shows_the_diary_and_accepts_uppercased_lot(client: FlaskClient, story: Story) -> None:
    for lot in (LOT, LOT.lower()):
        body = client.get(f"/01/{GTIN}/10/{lot}").get_data(as_text=True)
        assert "Thả 20.000 con giống" in body and "Gieo trồng" in body


def test_static_assets_are_cached_for_long(client: FlaskClient, story: Story) -> None:
    body = client.get(f"/01/{GTIN}").get_data(as_text=True)
    css = re.search(r'href="(/static/tem\.css\?v=\w+)"', body).group(1)  # type: ignore[union-attr]
    response = client.get(css)
    assert response.status_code == 200 and "max-age=31536000" in response.headers["Cache-Control"]


def test_checks_written_in_bulk_off_the_request_reach_the_database(story: Story, tmp_path: Path) -> None:
    # Given the production setting: page views queue their checks for a writer thread
    app = make_app(story.url, tmp_path, TEM_CHECK_FLUSH_MS=50)
    client = app.test_client()
    serial = story.spare[1]
    before = _stamp_checks(story.url, serial)[0]
    # When three phones open the page
    for addr in ("10.9.0.1", "10.9.0.2", "10.9.0.3"):
        body = client.get(stamp_url(serial), environ_base={"REMOTE_ADDR": addr}).get_data(as_text=True)
    # Then the page already shows the check, and the events reach the database within moments
    assert "Được quét kiểm tra" in body
    recorder = app.extensions["tem.checks"]
    for _ in range(100):
        if _stamp_checks(story.url, serial)[0] == before + 3:
            break
        time.sleep(0.05)
    checks, _alerts, bodies = _stamp_checks(story.url, serial)
    assert checks == before + 3 and len(bodies) >= 3
    # And what is still queued at shutdown is written, not lost
    client.get(stamp_url(serial), environ_base={"REMOTE_ADDR": "10.9.0.4"})
    recorder.close()
    assert _stamp_checks(story.url, serial)[0] == before + 4


# --- where to buy, kept by the ingestor; batch parts as fresh as the facts they show ----------

def _outlets(url: str) -> set[tuple[int, str]]:
    engine = hubdb.make_engine(url)
    try:
        with engine.connect() as conn:
            return {(r.batch_id, r.station_id) for r in conn.execute(select(BatchOutlet))}
    finally:
        engine.dispose()


def _send(url: str, model: type, station: str, **fields: object):  # type: ignore[no-untyped-def]
    engine = hubdb.make_engine(url)
    try:
        event = model(id=uuid.uuid4(), seq=time.time_ns() // 1000, station=station, at=T0 + dt.timedelta(days=5),
                      **fields)
        return Applier(hubdb.sessions(engine)).apply([Incoming(topics.topic(station, "evt"), event.dump())])
    finally:
        engine.dispose()


def _add_stall(url: str) -> None:
    engine = hubdb.make_engine(url)
    try:
        with hubdb.sessions(engine)() as s, s.begin():
            if s.get(Station, "stall-dn") is None:
                s.add(Station(id="stall-dn", kind="stall", name="Sạp Đà Nẵng", place="Chợ Hàn, Đà Nẵng",
                              province="Đà Nẵng", lat=16.0680, lon=108.2240))
    finally:
        engine.dispose()


def _stalls_listed(body: str) -> list[str]:
    section = body.split('id="where-to-buy"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<strong>([^<]+)</strong>", section)


def test_where_to_buy_lists_the_stalls_that_checked_or_sold_the_batch(story: Story, tmp_path: Path) -> None:
    # Given the stalls that checked and sold stamps of the lot, through the ingestor, and one more stall
    _add_stall(story.url)
    outlets = _outlets(story.url)
    assert {station for _batch, station in outlets} == {"stall-ct", "stall-hn"}
    # When a stall tries to sell a cancelled stamp, the ingestor refuses it: that stall sold nothing
    out = _send(story.url, messages.SoldEvent, "stall-dn", serial=story.serials["void"])
    assert out.refused == 1 and _outlets(story.url) == outlets
    # Then a stamp's page lists both stalls by name, the refused one not
    body = make_app(story.url, tmp_path).test_client().get(stamp_url(story.serials["genuine"])).get_data(as_text=True)
    assert _stalls_listed(body) == ["Sạp chị Hoa", "Sạp cô Ba"]
    # And the migration rebuilds the same table from the events already applied
    command.downgrade(hubdb.alembic_config(story.url), "0006")
    hubdb.upgrade(story.url)
    assert _outlets(story.url) == outlets


def test_batch_parts_follow_the_facts_they_show(story: Story, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a worker that has shown the lot's stalls (its parts cached for the batch)
    _add_stall(story.url)
    app = make_app(story.url, tmp_path)
    client = app.test_client()
    url = stamp_url(story.serials["genuine"])
    assert "Sạp Đà Nẵng" not in _stalls_listed(client.get(url).get_data(as_text=True))
    # When a new stall checks a stamp of the lot and the worker's "where to buy" is reloaded
    assert _send(story.url, messages.CheckedEvent, "stall-dn", serial=story.spare[7]).new_events == 1
    monkeypatch.setitem(app.extensions["tem.page_facts"].TTL, "outlets", 0)
    # Then the page lists it as soon as the reloaded facts arrive, in both languages
    for _ in range(100):
        if "Sạp Đà Nẵng" in _stalls_listed(client.get(url).get_data(as_text=True)):
            break
        time.sleep(0.05)
    assert "Sạp Đà Nẵng" in _stalls_listed(client.get(url).get_data(as_text=True))
    assert "Sạp Đà Nẵng" in _stalls_listed(client.get(url + "?lang=en").get_data(as_text=True))
