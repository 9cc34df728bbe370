"""Nothing lost: SIGKILL stations, the broker and the ingestor while 10,000 events
flow; the database must end with every recorded event exactly once."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from hub.models import Event
from tests.conftest import HUB_PASSWORD, STATIONS, World, wait_until

ROOT = Path(__file__).resolve().parent.parent
PER_STATION = 2000
RATE = 250.0  # events/s per station


def _station_toml(world: World, sid: str) -> Path:
    path = world.tmp / f"{sid}.toml"
    path.write_text(f"""station_id = "{sid}"
kind = "stall"
data_dir = "{world.tmp / sid}"
resend_after_s = 3
telemetry_interval_s = 60
[mqtt]
port = {world.broker.port}
keepalive_s = 5
password_file = "{world.secret_file(sid)}"
""")
    return path


def test_every_recorded_event_lands_exactly_once_through_kills(world: World) -> None:
    serials_file = world.tmp / "serials.txt"
    serials_file.write_text("\n".join(world.serials))
    env = {**os.environ, "DATABASE_URL": world.url, "TEM_INSTANCE": str(world.tmp / "hub"),
           "TEM_BROKER_PORT": str(world.broker.port), "TEM_HUB_MQTT_PASSWORD": HUB_PASSWORD,
           "PYTHONPATH": str(ROOT)}
    env.pop("MQTT_URL", None)
    logs = world.tmp / "logs"
    logs.mkdir()
    tem = str(Path(sys.executable).parent / "tem")

    def start_ingestor(n: int) -> subprocess.Popen:
        return subprocess.Popen([tem, "ingest"], env=env, stdout=open(logs / f"ingest-{n}.log", "w"),
                                stderr=subprocess.STDOUT)

    def start_station(sid: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tests.load_station", str(_station_toml(world, sid)),
                                 str(PER_STATION), str(RATE), str(serials_file)],
                                env=env, cwd=ROOT, stdout=open(logs / f"{sid}.log", "a"), stderr=subprocess.STDOUT)

    ingestor = start_ingestor(0)
    stations = {sid: start_station(sid) for sid in STATIONS}

    def kill_station(sid: str) -> None:
        stations[sid].send_signal(signal.SIGKILL)
        stations[sid].wait()
        stations[sid] = start_station(sid)

    def stored() -> int:
        with world.sessions() as s:
            return s.scalar(select(func.count()).select_from(Event))

    def when_stored(n: int) -> None:
        # Kills are tied to progress, not to the clock, so that each one lands mid-stream
        # however slow the machine is.
        wait_until(lambda: stored() >= n, timeout=120, every=0.1, what=f"{n} events stored")

    try:
        when_stored(500)
        kill_station("st-1")
        when_stored(2000)
        world.broker.kill()
        time.sleep(1.0)
        world.broker.start()
        when_stored(3500)
        kill_station("st-2")
        when_stored(5000)
        ingestor.send_signal(signal.SIGKILL)
        ingestor.wait()
        ingestor = start_ingestor(1)
        when_stored(6500)
        kill_station("st-1")
        when_stored(8000)
        kill_station("st-3")
        wait_until(lambda: stored() >= PER_STATION * len(STATIONS), timeout=180, every=0.5,
                   what="all 10,000 events in the database")
        for sid, proc in stations.items():
            assert proc.wait(60) == 0, f"{sid} did not finish cleanly"
    finally:
        for proc in [ingestor, *stations.values()]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    with world.sessions() as s:
        per_station = {sid: list(s.scalars(select(Event.seq).where(Event.station_id == sid).order_by(Event.seq)))
                       for sid in STATIONS}
        total = s.scalar(select(func.count()).select_from(Event))
    assert total == PER_STATION * len(STATIONS)
    for sid, seqs in per_station.items():
        assert seqs == list(range(1, PER_STATION + 1)), f"{sid}: gaps or repeats in its sequence"
    duplicates = sum(int(m) for f in logs.glob("ingest-*.log")
                     for m in re.findall(r"(\d+) duplicates", f.read_text()))
    print(f"\n10,000 events stored exactly once; the ingestors saw {duplicates} duplicate deliveries")


def test_a_killed_station_is_shown_offline_by_its_will_and_online_again_after_restart(world: World) -> None:
    from hub.models import Station as StationRow
    world.start_ingestor()
    cmd = [str(Path(sys.executable).parent / "tem-station"), "run", str(_station_toml(world, "st-4"))]

    def online() -> bool:
        with world.sessions() as s:
            return s.get(StationRow, "st-4").online

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(online, what="online after start")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_until(lambda: not online(), timeout=10, what="offline from the will message")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(online, what="online after restart")
    finally:
        proc.kill()
        proc.wait()
