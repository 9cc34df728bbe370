"""Backups: deploy/backup.sh then deploy/restore.sh into a fresh PostgreSQL database and
an empty instance directory give back the same hub: stations, stamps and events, the
minting keys, and the broker's retained messages."""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from hub import db as hubdb
from hub.broker import Broker
from hub.keys import load_keyring
from hub.models import Cooperative, Event, Product, Stamp, Station
from hub.stamps import mint
from hub.stations import broker_accounts, register
from tests.conftest import PG_ADMIN, wait_until

ROOT = Path(__file__).resolve().parent.parent
HUB_PASSWORD = "backup-test-hub"
CFG = b'{"v":1,"version":3,"config":{"telemetry_interval_s":20}}'


def new_database() -> str:
    name = f"tem_backup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def databases() -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for url in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def hub_client(port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    c.username_pw_set("hub", HUB_PASSWORD)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def run(script: str, url: str, instance: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "TEM_INSTANCE": str(instance)}
    return subprocess.run(["sh", str(ROOT / "deploy" / script), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def snapshot(url: str) -> dict:
    with hubdb.sessions(hubdb.make_engine(url))() as s:
        return {
            "stations": sorted(s.scalars(select(Station.id))),
            "stamps": dict(s.execute(select(Stamp.serial, Stamp.state)).all()),
            "events": s.scalar(select(func.count()).select_from(Event)),
            "hashes": dict(s.execute(select(Station.id, Station.broker_hash)).all()),
        }


def test_backup_restores_into_a_fresh_database_with_keys_and_broker_state(tmp_path: Path, databases) -> None:  # type: ignore[no-untyped-def]
    # Given a hub with stations, stamps and events, minting keys, and a broker holding a
    # retained config for a station,
    source = new_database()
    databases.append(source)
    hubdb.upgrade(source)
    instance = tmp_path / "instance"
    keyring = load_keyring(instance / "keys.json")
    (instance / "hub-mqtt.secret").write_text(HUB_PASSWORD)
    with hubdb.sessions(hubdb.make_engine(source))() as s, s.begin():
        coop = Cooperative(name="HTX Kỳ Như")
        s.add(coop)
        s.flush()
        s.add(Product(gtin="08934567890120", name_vi="Cá", cooperative_id=coop.id))
        register(s, "line-1", "print")
        register(s, "stall-1", "stall")
        serials = mint(s, keyring, "08934567890120", 50, "line-1")
        s.add(Event(id=str(uuid.uuid4()), station_id="line-1", seq=1, type="printed", serial=serials[0],
                    at=func.now(), body={"type": "printed"}))
        accounts = broker_accounts(s, HUB_PASSWORD)
    broker = Broker(instance / "broker")
    broker.write(accounts)
    broker.start()
    c = hub_client(broker.port)
    c.publish("tem/v1/line-1/cfg", CFG, qos=1, retain=True).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    broker.stop()
    before = snapshot(source)

    # when it is backed up and restored into a new database and an empty instance directory,
    backups = tmp_path / "backups"
    r = run("backup.sh", source, instance, str(backups))
    assert r.returncode == 0, r.stderr
    (backup,) = backups.iterdir()
    assert {p.name for p in backup.iterdir()} == {"tem.dump", "broker.tar.gz", "instance-secrets.tar.gz",
                                                  "SHA256SUMS"}
    target = new_database()
    databases.append(target)
    restored = tmp_path / "restored"
    r = run("restore.sh", target, restored, str(backup))
    assert r.returncode == 0, r.stderr

    # then the database holds the same registry, stamps and events,
    assert snapshot(target) == before
    # the minting keys are the same (stamps minted before still verify),
    assert load_keyring(restored / "keys.json").verify(serials[0], "08934567890120")
    assert (restored / "keys.json").read_text() == (instance / "keys.json").read_text()
    # and a broker started on the restored instance still holds the retained config.
    with hubdb.sessions(hubdb.make_engine(target))() as s:
        accounts = broker_accounts(s, HUB_PASSWORD)
    broker = Broker(restored / "broker")
    broker.write(accounts)
    broker.start()
    try:
        got: list[bytes] = []
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-restored", protocol=mqtt.MQTTv5)
        c.username_pw_set("hub", HUB_PASSWORD)
        c.on_message = lambda _c, _u, m: got.append(m.payload)
        c.on_connect = lambda cl, *_: cl.subscribe("tem/v1/+/cfg", qos=1)
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        wait_until(lambda: got, timeout=10, what="the retained config after restore")
        assert got == [CFG]
        c.disconnect()
        c.loop_stop()
    finally:
        broker.stop()


def test_restore_refuses_a_damaged_backup(tmp_path: Path, databases) -> None:  # type: ignore[no-untyped-def]
    source = new_database()
    databases.append(source)
    hubdb.upgrade(source)
    instance = tmp_path / "instance"
    instance.mkdir()
    assert run("backup.sh", source, instance, str(tmp_path / "b")).returncode == 0
    (backup,) = (tmp_path / "b").iterdir()
    with open(backup / "tem.dump", "r+b") as f:
        f.seek(100)
        f.write(b"\0\0\0\0")
    target = new_database()
    databases.append(target)
    r = run("restore.sh", target, tmp_path / "restored", str(backup))
    assert r.returncode != 0 and "FAILED" in (r.stdout + r.stderr)
    with psycopg.connect(target.replace("+psycopg", "")) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0
