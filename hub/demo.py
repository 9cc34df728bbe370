"""The demo: embedded broker, hub, ingestor and two simulated stations (a print
line that prints PNG labels and activates them, and a market stall that reads
those labels back and records checks), all as real processes. The ingestor keeps the
stall's synced stamp states current (hub/autosync.py), here every 20 s."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from hub import db as hubdb
from hub.auth import create_user
from hub.broker import Broker, free_port
from hub.keys import load_keyring
from hub.models import Batch, Cooperative, Event, Product, Stamp, Station, User
from hub.settings import Settings
from hub.stations import broker_accounts, register

GTIN = "08934567890120"
LOT = "L" + dt.date.today().strftime("%Y%m%d")

MQTT = """[mqtt]
host = "{host}"
port = {port}
{tls}"""

STATIONS = {
    "line-1": ("print", """station_id = "line-1"
kind = "print"
data_dir = "{data}/line-1"
hub_host = "{public}"
place = "HTX Kỳ Như, Vị Thanh, Hậu Giang"
telemetry_interval_s = 5
{mqtt}
[product]
gtin = "{gtin}"
name = "Cá thát lát rút xương"
producer = "HTX Kỳ Như"
lot = "{lot}"
[printer]
driver = "file"
template = "62x29"
[printing]
activate_on_print = true
simulate_every_s = 2
"""),
    "stall-1": ("stall", """station_id = "stall-1"
kind = "stall"
data_dir = "{data}/stall-1"
place = "Chợ Vị Thanh, sạp 12"
telemetry_interval_s = 5
{mqtt}
[camera]
source = "replay"
device = "{data}/line-1/labels"
fps = 0.5
"""),
}


def seed(settings: Settings, data: Path, mqtt_host: str, mqtt_port: int, tls_ca: str = "") -> None:
    """One cooperative, product and batch, and the two stations with their config files
    (DATA/line-1.toml, DATA/stall-1.toml) and broker secrets. Safe to run again: registered
    stations keep their secrets. Used by `tem demo` and deploy/demo_seed.py (docker-compose,
    the Procfile)."""
    settings.instance.mkdir(parents=True, exist_ok=True)
    load_keyring(settings.instance / "keys.json")  # create it now, not in two ingestors at once
    mqtt = MQTT.format(host=mqtt_host, port=mqtt_port, tls=f'tls_ca = "{tls_ca}"\n' if tls_ca else "")
    sessions = hubdb.sessions(hubdb.make_engine(settings.database_url))
    with sessions() as s, s.begin():
        product = s.scalars(select(Product).where(Product.gtin == GTIN)).first()
        if product is None:
            coop = Cooperative(name="HTX Kỳ Như", address="Ấp 3, xã Vị Tân, TP Vị Thanh",
                               province="Hậu Giang", district="Vị Thanh", phone="0293 3 000 000")
            s.add(coop)
            s.flush()
            product = Product(gtin=GTIN, name_vi="Cá thát lát rút xương", name_en="Boneless clown featherback",
                              category="thủy sản", cooperative_id=coop.id)
            s.add(product)
            s.flush()
        if not s.scalars(select(Batch).where(Batch.product_id == product.id, Batch.lot == LOT)).first():
            s.add(Batch(product_id=product.id, lot=LOT, packed_on=dt.date.today(),
                        expires_on=dt.date.today() + dt.timedelta(days=180), place="Vị Thanh, Hậu Giang"))
        for sid, (kind, template) in STATIONS.items():
            sdir = data / sid
            sdir.mkdir(parents=True, exist_ok=True)
            secret = sdir / "mqtt.secret"
            if s.get(Station, sid) is None or not secret.exists():
                password = register(s, sid, kind, product_id=product.id if kind == "print" else None,
                                    cooperative_id=product.cooperative_id)
                secret.write_text(password)
                secret.chmod(0o600)
            (data / f"{sid}.toml").write_text(template.format(
                data=data, public=settings.public_host, mqtt=mqtt, gtin=GTIN, lot=LOT))


def _demo_admin(settings: Settings, data: Path) -> None:
    """The console's demo sign-in; the password is generated, never in the repository."""
    with hubdb.sessions(hubdb.make_engine(settings.database_url))() as s, s.begin():
        if s.scalar(select(User.id).where(User.username == "admin")) is None:
            password = secrets.token_urlsafe(12)
            create_user(s, "admin", password, "admin")
            (data / "admin-password.txt").write_text(password + "\n")
            (data / "admin-password.txt").chmod(0o600)


def _summary(settings: Settings, hub: str) -> str:
    with hubdb.sessions(hubdb.make_engine(settings.database_url))() as s:
        states = dict(s.execute(select(Stamp.state, func.count()).group_by(Stamp.state)).all())
        events = s.scalar(select(func.count()).select_from(Event))
        online = s.scalars(select(Station.id).where(Station.online)).all()
        last = s.scalars(select(Stamp.serial).where(Stamp.state == "active")
                         .order_by(Stamp.activated_at.desc()).limit(1)).first()
    return (f"stamps {states} · events {events} · online {sorted(online)}"
            + (f" · newest stamp: {hub}/t/{last}" if last else ""))


def run_demo(data_dir: str, port: int, seconds: float = 0) -> None:
    data = Path(data_dir).resolve()
    web_port = port if _port_free(port) else free_port()
    broker_port = free_port()
    os.environ.update({"TEM_INSTANCE": str(data / "hub"), "TEM_BROKER_PORT": str(broker_port),
                       "TEM_PUBLIC_HOST": f"127.0.0.1:{web_port}"})
    os.environ.setdefault("TEM_SYNC_PERIOD_S", "20")  # the ingestor syncs the stall this often
    os.environ.pop("MQTT_URL", None)
    settings = Settings.from_env()
    settings.instance.mkdir(parents=True, exist_ok=True)
    hubdb.upgrade(settings.database_url)
    seed(settings, data, "127.0.0.1", broker_port)
    _demo_admin(settings, data)

    broker = Broker(settings.broker_dir, port=broker_port)
    with hubdb.sessions(hubdb.make_engine(settings.database_url))() as s:
        broker.write(broker_accounts(s, settings.hub_mqtt_password))
    broker.start()
    bin_dir = Path(sys.executable).parent
    procs = {
        "ingest": [str(bin_dir / "tem"), "ingest"],
        "hub": [str(bin_dir / "tem"), "hub", "--port", str(web_port)],
        "line-1": [str(bin_dir / "tem-station"), "run", str(data / "line-1.toml")],
        "stall-1": [str(bin_dir / "tem-station"), "run", str(data / "stall-1.toml")],
    }
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    running = {name: subprocess.Popen(cmd, stdout=open(logs / f"{name}.log", "ab"), stderr=subprocess.STDOUT)
               for name, cmd in procs.items()}
    print(f"Tem demo running. Hub: http://127.0.0.1:{web_port}/  (logs in {logs}, labels in {data}/line-1/labels)")
    print(f"Operator console: http://127.0.0.1:{web_port}/login  user admin, password in {data}/admin-password.txt")
    print("Ctrl-C stops everything.", flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    started = time.monotonic()
    try:
        while not stop["now"] and (not seconds or time.monotonic() - started < seconds):
            time.sleep(5)
            for name, p in running.items():
                if p.poll() is not None:
                    print(f"{name} stopped (exit {p.returncode}); see {logs / (name + '.log')}")
                    stop["now"] = True
            print(_summary(settings, f"http://127.0.0.1:{web_port}"), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for p in running.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in running.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        print("demo stopped")


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
