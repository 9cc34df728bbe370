"""Enrolment: an operator runs `tem admin enrol STATION`, reads out the one-time code, and
the station trades it at the hub for its broker identity; the code works once."""
from __future__ import annotations

import base64
import hashlib
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from hub import db as hubdb
from hub.app import create_app
from hub.cli import main as tem
from hub.models import Station
from hub.stations import register
from station import enrol as station_enrol


def password_matches(stored: str, password: str) -> bool:
    _, _, rounds, salt, digest = stored.split("$")
    again = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(rounds))
    return base64.b64encode(again).decode() == digest


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hubdb.upgrade(url)
    with hubdb.sessions(hubdb.make_engine(url))() as s, s.begin():
        register(s, "line-7", "print", place="HTX Kỳ Như")
    env = {"TEM_INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": url}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MQTT_URL", raising=False)
    return env


def enrol_code(tmp_path: Path, station: str = "line-7") -> str:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nDEMO\n-----END CERTIFICATE-----\n")
    r = CliRunner().invoke(tem, ["admin", "enrol", station, "--mqtt-host", "mqtt.tem.example.vn", "--ca", str(ca)])
    assert r.exit_code == 0, r.output
    return re.search(r"([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})", r.output).group(1)


def test_station_trades_a_one_time_code_for_its_broker_identity(hub_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Given a code printed by `tem admin enrol`,
    code = enrol_code(tmp_path)
    app = create_app({"TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub = f"http://127.0.0.1:{server.server_port}"
    try:
        # when the station enrols with it (typed in lower case, as people do),
        data_dir, ca_out = tmp_path / "station", tmp_path / "etc" / "ca.crt"
        assert station_enrol.main([code.lower(), "--hub", hub, "--data-dir", str(data_dir),
                                   "--ca-out", str(ca_out)]) == 0
        # then it holds the password the broker will accept, and the CA,
        secret = data_dir / "mqtt.secret"
        assert secret.stat().st_mode & 0o777 == 0o600
        with hubdb.sessions(hubdb.make_engine(hub_env["DATABASE_URL"]))() as s:
            station = s.get(Station, "line-7")
            assert password_matches(station.broker_hash, secret.read_text())
            assert station.place == "HTX Kỳ Như"  # the registry entry is otherwise untouched
        assert "DEMO" in ca_out.read_text()
        # and the code does not work a second time.
        with pytest.raises(SystemExit, match="404"):
            station_enrol.main([code, "--hub", hub, "--data-dir", str(tmp_path / "again")])
    finally:
        server.shutdown()


def test_enrol_refuses_an_unregistered_station(hub_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(tem, ["admin", "enrol", "nobody", "--mqtt-host", "h"])
    assert r.exit_code != 0 and "add-station" in r.output


def test_enrol_endpoint_answers_404_for_a_guess_and_400_for_garbage(hub_env) -> None:  # type: ignore[no-untyped-def]
    client = create_app({"TESTING": True}).test_client()
    assert client.post("/enrol", json={"code": "AAAA-BBBB-CCCC"}).status_code == 404
    assert client.post("/enrol", data="x").status_code == 400
