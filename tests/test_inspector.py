"""The inspector's view on the public stamp URL: a signed-in inspector sees every event of
the stamp with its device, the lot's registered / printed / activated / checked counts, and
records an inspection with a CSRF-protected form; consumers and managers see none of it."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hub import db as hubdb
from hub.auth import create_user
from hub.models import Alert, Cooperative, Event, User
from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import GTIN, Story

PASSWORD = "inspect-0123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def users(story: Story) -> Story:
    engine = hubdb.make_engine(story.url)
    with hubdb.sessions(engine)() as s, s.begin():
        if s.scalar(select(User.id).where(User.username == "thanhtra")) is None:
            create_user(s, "thanhtra", PASSWORD, "inspector")
            create_user(s, "quanly", PASSWORD, "manager", s.scalar(select(Cooperative.id).limit(1)))
    engine.dispose()
    return story


def sign_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def inspector(hub_app: Flask, users: Story) -> Iterator[FlaskClient]:
    yield sign_in(hub_app, "thanhtra")


def url(serial: str) -> str:
    return f"/01/{GTIN}/21/{serial}"


def events_of(story: Story, serial: str, kind: str) -> list[Event]:
    engine = hubdb.make_engine(story.url)
    with hubdb.sessions(engine)() as s:
        rows = list(s.scalars(select(Event).where(Event.serial == serial, Event.type == kind)))
    engine.dispose()
    return rows


def test_inspector_sees_every_event_with_its_device_and_the_lot_counts(inspector: FlaskClient,
                                                                         story: Story) -> None:
    serial = story.serials["sold"]
    body = inspector.get(url(serial)).get_data(as_text=True)
    section = body[body.index('id="inspector"'):body.index("</section>", body.index('id="inspector"'))]
    assert "Dành cho thanh tra" in section
    # every event, with the device that recorded it (the stall's check too, not folded into a count)
    for kind, device in (("printed", "pr-1"), ("activated", "act-1"), ("checked", "stall-ct"),
                         ("sold", "stall-ct")):
        assert re.search(rf"<td>{kind}</td>\s*<td class=\"code\">{device} #\d+", section), (kind, device)
    counts = re.search(r"<td>(\S+)</td><td>(\d+)</td><td>(\d+)</td>\s*<td>(\d+) ", section)
    assert counts and counts.group(1) == "5000"  # the lot's registered quantity
    printed, activated, checked = map(int, counts.groups()[1:])
    assert printed >= activated >= 1 and checked >= 1
    # the public page is still there below
    assert 'data-verdict="sold"' in body


def test_inspector_records_an_inspection_with_the_form(inspector: FlaskClient, story: Story) -> None:
    serial = story.spare[5]
    page = inspector.get(url(serial)).get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    r = inspector.post(url(serial), data={"csrf_token": token, "result": "non_conformant", "note": "nhãn mờ"})
    assert r.status_code == 303 and r.headers["Location"].endswith(url(serial))
    after = inspector.get(url(serial)).get_data(as_text=True)
    assert "Đã ghi nhận kết quả kiểm tra." in after
    assert re.search(r"<td>inspected</td>\s*<td class=\"code\">@thanhtra", after)
    recorded = events_of(story, serial, "inspected")
    assert len(recorded) == 1 and recorded[0].body["result"] == "non_conformant"
    assert recorded[0].body["by"] == "thanhtra"
    engine = hubdb.make_engine(story.url)
    with hubdb.sessions(engine)() as s:
        assert s.scalar(select(Alert.id).where(Alert.serial == serial, Alert.kind == "inspection_failed"))
    engine.dispose()
    # an inspector at work is not a consumer's check
    assert events_of(story, serial, "checked") == []


def test_inspection_form_without_csrf_token_is_refused(inspector: FlaskClient, story: Story) -> None:
    serial = story.spare[6]
    r = inspector.post(url(serial), data={"result": "conformant"})
    assert r.status_code == 400
    assert events_of(story, serial, "inspected") == []


def test_consumers_and_managers_see_no_inspector_view_and_cannot_post(hub_app: Flask, users: Story) -> None:
    serial = users.serials["genuine"]
    consumer = hub_app.test_client()
    assert 'id="inspector"' not in consumer.get(url(serial)).get_data(as_text=True)
    r = consumer.post(url(serial), data={"result": "conformant"})
    assert r.status_code in (302, 400)  # to sign-in, or refused for want of a CSRF token
    manager = sign_in(hub_app, "quanly")
    page = manager.get(url(serial)).get_data(as_text=True)
    assert 'id="inspector"' not in page
    token = CSRF.search(manager.get("/login").get_data(as_text=True))
    r = manager.post(url(serial), data={"result": "conformant", "csrf_token": token.group(1) if token else ""})
    assert r.status_code in (302, 403)
    assert events_of(users, serial, "inspected") == []
