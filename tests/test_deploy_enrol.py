"""Enrolment: an admin makes a one-time code on the console's station page (or with
`tem admin enrol`), the station trades it with `tem-station enrol` for its broker identity,
and the broker then accepts that login. The code works once, on whichever hub web node it
reaches, and only an admin can make one."""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from werkzeug.serving import make_server

from hub import db as hubdb
from hub.app import create_app
from hub.auth import create_user
from hub.cli import main as tem
from hub.models import AuditLog, Cooperative, EnrolmentCode, Station
from hub.stations import broker_accounts, register
from station.cli import main as tem_station
from tests.conftest import HUB_PASSWORD, World
from tests.ops_fixtures import PASSWORD, Console, make_app

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b")
CA = "-----BEGIN CERTIFICATE-----\nDEMO\n-----END CERTIFICATE-----\n"


def password_matches(stored: str, password: str) -> bool:
    _, _, rounds, salt, digest = stored.split("$")
    again = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(rounds))
    return base64.b64encode(again).decode() == digest


def broker_accepts(port: int, username: str, password: str) -> bool:
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", username, "-P", password,
                        "-t", f"tem/enrol-test/{username}", "-m", "x", "-q", "1"], capture_output=True, timeout=20,
                       check=False)
    return r.returncode == 0


def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    t.join(5)


@pytest.fixture
def station_broker(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The broker address and CA the hub hands out (TEM_STATION_*), pointing at the world's broker."""
    ca = tmp_path / "ca.crt"
    ca.write_text(CA)
    monkeypatch.setenv("TEM_STATION_MQTT_HOST", "127.0.0.1")
    monkeypatch.setenv("TEM_STATION_MQTT_PORT", str(world.broker.port))
    monkeypatch.setenv("TEM_STATION_TLS_CA", str(ca))
    return ca


@pytest.fixture
def live(world: World, station_broker: Path, tmp_path: Path) -> Iterator[str]:
    with world.sessions() as s, s.begin():
        create_user(s, "admin", PASSWORD, "admin")
        st = s.get(Station, "st-1")
        st.cooperative_id = s.scalars(select(Cooperative.id)).first()
        create_user(s, "manager", PASSWORD, "manager", st.cooperative_id)
    yield from serve(make_app(world.url, tmp_path / "instance", RATELIMIT_ENABLED=False))


def sign_in(browser: Browser, base: str, username: str, lang: str = "vi-VN"):  # type: ignore[no-untyped-def]
    page = browser.new_context(base_url=base, locale=lang).new_page()
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/ops/**")
    return page


def test_admin_makes_a_code_in_the_console_and_the_station_enrols_with_it_once(
        browser: Browser, live: str, world: World, tmp_path: Path) -> None:
    old_password = world.passwords["st-1"]
    # Given an admin on the station's page, in Vietnamese,
    page = sign_in(browser, live, "admin")
    page.goto("/ops/stations/st-1")
    # when they press "Tạo mã đăng ký",
    page.get_by_role("button", name="Tạo mã đăng ký").click()
    # then the code is shown once, with its expiry and the exact command for the Pi.
    expect(page.get_by_role("heading", name="Mã đăng ký cho trạm st-1")).to_be_visible()
    code = page.locator("#enrol-code").inner_text().strip()
    assert CODE.fullmatch(code)
    expect(page.locator("#enrol-expires")).to_contain_text("Dùng được một lần, đến ")
    command = page.locator("#enrol-command").inner_text().strip()
    assert command == f"sudo /opt/tem-station/current/bin/tem-station enrol {code} --hub {live}"
    with world.sessions() as s:
        row = s.scalars(select(EnrolmentCode)).one()
        assert row.code_hash == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
        assert s.scalars(select(AuditLog).where(AuditLog.action == "enrolment_code")).one().username == "admin"

    # The station runs exactly that command (a real process; the code typed in lower case),
    data_dir, ca_out = tmp_path / "pi" / "var", tmp_path / "pi" / "etc" / "ca.crt"
    args = command.split("tem-station ", 1)[1].replace(code, code.lower()).split()
    extra = ["--data-dir", str(data_dir), "--ca-out", str(ca_out)]
    r = subprocess.run([str(ROOT / ".venv/bin/tem-station"), *args, *extra], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    # and holds its broker password (0600) and the CA, with the [mqtt] lines for station.toml;
    secret = data_dir / "mqtt.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert ca_out.read_text() == CA
    assert f'host = "127.0.0.1"\nport = {world.broker.port}\ntls_ca = "{ca_out}"' in r.stdout
    # once the broker reloads it accepts the new password and refuses the old one.
    with world.sessions() as s:
        world.broker.write(broker_accounts(s, HUB_PASSWORD))
    world.broker.reload()
    assert broker_accepts(world.broker.port, "st-1", secret.read_text())
    assert not broker_accepts(world.broker.port, "st-1", old_password)

    # The code does not work a second time.
    again = subprocess.run([str(ROOT / ".venv/bin/tem-station"), *args, "--data-dir", str(tmp_path / "again"),
                            "--ca-out", str(tmp_path / "again.crt")], capture_output=True, text=True, timeout=60,
                           check=False)
    assert again.returncode != 0 and "404" in again.stderr and "used or expired" in again.stderr
    assert not (tmp_path / "again" / "mqtt.secret").exists()
    with world.sessions() as s:
        assert s.scalars(select(EnrolmentCode)).all() == []
        assert s.scalars(select(AuditLog).where(AuditLog.action == "enrolled")).one().target_id == "st-1"


def test_the_console_speaks_english_too(browser: Browser, live: str) -> None:
    page = sign_in(browser, live, "admin", lang="en-GB")
    page.goto("/ops/stations/st-1?lang=en")
    page.get_by_role("button", name="Create enrolment code").click()
    expect(page.get_by_role("heading", name="Enrolment code for station st-1")).to_be_visible()
    expect(page.locator("#enrol-expires")).to_contain_text("Valid once, until ")


def test_a_manager_cannot_make_a_code(browser: Browser, live: str, world: World) -> None:
    with world.sessions() as s:
        before = s.get(Station, "st-1").broker_hash
    page = sign_in(browser, live, "manager")
    page.goto("/ops/stations/st-1")
    expect(page.get_by_role("heading", name="Trạm st-1")).to_be_visible()  # they see the station,
    expect(page.get_by_role("button", name="Tạo mã đăng ký")).to_have_count(0)  # but no button,
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = page.request.post(f"{live}/ops/stations/st-1/enrol", form={"csrf_token": token})
    assert r.status == 403  # and a forged POST is refused
    with world.sessions() as s:
        assert s.scalars(select(EnrolmentCode)).all() == []
        assert s.get(Station, "st-1").broker_hash == before


# -- several hub web nodes on one database ---------------------------------------------------------

@pytest.fixture
def two_nodes(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Flask, Flask, str]:
    monkeypatch.setenv("TEM_STATION_MQTT_HOST", "mqtt.tem.example.vn")
    monkeypatch.delenv("TEM_STATION_TLS_CA", raising=False)
    engine = hubdb.make_engine(db_url)
    with hubdb.sessions(engine)() as s, s.begin():
        register(s, "line-7", "print", place="HTX Kỳ Như")
        create_user(s, "admin", PASSWORD, "admin")
    engine.dispose()
    # Each node has its own instance directory; only the database is shared.
    nodes = tuple(make_app(db_url, tmp_path / f"node-{i}", RATELIMIT_ENABLED=False) for i in (1, 2))
    return nodes[0], nodes[1], db_url


def console_code(app: Flask, station: str = "line-7") -> str:
    c = Console(app.test_client()).sign_in("admin")
    c.get(f"/ops/stations/{station}")
    r = c.post(f"/ops/stations/{station}/enrol")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    return CODE.search(r.get_data(as_text=True)).group(1)


def test_a_code_made_on_one_node_is_redeemed_on_another_once(two_nodes: tuple[Flask, Flask, str]) -> None:
    node1, node2, url = two_nodes
    code = console_code(node1)
    r = node2.test_client().post("/enrol", json={"code": code})
    assert r.status_code == 200, r.get_json()
    identity = r.get_json()
    assert (identity["station_id"], identity["mqtt_host"], identity["mqtt_port"]) == ("line-7", "mqtt.tem.example.vn",
                                                                                      8883)
    engine = hubdb.make_engine(url)
    with hubdb.sessions(engine)() as s:
        assert password_matches(s.get(Station, "line-7").broker_hash, identity["password"])
        assert s.get(Station, "line-7").place == "HTX Kỳ Như"  # the registry entry is otherwise untouched
    engine.dispose()
    for node in (node1, node2):
        assert node.test_client().post("/enrol", json={"code": code}).status_code == 404


def test_two_nodes_redeeming_one_code_at_once_give_it_to_one(two_nodes: tuple[Flask, Flask, str]) -> None:
    node1, node2, _url = two_nodes
    for _ in range(4):
        code = console_code(node1)
        barrier, statuses = threading.Barrier(2), []

        def redeem(app: Flask) -> None:
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post("/enrol", json={"code": code}).status_code)

        threads = [threading.Thread(target=redeem, args=(n,)) for n in (node1, node2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(statuses) == [200, 404]


def test_a_new_code_replaces_the_pending_one(two_nodes: tuple[Flask, Flask, str]) -> None:
    node1, node2, _url = two_nodes
    first, second = console_code(node1), console_code(node2)
    client = node1.test_client()
    assert client.post("/enrol", json={"code": first}).status_code == 404
    assert client.post("/enrol", json={"code": second}).status_code == 200


def test_an_expired_code_is_refused_and_removed(two_nodes: tuple[Flask, Flask, str]) -> None:
    import datetime as dt
    node1, node2, url = two_nodes
    code = console_code(node1)
    engine = hubdb.make_engine(url)
    with hubdb.sessions(engine)() as s, s.begin():
        s.scalars(select(EnrolmentCode)).one().expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    r = node2.test_client().post("/enrol", json={"code": code})
    assert r.status_code == 404 and "expired" in r.get_json()["error"]
    with hubdb.sessions(engine)() as s:
        assert s.scalars(select(EnrolmentCode)).all() == []
    engine.dispose()


# -- the command line ------------------------------------------------------------------------------

@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hubdb.upgrade(url)
    with hubdb.sessions(hubdb.make_engine(url))() as s, s.begin():
        register(s, "line-7", "print", place="HTX Kỳ Như")
    env = {"TEM_INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": url}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("MQTT_URL", "TEM_STATION_MQTT_HOST", "TEM_STATION_MQTT_PORT", "TEM_STATION_TLS_CA"):
        monkeypatch.delenv(k, raising=False)
    return env


def test_tem_admin_enrol_makes_the_same_kind_of_code(hub_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca = tmp_path / "ca.crt"
    ca.write_text(CA)
    r = CliRunner().invoke(tem, ["admin", "enrol", "line-7", "--mqtt-host", "mqtt.tem.example.vn", "--ca", str(ca)])
    assert r.exit_code == 0, r.output
    code = CODE.search(r.output).group(1)
    app = create_app({"TESTING": True})
    for hub in serve(app):
        data_dir, ca_out = tmp_path / "station", tmp_path / "etc" / "ca.crt"
        assert tem_station(["enrol", code, "--hub", hub, "--data-dir", str(data_dir), "--ca-out", str(ca_out)]) == 0
        assert ca_out.read_text() == CA
        with pytest.raises(SystemExit, match="404"):
            tem_station(["enrol", code, "--hub", hub, "--data-dir", str(tmp_path / "again")])


def test_enrol_refuses_an_unregistered_station(hub_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(tem, ["admin", "enrol", "nobody", "--mqtt-host", "h"])
    assert r.exit_code != 0 and "add-station" in r.output


def test_enrol_endpoint_answers_404_for_a_guess_and_400_for_garbage(hub_env) -> None:  # type: ignore[no-untyped-def]
    client = create_app({"TESTING": True}).test_client()
    assert client.post("/enrol", json={"code": "AAAA-BBBB-CCCC"}).status_code == 404
    assert client.post("/enrol", data="x").status_code == 400
    assert client.post("/enrol", json={"code": 7}).status_code == 400


def test_an_unreachable_hub_is_a_clear_error(tmp_path: Path) -> None:
    from hub.broker import free_port
    with pytest.raises(SystemExit, match="cannot reach the hub"):
        tem_station(["enrol", "AAAA-BBBB-CCCC", "--hub", f"http://127.0.0.1:{free_port()}",
                     "--data-dir", str(tmp_path)])
