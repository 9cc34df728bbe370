"""Fixtures for the operator console and the API: a hub database (SQLite or PostgreSQL)
with two cooperatives, each with a product, batch, diary, print station, stamp block
and alert, and one user per role; signed-in test clients that carry the CSRF token."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub import db as hubdb
from hub.app import create_app
from hub.auth import create_token, create_user
from hub.models import Alert, Batch, Certificate, Cooperative, DiaryEntry, Product, Quarantine, Station
from hub.ops import registry
from tem import gs1
from tem.codes import Keyring

KEYRING = Keyring({"A": b"ops-test-key-0123456789abcdef"})
PASSWORD = "correct horse battery"


def gtin(body: str) -> str:
    return (body + str(gs1.check_digit(body))).zfill(14)


@dataclass
class Coop:
    id: int
    name: str
    product_id: int
    gtin: str
    batch_id: int
    diary_id: int
    station: str
    block_id: int
    alert_id: int
    first_serial: str = ""
    cert_id: int = 0


@dataclass
class Seeded:
    url: str
    a: Coop
    b: Coop
    tokens: dict[str, str] = field(default_factory=dict)


def seed(url: str) -> Seeded:
    engine = hubdb.make_engine(url)
    made: dict[str, Coop] = {}
    tokens: dict[str, str] = {}
    with hubdb.sessions(engine)() as s, s.begin():
        for key, body, district in (("a", "893850597101", "Vị Thanh"), ("b", "893850597202", "Cái Răng")):
            coop = Cooperative(name=f"HTX {key.upper()}", district=district, province="Hậu Giang")
            s.add(coop)
            s.flush()
            product = Product(gtin=gtin(body), name_vi=f"Sản phẩm {key.upper()}", cooperative_id=coop.id)
            s.add(product)
            s.flush()
            batch = Batch(product_id=product.id, lot=f"LOT-{key.upper()}", quantity=100)
            s.add(batch)
            s.flush()
            entry = DiaryEntry(batch_id=batch.id, stage="harvest", day=dt.date(2026, 11, 1), note=f"thu hoạch {key}")
            s.add(entry)
            station = Station(id=f"pr-{key}", kind="print", name=f"Máy in {key}", cooperative_id=coop.id)
            s.add(station)
            s.flush()
            block = registry.issue_block(s, KEYRING, product, 20, "seed")
            alert = Alert(kind="paper_out", station_id=station.id, message=f"hết giấy {key}")
            s.add(alert)
            s.add(Quarantine(topic=f"tem/v1/pr-{key}/evt", station_id=station.id, reason=f"bad {key}", payload="{}"))
            s.flush()
            cert = Certificate(product_id=product.id, kind="vietgap", number=f"VG-{key.upper()}",
                               issuer="Chi cục", valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2027, 1, 1))
            s.add(cert)
            s.flush()
            made[key] = Coop(coop.id, coop.name, product.id, product.gtin, batch.id, entry.id, station.id, block.id,
                             alert.id, block.first_serial, cert.id)
        users = {"admin": create_user(s, "admin", PASSWORD, "admin"),
                 "mgr_a": create_user(s, "mgr_a", PASSWORD, "manager", made["a"].id),
                 "mgr_b": create_user(s, "mgr_b", PASSWORD, "manager", made["b"].id),
                 "inspector": create_user(s, "inspector", PASSWORD, "inspector")}
        for name, user in users.items():
            tokens[name] = create_token(s, user, "tests")
    engine.dispose()
    return Seeded(url, made["a"], made["b"], tokens)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ops_seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with hubdb.scratch_database(request.param, tmp_path_factory.mktemp("opsdb"), "tem_ops") as url:
        yield seed(url)


def make_app(url: str, instance: Path, **config: Any) -> Flask:
    app = create_app({"TEM_INSTANCE": str(instance), "DATABASE_URL": url, "TESTING": True, **config})
    app.extensions["tem.keyring"] = KEYRING
    return app


@pytest.fixture(scope="module")
def ops_app(ops_seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_app(ops_seeded.url, tmp_path_factory.mktemp("instance"), RATELIMIT_ENABLED=False)
    yield app
    pub = app.extensions.get("tem.publisher")
    if pub:
        pub.close()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    """A browser-like client: signs in through the form and sends the page's CSRF token."""

    def __init__(self, client: FlaskClient):
        self.client = client
        self.token = ""

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        r = self.client.get(path, **kw)
        m = CSRF.search(r.get_data(as_text=True)) if r.mimetype == "text/html" else None
        if m:
            self.token = m.group(1)
        return r

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kw: Any):  # type: ignore[no-untyped-def]
        if csrf and not self.token:
            self.get("/login")
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        return self.client.post(path, data=data, **kw)

    def sign_in(self, username: str, password: str = PASSWORD) -> "Console":
        self.get("/login")
        r = self.post("/login", {"username": username, "password": password})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        self.get("/ops/")
        return self


def flashes(response) -> list[str]:  # type: ignore[no-untyped-def]
    import html
    return [html.unescape(m) for m in re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', response.get_data(as_text=True))]


@pytest.fixture
def console(ops_app: Flask):  # type: ignore[no-untyped-def]
    def make(username: str | None = None, lang: str | None = None) -> Console:
        c = Console(ops_app.test_client())
        if lang:
            c.client.set_cookie("lang", lang)
        return c.sign_in(username) if username else c
    return make
