"""`tem`: run the hub, the ingestor, the embedded broker and the demo; admin commands."""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from hub import db as hubdb
from hub.broker import Broker
from hub.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
@click.option("-v", "--verbose", is_flag=True)
def main(verbose: bool) -> None:
    """Tem hub: traceability stamps."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    s = _settings()
    s.instance.mkdir(parents=True, exist_ok=True)
    hubdb.upgrade(s.database_url)
    click.echo(f"database ready: {s.database_url}")


def write_broker(s: Settings, broker: Broker) -> None:
    from hub.stations import broker_accounts
    with hubdb.sessions(hubdb.make_engine(s.database_url))() as session:
        broker.write(broker_accounts(session, s.hub_mqtt_password))


def station_logins(engine: Any) -> dict[str, str | None]:
    """Station id -> broker password hash, as the registry has them now."""
    from hub.models import Station
    with hubdb.sessions(engine)() as session:
        return {sid: h for sid, h in session.execute(select(Station.id, Station.broker_hash))}


@main.command()
@click.option("--write-only", is_flag=True, help="write config, password file and ACL, then exit (another process runs mosquitto)")
@click.option("--bind", default="127.0.0.1", envvar="TEM_BROKER_BIND", show_default=True, help="listener address")
@click.option("--tls-dir", type=click.Path(path_type=Path), envvar="TEM_BROKER_TLS_DIR",
              help="directory with ca.crt, server.crt and server.key: the listener speaks TLS")
@click.option("--internal-port", type=int, envvar="TEM_BROKER_INTERNAL_PORT",
              help="also a plain listener on this port, for the hub's own processes on a private network")
@click.option("--autosave", type=int, default=2, envvar="TEM_BROKER_AUTOSAVE", show_default=True,
              help="save the broker's persistence file every this many seconds (docs/design-notes.md)")
@click.option("--poll", type=click.FloatRange(min=0), default=5, envvar="TEM_BROKER_POLL_S", show_default=True,
              help="look at the station registry this often and reload the broker when logins changed (0: only on SIGHUP)")
def broker(write_only: bool, bind: str, tls_dir: Path | None, internal_port: int | None, autosave: int,
           poll: float) -> None:
    """Run the embedded Mosquitto broker with logins and ACL from the station registry; a
    station registered, enrolled or retired in the console can log in (or not) within `--poll`."""
    s = _settings()
    if not s.embedded_broker:
        raise click.ClickException("MQTT_URL names an external broker: configure that one instead")
    tls = (tls_dir / "ca.crt", tls_dir / "server.crt", tls_dir / "server.key") if tls_dir else None
    b = Broker(s.broker_dir, port=s.mqtt_port, bind=bind, tls=tls, autosave_interval=autosave)

    def write() -> None:
        write_broker(s, b)
        if internal_port:
            with b.conf.open("a") as f:  # comes after the TLS lines, so this listener is plain
                f.write(f"listener {internal_port} {bind}\n")

    write()
    if write_only:
        click.echo(f"broker config written: {b.conf}")
        return
    b.start()
    click.echo(f"mosquitto listening on 127.0.0.1:{b.port} (config {b.conf})")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: (write(), b.reload()))
    engine = hubdb.make_engine(s.database_url)
    logins = station_logins(engine)
    next_poll = time.monotonic() + poll
    try:
        while not stop.wait(1):
            if b.proc and b.proc.poll() is not None:
                raise click.ClickException(f"mosquitto stopped:\n{b.log_tail()}")
            if poll and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + poll
                try:
                    now = station_logins(engine)
                except Exception as exc:  # noqa: BLE001 - the database away: keep the logins the broker has
                    click.echo(f"station registry not readable, broker logins unchanged: {exc}", err=True)
                    continue
                if now != logins:
                    write()
                    b.reload()
                    logins = now
                    click.echo(f"station logins changed: broker reloaded ({len(now)} stations)")
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()


@main.command()
@click.option("--sync-period", type=click.FloatRange(min=0), default=60, envvar="TEM_SYNC_PERIOD_S", show_default=True,
              help="seconds between the stamp changes sent to online scan stations (0: no automatic sync); "
                   "one ingestor at a time syncs")
def ingest(sync_period: float) -> None:
    """Take station messages off the broker into the database; keep scan stations synced."""
    from hub.autosync import AutoSync
    from hub.ingest import Ingestor
    from hub.keys import load_keyring
    s = _settings()
    log = logging.getLogger("tem.ingest")

    def report(out):  # type: ignore[no-untyped-def]
        if out.new_events or out.duplicates or out.quarantined:
            log.info("stored %d new events, %d duplicates, %d quarantined, %d refused",
                     out.new_events, out.duplicates, out.quarantined, out.refused)

    sessions = hubdb.sessions(hubdb.make_engine(s.database_url))
    ing = Ingestor(sessions, s.mqtt_host, s.mqtt_port, "hub",
                   s.hub_mqtt_password, keyring=load_keyring(s.instance / "keys.json"), on_outcome=report)
    auto = None
    if sync_period > 0:
        auto = AutoSync(sessions, s.database_url, s.mqtt_host, s.mqtt_port, s.hub_mqtt_password, sync_period)
        threading.Thread(target=auto.run, name="autosync", daemon=True).start()

    def stop() -> None:
        ing.stop()
        if auto is not None:
            auto.stop()

    signal.signal(signal.SIGTERM, lambda *_: stop())
    try:
        ing.run()
    except KeyboardInterrupt:
        stop()


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def hub(host: str, port: int) -> None:
    """Serve the hub's web site (development server; production runs gunicorn 'hub.wsgi:app')."""
    from hub.app import create_app
    create_app().run(host=host, port=port, threaded=True)


@main.group()
def admin() -> None:
    """Accounts and stations."""


@admin.command("add-station")
@click.argument("station_id")
@click.option("--kind", type=click.Choice(["print", "activation", "stall"]), required=True)
@click.option("--place", default="")
@click.option("--product", "gtin", default=None, help="GTIN whose codes this print station receives")
def add_station(station_id: str, kind: str, place: str, gtin: str | None) -> None:
    """Register a station and print its broker password (shown once)."""

    from hub.models import Product
    from hub.stations import RegistryError, register
    s = _settings()
    with hubdb.sessions(hubdb.make_engine(s.database_url))() as session, session.begin():
        product_id = None
        if gtin:
            from tem.gs1 import GS1Error, normalize_gtin
            try:
                product = session.scalars(select(Product).where(Product.gtin == normalize_gtin(gtin))).first()
            except GS1Error as exc:
                raise click.ClickException(str(exc)) from None
            if product is None:
                raise click.ClickException(f"no product with GTIN {gtin}")
            product_id = product.id
        try:
            password = register(session, station_id, kind, place=place, product_id=product_id)
        except RegistryError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"station {station_id} registered; broker password (store it in the station's mqtt.secret):")
    click.echo(password)
    click.echo("`tem broker` accepts the new login within its --poll period (an external broker: broker-config + HUP).")


@admin.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "manager", "inspector", "station"]), required=True)
@click.option("--cooperative", "cooperative_id", type=int, default=None, help="the manager's cooperative id")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def create_user(username: str, role: str, cooperative_id: int | None, password_stdin: bool) -> None:
    """Add a console user (the first admin, managers, inspectors)."""
    import sys

    from hub.auth import AuthError
    from hub.auth import create_user as add_user
    from hub.models import Cooperative
    if role == "station":
        password = ""
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    s = _settings()
    with hubdb.sessions(hubdb.make_engine(s.database_url))() as session, session.begin():
        if cooperative_id is not None and session.get(Cooperative, cooperative_id) is None:
            raise click.ClickException(f"no cooperative with id {cooperative_id}")
        try:
            user = add_user(session, username, password, role, cooperative_id)
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
        session.add(_audit_row("create", "user", user.id, role=role, cooperative_id=cooperative_id))
    click.echo(f"user {username} ({role}) created")


@admin.command("create-token")
@click.argument("username")
@click.option("--name", default="", help="what the token is for")
def create_token(username: str, name: str) -> None:
    """Make an API token for a user and print it (shown once)."""

    from hub.auth import create_token as new_token
    from hub.models import User
    s = _settings()
    with hubdb.sessions(hubdb.make_engine(s.database_url))() as session, session.begin():
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None or not user.active:
            raise click.ClickException(f"no active user {username!r}")
        if user.role == "station":
            raise click.ClickException("stations talk MQTT, not the API")
        token = new_token(session, user, name)
        session.add(_audit_row("create", "api_token", user.id, name=name))
    click.echo(token)


def _audit_row(action: str, target_type: str, target_id: object, **detail: object):  # type: ignore[no-untyped-def]
    from hub.models import AuditLog
    return AuditLog(username="cli", action=action, target_type=target_type, target_id=str(target_id),
                    detail=detail or None)


@admin.command("enrol")
@click.argument("station_id")
@click.option("--mqtt-host", help="broker host name the station connects to [default: TEM_STATION_MQTT_HOST, "
                                  "else the public host]")
@click.option("--mqtt-port", type=int, help="[default: TEM_STATION_MQTT_PORT, else 8883]")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificate the station should trust for the broker [default: TEM_STATION_TLS_CA]")
def enrol(station_id: str, mqtt_host: str | None, mqtt_port: int | None, ca_file: Path | None) -> None:
    """Give a registered station a new broker password and print a one-time enrolment code
    (24 h) for `tem-station enrol CODE --hub URL` (the console's station page does the same)."""
    from hub.enrol import issue
    from hub.models import Station
    s = _settings()
    host, port, ca = s.station_broker
    ca_file = ca_file or ca
    with hubdb.sessions(hubdb.make_engine(s.database_url))() as session, session.begin():
        station = session.get(Station, station_id)
        if station is None:
            raise click.ClickException(f"no station {station_id}: `tem admin add-station` first")
        try:
            ca_pem = ca_file.read_text() if ca_file else None
        except OSError as exc:
            raise click.ClickException(f"cannot read the CA certificate: {exc}") from None
        code, expires = issue(session, station, mqtt_host=mqtt_host or host, mqtt_port=mqtt_port or port,
                              ca_pem=ca_pem, by="cli")
        session.add(_audit_row("enrolment_code", "station", station_id, expires=expires.isoformat()))
    click.echo(f"enrolment code for {station_id} (valid 24 h, once): {code}")
    click.echo("`tem broker` accepts the new password within its --poll period (an external broker: broker-config + HUP).")


@main.command()
@click.option("--data", "data_dir", default="demo-data", type=click.Path(), help="where the demo keeps its state")
@click.option("--port", default=5000, type=int, help="hub web port")
@click.option("--seconds", default=0.0, type=float, help="stop by itself after this long (0 = until Ctrl-C)")
def demo(data_dir: str, port: int, seconds: float) -> None:
    """Broker, hub, ingestor and two simulated stations on embedded defaults."""
    from hub.demo import run_demo
    run_demo(data_dir, port, seconds)


@main.command("sync-stations")
@click.argument("station_ids", nargs=-1)
def sync_stations_cmd(station_ids: tuple[str, ...]) -> None:
    """Send scan stations the stamp states of their area (default: every stall and activation station)."""
    from hub.sync import MqttPublisher, sync_stations
    s = _settings()
    sessions = hubdb.sessions(hubdb.make_engine(s.database_url))
    try:
        with MqttPublisher(s.mqtt_host, s.mqtt_port, s.hub_mqtt_password) as publish:
            sent = sync_stations(sessions, publish, station_ids or None)
    except (LookupError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    for sid, count in sent.items():
        click.echo(f"{sid}: {count} stamps sent")
    if not sent:
        click.echo("no scan stations registered")
