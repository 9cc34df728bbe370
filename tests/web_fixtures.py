"""Fixtures for the public pages: a hub database (SQLite or PostgreSQL, one per test
module) seeded with a cooperative's real-looking story, stamps brought to each state
through the ingestor's own code path, and the Flask app over it (optionally served
by a real werkzeug server thread for the browser)."""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from hub import db as hubdb
from hub.app import create_app
from hub.ingest import Applier, Incoming
from hub.models import Batch, Certificate, Cooperative, DiaryEntry, Product, Station
from hub.stamps import mint
from tem import gs1, messages, topics
from tem.codes import Keyring

GTIN13 = "893850597001" + str(gs1.check_digit("893850597001"))
GTIN = GTIN13.zfill(14)
LOT = "L2611A"
OTHER_GTIN = "893850597002" + str(gs1.check_digit("893850597002"))
KEYRING = Keyring({"A": b"web-test-key-0123456789abcdef"})
T0 = dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.timezone.utc)  # 08:30 in Vietnam


@dataclass
class Story:
    """What the seeded database holds, by the role each stamp plays in the tests."""
    url: str
    serials: dict[str, str] = field(default_factory=dict)  # role -> serial
    spare: list[str] = field(default_factory=list)  # active stamps for tests that change state


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def web_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with hubdb.scratch_database(request.param, tmp_path_factory.mktemp("webdb"), "tem_web") as url:
        yield url


class _Line:
    """Sends events the way stations do, through the ingestor's Applier."""

    def __init__(self, applier: Applier):
        self.applier = applier
        self.seq: dict[str, int] = {}

    def send(self, model: type, station: str, at: dt.datetime, **fields: object) -> None:
        self.seq[station] = self.seq.get(station, 0) + 1
        event = model(id=uuid.uuid4(), seq=self.seq[station], station=station, at=at, **fields)
        out = self.applier.apply([Incoming(topics.topic(station, "evt"), event.dump())])
        assert out.new_events == 1 and not out.quarantined and not out.refused, out


def seed(url: str) -> Story:
    engine = hubdb.make_engine(url)
    sessions = hubdb.sessions(engine)
    story = Story(url)
    with sessions() as s, s.begin():
        coop = Cooperative(name="HTX Thủy sản Kỳ Như", address="Ấp 3, xã Vị Tân", district="Vị Thanh",
                           province="Hậu Giang", phone="0293 3870 123", lat=9.7590, lon=105.4730)
        s.add(coop)
        s.flush()
        product = Product(gtin=GTIN, name_vi="Cá thát lát rút xương", name_en="Boneless clown knifefish",
                          category="thủy sản", cooperative_id=coop.id)
        s.add(product)
        s.add(Product(gtin=OTHER_GTIN.zfill(14), name_vi="Trà mãng cầu", cooperative_id=coop.id))
        s.flush()
        batch = Batch(product_id=product.id, lot=LOT, packed_on=dt.date(2026, 11, 20),
                      expires_on=dt.date(2027, 2, 20), quantity=5000, place="Xưởng đóng gói Vị Thanh")
        s.add(batch)
        s.flush()
        s.add_all([
            DiaryEntry(batch_id=batch.id, stage="planting", day=dt.date(2026, 5, 2), who="Nguyễn Văn Nhân",
                       place="Ao số 4, Vị Tân", note="Thả 20.000 con giống", recorded_by="person"),
            DiaryEntry(batch_id=batch.id, stage="harvest", day=dt.date(2026, 11, 18), who="Tổ thu hoạch",
                       place="Ao số 4, Vị Tân", note="Thu 1,8 tấn", recorded_by="person"),
            DiaryEntry(batch_id=batch.id, stage="processing", day=dt.date(2026, 11, 19), who="Dây chuyền 1",
                       place="Xưởng Vị Thanh", note="Rút xương, cấp đông -18 °C", recorded_by="device",
                       station_id="act-1"),
        ])
        s.add_all([
            Certificate(product_id=product.id, kind="vietgap", number="VG-HG-0123",
                        issuer="Chi cục Thủy sản Hậu Giang", valid_from=dt.date(2025, 1, 1),
                        valid_to=dt.date(2027, 12, 31)),
            Certificate(product_id=product.id, kind="ocop", stars=4, issuer="UBND tỉnh Hậu Giang",
                        valid_from=dt.date(2024, 6, 1), valid_to=dt.date(2027, 6, 1),
                        url="https://ocop.example.vn/hg/123"),
        ])
        s.add_all([
            Station(id="pr-1", kind="print", name="Máy in tem 1", place="Xưởng Vị Thanh", province="Hậu Giang",
                    cooperative_id=coop.id, lat=9.7590, lon=105.4730),
            Station(id="act-1", kind="activation", name="Dây chuyền 1", place="Xưởng Vị Thanh",
                    province="Hậu Giang", cooperative_id=coop.id, lat=9.7590, lon=105.4730),
            Station(id="stall-ct", kind="stall", name="Sạp cô Ba", place="Chợ Xuân Khánh, Cần Thơ",
                    province="Cần Thơ", lat=10.0290, lon=105.7680),
            Station(id="stall-hn", kind="stall", name="Sạp chị Hoa", place="Chợ Hôm, Hà Nội",
                    province="Hà Nội", lat=21.0170, lon=105.8550),
        ])
        roles = ["genuine", "sold", "not_active", "void", "recalled", "clone_far", "clone_many", "issued"]
        minted = mint(s, KEYRING, GTIN, len(roles) + 12)
    story.serials = dict(zip(roles, minted))
    story.spare = minted[len(roles):]

    line = _Line(Applier(sessions, KEYRING))
    # Printed, then activated on the line: every stamp but the unused one.
    for role, serial in [*story.serials.items(), *(("spare", x) for x in story.spare)]:
        if role == "issued":
            continue
        line.send(messages.PrintedEvent, "pr-1", T0, serial=serial, gtin=GTIN, lot=LOT)
        if role != "not_active":
            line.send(messages.ActivatedEvent, "act-1", T0 + dt.timedelta(minutes=20), serial=serial, gtin=GTIN,
                      lot=LOT)
    sr = story.serials
    line.send(messages.CheckedEvent, "stall-ct", T0 + dt.timedelta(days=2), serial=sr["sold"], place="Cần Thơ")
    line.send(messages.SoldEvent, "stall-ct", T0 + dt.timedelta(days=2, minutes=5), serial=sr["sold"])
    line.send(messages.VoidedEvent, "pr-1", T0 + dt.timedelta(hours=1), serial=sr["void"], reason="damaged")
    line.send(messages.VoidedEvent, "pr-1", T0 + dt.timedelta(days=3), serial=sr["recalled"], reason="recalled",
              note="Thu hồi theo yêu cầu của Chi cục")
    # One stamp checked in Cần Thơ and in Hà Nội twenty minutes apart: no pack travels that fast.
    line.send(messages.CheckedEvent, "stall-ct", T0 + dt.timedelta(days=2), serial=sr["clone_far"])
    line.send(messages.CheckedEvent, "stall-hn", T0 + dt.timedelta(days=2, minutes=20), serial=sr["clone_far"])
    with sessions() as s, s.begin():
        # A stamp checked hundreds of times (history imported as a count, as the ingestor keeps it).
        from sqlalchemy import update

        from hub.models import Stamp
        s.execute(update(Stamp).where(Stamp.serial == sr["clone_many"]).values(checks=400))
    engine.dispose()
    return story


@pytest.fixture(scope="module")
def story(web_db_url: str) -> Story:
    return seed(web_db_url)


def make_app(url: str, instance: Path, **config: object) -> Flask:
    # Checks written in the request: tests read the database right after a view
    # (tests/test_resolver.py covers the batched writer separately).
    return create_app({"TEM_INSTANCE": str(instance), "DATABASE_URL": url, "TESTING": True,
                       "TEM_CHECK_FLUSH_MS": 0, **config})


@pytest.fixture(scope="module")
def hub_app(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(story.url, tmp_path_factory.mktemp("instance"))


@dataclass
class LiveHub:
    url: str
    app: Flask


@pytest.fixture(scope="module")
def live_hub(hub_app: Flask) -> Iterator[LiveHub]:
    server = make_server("127.0.0.1", 0, hub_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveHub(f"http://127.0.0.1:{server.server_port}", hub_app)
    server.shutdown()
    thread.join(5)
