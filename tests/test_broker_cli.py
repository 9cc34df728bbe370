"""`tem broker` follows the station registry: a station registered (or given a new secret)
in the console or by `tem admin` can log in within the poll period, without anyone
signalling the broker, and a retired secret stops working."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub import db as hubdb
from hub.stations import register
from tests.conftest import wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(port: int, user: str, password: str) -> int:
    """The broker's CONNACK reason code for this login (0: accepted)."""
    codes: list[int] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-probe", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    c.connect("127.0.0.1", port, 10)
    c.loop_start()
    try:
        wait_until(lambda: codes, timeout=10, what="CONNACK")
    finally:
        c.disconnect()
        c.loop_stop()
    return codes[0]


def test_the_broker_accepts_a_new_station_and_refuses_a_replaced_secret_by_itself(
        db_url: str, tmp_path: Path) -> None:
    hubdb.upgrade(db_url)
    sessions = hubdb.sessions(hubdb.make_engine(db_url))
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "TEM_INSTANCE": str(tmp_path / "instance"),
           "TEM_BROKER_PORT": str(port), "TEM_HUB_MQTT_PASSWORD": "hub-secret", "TEM_BROKER_POLL_S": "0.5"}
    env.pop("MQTT_URL", None)
    log = (tmp_path / "broker.log").open("wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "tem"), "broker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "mosquitto listening" in (tmp_path / "broker.log").read_text(), timeout=30,
                   what="tem broker up")
        with sessions() as s, s.begin():
            first = register(s, "st-new", "stall")
        wait_until(lambda: _login(port, "st-new", first) == 0, timeout=15, what="the new station accepted")
        with sessions() as s, s.begin():
            second = register(s, "st-new", "stall")  # a new secret: the old one must stop working
        wait_until(lambda: _login(port, "st-new", first) != 0, timeout=15, what="the replaced secret refused")
        assert _login(port, "st-new", second) == 0
        assert "station logins changed: broker reloaded" in (tmp_path / "broker.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()
