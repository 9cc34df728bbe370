"""Ingest throughput: events/s from N station outboxes through Mosquitto into the
database, as a ratio against a raw paho publish → subscribe loop of the same
number and size of QoS 1 messages through the same broker, in the same run.

    .venv/bin/python bench/ingest.py [--events 20000] [--stations 5]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.spine_world import HUB_PASSWORD, hub_world  # noqa: E402
from hub import db as hubdb  # noqa: E402
from hub.models import Event  # noqa: E402
from station import config as station_config  # noqa: E402
from station.outbox import Outbox  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STATION = """
import sys, time
from station import config
from station.link import Link
from station.outbox import Outbox
cfg = config.load(sys.argv[1])
outbox = Outbox(cfg.data_dir / "outbox.db", cfg.station_id)
link = Link(cfg, outbox)
link.start()
while outbox.backlog():
    time.sleep(0.05)
link.stop()
"""


def raw_rate(port: int, count: int, size: int) -> float:
    """Publisher and subscriber as the hub (the ACL lets it read and write tem/v1/+/ack)."""
    got = threading.Event()
    received = [0]

    def on_message(*_a) -> None:  # type: ignore[no-untyped-def]
        received[0] += 1
        if received[0] == count:
            got.set()

    def client(name: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        c.username_pw_set("hub", HUB_PASSWORD)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", port)
        return c

    sub = client("raw-sub")
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.subscribe("tem/v1/raw/ack", qos=1)
    sub.loop_start()
    subscribed.wait(5)
    pub = client("raw-pub")
    pub.loop_start()
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(count):
        pub.publish("tem/v1/raw/ack", payload, qos=1)
    if not got.wait(120):
        raise RuntimeError(f"raw loop received {received[0]} of {count}")
    elapsed = time.perf_counter() - start
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return count / elapsed


def tem_rate(kind: str, events: int, n_stations: int, n_ingestors: int = 1) -> tuple[float, float, int]:
    """(Tem events/s, raw messages/s, event size) for one database kind."""
    stations = [f"bench-{i}" for i in range(n_stations)]
    with hub_world(kind, stations) as (url, broker, passwords, serials, tmp):
        configs = []
        size = 0
        for i, sid in enumerate(stations):
            cfg = station_config.from_dict({
                "station_id": sid, "kind": "stall", "data_dir": str(tmp / sid), "resend_after_s": 30,
                "mqtt": {"port": broker.port, "password_file": str(tmp / f"{sid}.secret")}})
            (tmp / f"{sid}.secret").write_text(passwords[sid])
            cfg.data_dir.mkdir()
            outbox = Outbox(cfg.data_dir / "outbox.db", sid)
            for j in range(events // n_stations):
                ev = outbox.append("checked", serial=serials[(i * 7919 + j) % len(serials)])
            size = len(ev.dump())
            outbox.close()
            path = tmp / f"{sid}.toml"
            path.write_text(f'station_id = "{sid}"\nkind = "stall"\ndata_dir = "{cfg.data_dir}"\n'
                            f'resend_after_s = 30\n[mqtt]\nport = {broker.port}\n'
                            f'password_file = "{tmp / (sid + ".secret")}"\n')
            configs.append(path)
        raw = raw_rate(broker.port, events, size)
        env = {**os.environ, "DATABASE_URL": url, "TEM_INSTANCE": str(tmp / "hub"),
               "TEM_BROKER_PORT": str(broker.port), "TEM_HUB_MQTT_PASSWORD": HUB_PASSWORD}
        env.pop("MQTT_URL", None)
        ingestors = [subprocess.Popen([str(BIN / "tem"), "ingest"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for _ in range(n_ingestors)]
        engine = hubdb.make_engine(url)
        time.sleep(1.0)  # let the ingestor subscribe before the stations start sending
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", STATION, str(p)], cwd=ROOT) for p in configs]
        total = events // n_stations * n_stations
        with hubdb.sessions(engine)() as s:
            while s.scalar(select(func.count()).select_from(Event)) < total:
                time.sleep(0.02)
                if time.perf_counter() - start > 300:
                    raise RuntimeError("ingest did not finish in 300 s")
        elapsed = time.perf_counter() - start
        for p in procs:
            p.wait(60)
        for ingestor in ingestors:
            ingestor.terminate()
            ingestor.wait(10)
        engine.dispose()
        return total / elapsed, raw, size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--stations", type=int, default=5)
    ap.add_argument("--ingestors", default="1,2", help="ingestor process counts to run")
    args = ap.parse_args()
    print(f"{args.events} events from {args.stations} station outboxes through one Mosquitto")
    print(f"{'database':<12}{'ingestors':>10}{'Tem events/s':>14}{'raw msgs/s':>12}{'ratio':>8}")
    for kind in ("postgresql", "sqlite"):
        for n in [int(x) for x in args.ingestors.split(",")]:
            tem, raw, size = tem_rate(kind, args.events, args.stations, n)
            print(f"{kind:<12}{n:>10}{tem:>14.0f}{raw:>12.0f}{tem / raw:>8.2f}  (event {size} bytes)", flush=True)


if __name__ == "__main__":
    main()
