"""Shared fixtures: a database per test (SQLite and PostgreSQL), a real Mosquitto
on a free port from a generated config, a seeded hub, an in-process ingestor."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub import db as hubdb
from hub.broker import Broker, hash_password
from hub.ingest import Ingestor
from hub.models import Batch, Cooperative, Product
from hub.stamps import mint
from hub.stations import broker_accounts, register
from station import config as station_config
from tem.codes import Keyring

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PG_ADMIN = hubdb.PG_ADMIN
GTIN = "08934567890120"
LOT = "L1"
HUB_PASSWORD = "hub-test-password"


def wait_until(predicate, timeout: float = 30, every: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Debian's headless Chromium; the flags keep it off this machine's closed network."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield b
        b.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with hubdb.scratch_database(request.param, tmp_path, "tem_test") as url:
        yield url


@dataclass
class World:
    """A seeded hub database and a running broker that knows its stations."""
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    broker: Broker
    keyring: Keyring
    passwords: dict[str, str]
    serials: list[str]
    tmp: Path
    ingestors: list[Ingestor] = field(default_factory=list)

    def station_config(self, station_id: str, **overrides) -> station_config.StationConfig:  # type: ignore[no-untyped-def]
        data = {"station_id": station_id, "kind": "stall", "data_dir": str(self.tmp / station_id),
                "telemetry_interval_s": 1, "resend_after_s": 3,
                "mqtt": {"port": self.broker.port, "password_file": str(self.secret_file(station_id)),
                         "keepalive_s": 5}}
        data.update(overrides)
        return station_config.from_dict(data)

    def secret_file(self, station_id: str) -> Path:
        path = self.tmp / f"{station_id}.secret"
        path.write_text(self.passwords[station_id])
        return path

    def start_ingestor(self) -> Ingestor:
        ing = Ingestor(self.sessions, "127.0.0.1", self.broker.port, "hub", HUB_PASSWORD, keyring=self.keyring)
        threading.Thread(target=ing.run, daemon=True).start()
        assert ing.subscribed.wait(10), "ingestor did not subscribe"
        self.ingestors.append(ing)
        return ing


STATIONS = ("st-1", "st-2", "st-3", "st-4", "st-5")


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    engine = hubdb.make_engine(db_url)
    sessions = hubdb.sessions(engine)
    keyring = Keyring({"A": b"test-key-0123456789abcdef"})
    passwords: dict[str, str] = {}
    with sessions() as s, s.begin():
        coop = Cooperative(name="HTX Kỳ Như", province="Hậu Giang", district="Vị Thanh")
        s.add(coop)
        s.flush()
        product = Product(gtin=GTIN, name_vi="Cá thát lát rút xương", cooperative_id=coop.id)
        s.add(product)
        s.flush()
        s.add(Batch(product_id=product.id, lot=LOT))
        s.add(Batch(product_id=product.id, lot="L2"))
        for sid in STATIONS:
            passwords[sid] = register(s, sid, "print" if sid == "st-1" else "stall")
        serials = mint(s, keyring, GTIN, 200)
        accounts = broker_accounts(s, HUB_PASSWORD)
    # A login the broker accepts but the hub never registered: "unknown station".
    passwords["ghost"] = "ghost-password"
    accounts["ghost"] = hash_password("ghost-password")
    broker = Broker(tmp_path / "broker")
    broker.write(accounts)
    broker.start()
    w = World(db_url, engine, sessions, broker, keyring, passwords, serials, tmp_path)
    yield w
    for ing in w.ingestors:
        ing.stop()
    broker.stop()
    engine.dispose()
