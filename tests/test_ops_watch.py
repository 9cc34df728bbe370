"""The hub-side liveness timer: an offline station raises an alert while it is still
offline (not on its next message), once; the alert clears itself when the station is
back; paper out and low codes likewise. A real station going away shows up in the
console's alert list."""
from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from sqlalchemy import select

from hub import db as hubdb
from hub.auth import create_user
from hub.models import Alert, Station, utcnow
from hub.ops.watch import OFFLINE_GRACE_S, sweep
from station.runtime import Station as StationRuntime
from tests.conftest import GTIN, LOT, World, wait_until
from tests.ops_fixtures import PASSWORD, Console, make_app


def _alerts(s) -> list[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    return sorted((a.station_id, a.kind, a.resolved_at is None) for a in s.scalars(select(Alert)))


def test_offline_paper_and_codes_alerts_fire_once_and_clear_themselves(db_url: str) -> None:
    engine = hubdb.make_engine(db_url)
    sessions = hubdb.sessions(engine)
    now = utcnow()
    with sessions() as s, s.begin():
        s.add(Station(id="pr-1", kind="print", online=False, last_seen=now - dt.timedelta(seconds=OFFLINE_GRACE_S + 5)))
        s.add(Station(id="pr-2", kind="print", online=True, last_seen=now,
                      telemetry={"paper": "out", "printer": "no_paper", "codes_left": 12, "outbox": 0}))
        s.add(Station(id="st-1", kind="stall", online=False, last_seen=now - dt.timedelta(seconds=5)))  # a reboot
        s.add(Station(id="st-2", kind="stall", online=False))  # never connected: nothing to miss yet
    for _ in range(2):  # the second pass raises nothing new
        with sessions() as s, s.begin():
            sweep(s, 10, now)
    with sessions() as s:
        assert _alerts(s) == [("pr-1", "station_offline", True), ("pr-2", "codes_low", True),
                              ("pr-2", "paper_out", True)]
    # the station returns, paper is loaded, codes arrive
    with sessions() as s, s.begin():
        pr1, pr2 = s.get(Station, "pr-1"), s.get(Station, "pr-2")
        pr1.online, pr1.last_seen = True, now
        pr2.telemetry = {"paper": "ok", "printer": "ready", "codes_left": 500, "outbox": 0}
    with sessions() as s, s.begin():
        assert sweep(s, 10, now) == (0, 3)
    with sessions() as s:
        assert all(not open_ for _st, _k, open_ in _alerts(s))
        assert {a.resolved_by for a in s.scalars(select(Alert))} == {"hub"}
    engine.dispose()


def test_a_connected_station_that_stopped_reporting_is_not_healthy(db_url: str) -> None:
    engine = hubdb.make_engine(db_url)
    sessions = hubdb.sessions(engine)
    now = utcnow()
    with sessions() as s, s.begin():
        s.add(Station(id="pr-1", kind="print", online=True, last_seen=now - dt.timedelta(seconds=120)))
    with sessions() as s, s.begin():
        sweep(s, 10, now)
    with sessions() as s:
        alert = s.scalars(select(Alert)).one()
    assert alert.kind == "station_offline" and "silent" in alert.message
    engine.dispose()


def test_a_stopped_station_appears_in_the_alert_list_while_it_is_away(world: World, tmp_path: Path) -> None:
    with world.sessions() as s, s.begin():
        create_user(s, "admin", PASSWORD, "admin")
    world.start_ingestor()
    cfg = world.station_config("st-1", kind="print", printer={"driver": "file"},
                               product={"gtin": GTIN, "name": "Cá", "lot": LOT})
    station = StationRuntime(cfg)
    t = threading.Thread(target=station.run, daemon=True)
    t.start()
    wait_until(lambda: _online(world), what="station online")
    station.stop()
    t.join(10)
    wait_until(lambda: not _online(world), what="offline by its will message")
    # the web process's timer, with a short grace for the test
    import hub.ops.watch as watch
    grace, watch.OFFLINE_GRACE_S = watch.OFFLINE_GRACE_S, 1
    try:
        app = make_app(world.url, tmp_path / "instance", TEM_WATCH_S=0.2, TEM_TELEMETRY_INTERVAL_S=1)
        admin = Console(app.test_client()).sign_in("admin")
        # named in the operator's language (Vietnamese first), the kind kept for tools
        wait_until(lambda: 'data-kind="station_offline">Trạm mất kết nối<' in admin.get("/ops/alerts").get_data(
            as_text=True), what="offline alert in the list")
        app.extensions["tem.watcher"].stop()
    finally:
        watch.OFFLINE_GRACE_S = grace


def _online(world: World) -> bool:
    with world.sessions() as s:
        return bool(s.get(Station, "st-1").online)


def test_new_alerts_are_posted_to_the_webhook_once_and_retried_when_it_is_down(db_url: str) -> None:
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from hub.ops.watch import Watcher
    received: list[dict] = []  # type: ignore[type-arg]
    status = {"code": 503}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if status["code"] == 200:
                received.append(body)
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *_a) -> None:  # type: ignore[no-untyped-def]
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    engine = hubdb.make_engine(db_url)
    sessions = hubdb.sessions(engine)
    try:
        with sessions() as s, s.begin():
            s.add(Alert(kind="old", message="before the hub started"))
        w = Watcher(sessions, 1, 10, webhook=f"http://127.0.0.1:{server.server_port}/hook")
        assert w.notify() == 0  # remembers where it starts
        with sessions() as s, s.begin():
            s.add(Alert(kind="clone_suspected", serial="A000000100000000", message="checked in two provinces"))
            s.add(Alert(kind="paper_out", station_id="pr-1", message="out of paper"))
        assert w.notify() == 0 and received == []  # the receiver is down: nothing lost, nothing marked sent
        status["code"] = 200
        assert w.notify() == 2
        assert w.notify() == 0
        assert [r["kind"] for r in received] == ["clone_suspected", "paper_out"]
    finally:
        server.shutdown()
        engine.dispose()


def test_two_web_processes_post_each_new_alert_once(tmp_path: Path) -> None:
    """Every gunicorn worker (and web node) runs the watch timer; the webhook still gets each
    alert once. PostgreSQL only: a SQLite hub is served by one process."""
    import json
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from hub.ops.watch import Watcher
    received: list[int] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["id"])
            time.sleep(0.05)  # a slow receiver widens the window for a double post
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_a) -> None:  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with hubdb.scratch_database("postgresql", tmp_path, "tem_test") as url:
        hubdb.upgrade(url)
        engines = [hubdb.make_engine(url) for _ in range(2)]
        try:
            watchers = [Watcher(hubdb.sessions(e), 1, 10, webhook=f"http://127.0.0.1:{server.server_port}/h")
                        for e in engines]
            assert watchers[0].notify() == 0
            with hubdb.sessions(engines[0])() as s, s.begin():
                s.add_all([Alert(kind="paper_out", station_id=f"pr-{i}", message="out of paper") for i in range(6)])
            counts: list[int] = []
            threads = [threading.Thread(target=lambda w=w: counts.append(w.notify())) for w in watchers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert sorted(counts) == [0, 6] and len(received) == 6 == len(set(received))
        finally:
            for e in engines:
                e.dispose()
            server.shutdown()
