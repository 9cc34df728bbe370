"""Who may see and change what, on every console route: a cooperative manager never sees
or changes another cooperative's data, an inspector reads everything and changes nothing,
anonymous visitors get the sign-in page, and a form without its CSRF token is refused."""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from hub import db as hubdb
from hub.models import (Alert, AuditLog, Batch, Certificate, Cooperative, DiaryEntry, Product, Stamp, StampBlock,
                        StationCommand, StationConfigPush)
from tests.ops_fixtures import *  # noqa: F403
from tests.ops_fixtures import Coop, Seeded, flashes

PARAMS = {"station_id": "station", "coop_id": "id", "product_id": "product_id", "batch_id": "batch_id",
          "entry_id": "diary_id", "block_id": "block_id", "alert_id": "alert_id", "cert_id": "cert_id"}


def _routes(app: Flask, prefix: str = "ops.") -> list[tuple[str, str, list[str]]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(prefix):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                out.append((rule.rule, method, sorted(rule.arguments)))
    return sorted(out)


def _url(rule: str, coop: Coop) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(getattr(coop, PARAMS[m.group(1)])), rule)


def _hostile_form(b: Coop) -> dict[str, Any]:
    return {"name": "hacked", "gtin": b.gtin, "name_vi": "hacked", "lot": "HACK", "product_id": b.product_id,
            "cooperative_id": b.id, "station_id": b.station, "count": 5, "first": b.first_serial,
            "last": b.first_serial, "reason": "other", "stage": "other", "day": "2026-11-02", "note": "hacked",
            "action": "resolve", "format": "json", "config": '{"place": "hacked"}', "delete": "", "kind": "vietgap"}


def snapshot(url: str, b: Coop) -> dict[str, Any]:
    engine = hubdb.make_engine(url)
    with hubdb.sessions(engine)() as s:
        snap = {
            "coop": s.get(Cooperative, b.id).name,
            "product": (s.get(Product, b.product_id).name_vi, s.get(Product, b.product_id).gtin),
            "batches": sorted(s.scalars(select(Batch.lot).where(Batch.product_id == b.product_id))),
            "diary": sorted(s.scalars(select(DiaryEntry.note).where(DiaryEntry.batch_id == b.batch_id))),
            "block": s.get(StampBlock, b.block_id).station_id,
            "stamps": sorted(s.execute(select(Stamp.state, func.count()).where(Stamp.gtin == b.gtin)
                                       .group_by(Stamp.state)).all()),
            "alert": (s.get(Alert, b.alert_id).acknowledged_at, s.get(Alert, b.alert_id).resolved_at),
            "commands": s.scalar(select(func.count()).select_from(StationCommand)
                                 .where(StationCommand.station_id == b.station)),
            "pushes": s.scalar(select(func.count()).select_from(StationConfigPush)
                               .where(StationConfigPush.station_id == b.station)),
            "certificates": sorted(s.scalars(select(Certificate.number).where(Certificate.product_id == b.product_id))),
        }
    engine.dispose()
    return snap


def test_every_console_route_is_listed_here(ops_app: Flask) -> None:
    # Given the console's routes, then each parameter is one this file knows how to fill
    for rule, _method, args in _routes(ops_app):
        assert set(args) <= set(PARAMS), f"{rule}: teach PARAMS about {args}"


def test_anonymous_visitors_get_the_sign_in_page_everywhere(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    c = console()
    for rule, method, _args in _routes(ops_app):
        url = _url(rule, ops_seeded.a)
        r = c.get(url) if method == "GET" else c.post(url, {"name": "x"})
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), (method, url, r.status_code)
    r = c.get("/login")
    assert r.status_code == 200 and 'name="password"' in r.get_data(as_text=True)


def test_a_manager_cannot_see_another_cooperatives_pages(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a")
    b = ops_seeded.b
    for rule, method, args in _routes(ops_app):
        if method != "GET":
            continue
        r = mgr.get(_url(rule, b))
        body = r.get_data(as_text=True)
        if args:
            assert r.status_code == 404, (rule, r.status_code)
        else:
            assert r.status_code in (200, 403), (rule, r.status_code)
        for secret in ("HTX B", "Sản phẩm B", "LOT-B", "pr-b", "hết giấy b", "bad b", "thu hoạch b", b.gtin):
            assert secret not in body, (rule, secret)


def test_a_manager_sees_their_own_cooperative(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a")
    a = ops_seeded.a
    for rule, method, args in _routes(ops_app):
        if method == "GET" and rule not in ("/ops/audit", "/ops/inspect", "/ops/settings"):  # not a manager's
            assert mgr.get(_url(rule, a)).status_code == 200, rule
    assert "HTX A" in mgr.get("/ops/cooperatives").get_data(as_text=True)
    assert "hết giấy a" in mgr.get("/ops/alerts").get_data(as_text=True)


def test_a_manager_cannot_change_another_cooperatives_data(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a")
    b = ops_seeded.b
    before = snapshot(ops_seeded.url, b)
    for rule, method, args in _routes(ops_app):
        if method != "POST":
            continue
        r = mgr.post(_url(rule, b), _hostile_form(b), follow_redirects=False)
        if args:
            assert r.status_code in (403, 404), (rule, r.status_code)
        else:
            assert r.status_code in (200, 302, 403, 404), (rule, r.status_code)
        assert "Sản phẩm B" not in r.get_data(as_text=True), rule
    assert snapshot(ops_seeded.url, b) == before


def test_an_inspector_reads_everything_and_changes_nothing(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    insp = console("inspector")
    b = ops_seeded.b
    for rule, method, _args in _routes(ops_app):
        if method == "GET" and rule not in ("/ops/audit", "/ops/settings"):  # admin only
            assert insp.get(_url(rule, b)).status_code == 200, rule
    before = snapshot(ops_seeded.url, b)
    for rule, method, _args in _routes(ops_app):
        if method == "POST" and rule != "/ops/inspect":  # recording inspections is the inspector's job
            assert insp.post(_url(rule, b), _hostile_form(b)).status_code == 403, rule
    assert snapshot(ops_seeded.url, b) == before
    assert "HTX B" in insp.get("/ops/cooperatives").get_data(as_text=True)


def test_only_an_admin_reads_the_audit_log(ops_app: Flask, console) -> None:  # type: ignore[no-untyped-def]
    assert console("mgr_a").get("/ops/audit").status_code == 403
    assert console("inspector").get("/ops/audit").status_code == 403
    r = console("admin").get("/ops/audit")
    assert r.status_code == 200 and "login" in r.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    admin = console("admin")
    a = ops_seeded.a
    before = snapshot(ops_seeded.url, a)
    for rule, method, _args in _routes(ops_app):
        if method == "POST":
            r = admin.post(_url(rule, a), _hostile_form(a), csrf=False)
            assert r.status_code == 400, rule
            assert "form expired" in r.get_data(as_text=True) or "Biểu mẫu" in r.get_data(as_text=True)
    r = admin.post(f"/ops/cooperatives/{a.id}", {"name": "forged", "csrf_token": "not-the-token"}, csrf=False)
    assert r.status_code == 400
    assert snapshot(ops_seeded.url, a) == before


def test_sign_in_refuses_a_wrong_password_and_a_station_identity(ops_app: Flask, console) -> None:  # type: ignore[no-untyped-def]
    c = console()
    c.get("/login")
    r = c.post("/login", {"username": "admin", "password": "wrong password"})
    assert r.status_code == 401
    assert flashes(r) and c.get("/ops/").status_code == 302
    r = c.post("/login", {"username": "nobody", "password": "correct horse battery"})
    assert r.status_code == 401


def test_every_change_lands_in_the_audit_log(ops_app: Flask, ops_seeded: Seeded, console) -> None:  # type: ignore[no-untyped-def]
    mgr = console("mgr_a")
    r = mgr.post(f"/ops/batches/{ops_seeded.a.batch_id}/diary",
                 {"stage": "packing", "day": "2026-11-03", "note": "đóng gói"}, follow_redirects=True)
    assert r.status_code == 200
    engine = hubdb.make_engine(ops_seeded.url)
    with hubdb.sessions(engine)() as s:
        row = s.scalars(select(AuditLog).where(AuditLog.target_type == "diary_entry")
                        .order_by(AuditLog.id.desc())).first()
    engine.dispose()
    assert row is not None and row.username == "mgr_a" and row.cooperative_id == ops_seeded.a.id


@pytest.mark.parametrize("lang, word", [("vi", "Đăng nhập"), ("en", "Sign in")])
def test_the_sign_in_page_speaks_vietnamese_first(ops_app: Flask, console, lang: str, word: str) -> None:  # type: ignore[no-untyped-def]
    c = console()
    r = c.get(f"/login?lang={lang}")
    assert word in r.get_data(as_text=True)


def test_an_inspector_records_an_inspection_and_a_failed_one_raises_an_alert(ops_app: Flask, ops_seeded: Seeded,
                                                                            console) -> None:  # type: ignore[no-untyped-def]
    insp = console("inspector")
    serial = ops_seeded.b.first_serial
    r = insp.post("/ops/inspect", {"serial": serial.lower(), "result": "non_conformant", "note": "tem mờ"},
                  follow_redirects=True)
    assert any(serial in m for m in flashes(r)), flashes(r)
    assert "tem mờ" in r.get_data(as_text=True)
    alerts = console("mgr_b").get("/ops/alerts").get_data(as_text=True)
    assert "inspection_failed" in alerts
    r = insp.post("/ops/inspect", {"serial": "0000-0000-0000-0000", "result": "conformant"}, follow_redirects=True)
    assert any("không phải tem của hệ thống này" in m for m in flashes(r)), flashes(r)
    assert console("mgr_a").post("/ops/inspect", {"serial": serial, "result": "conformant"}).status_code == 403
