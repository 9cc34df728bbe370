"""Scan stations kept current without anyone asking, run beside each ingestor (`tem ingest`).

- A stall or activation station that comes online (its retained state on the status
  topic), or that this service has not synced yet, gets a full sync of its area.
- Every period after that, each online scan station gets the changes since its last sync
  (stamps activated, voided — recalls included — or sold), an empty set when nothing
  changed, so its screen can say how current it is. Commands go QoS 1 to the station's
  persistent session: a station that drops off meanwhile receives them when it is back.
- A station's question about one stamp (tem/v1/{station}/req) is answered on its command
  topic by whichever ingestor takes it (a shared subscription).

Only one of the hub's ingestors syncs at a time (a PostgreSQL advisory lock, or a file
lock beside a SQLite database); another takes over within a period if it stops."""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import queue
import threading
import time
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from hub.models import utcnow
from hub.sync import MqttPublisher, answer, build_changes, changes_since, scan_stations, sync_stations
from tem import messages, topics

log = logging.getLogger(__name__)
PERIOD_S = 60.0
# A change is looked for this far before the last sync too: an ingestor stamps an event's
# receiving time before its transaction commits, so a sync can miss a row that commits late.
OVERLAP = dt.timedelta(seconds=15)
QUESTIONS = "$share/verify/" + topics.wildcard("req")
LOCK_KEY = 0x74656D5359  # "temSY": the PostgreSQL advisory lock of the syncing ingestor


class Leadership:
    """Whether this process is the one that syncs; `held()` tries to become it."""

    def __init__(self, url: str):
        self.url = make_url(url)
        self._conn: Connection | None = None
        self._file: int | None = None

    def held(self) -> bool:
        if self.url.get_backend_name() == "postgresql":
            return self._postgres()
        if self._file is None:
            path = self.url.database
            if not path or path == ":memory:":
                return True  # one process owns such a database anyway
            fd = os.open(f"{path}.autosync.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._file = fd
        return True

    def _postgres(self) -> bool:
        if self._conn is not None:
            try:  # a lost connection is a lost lock
                self._conn.execute(text("SELECT 1"))
                self._conn.rollback()
                return True
            except Exception:
                log.warning("lost the database connection that held the sync lock")
                self._conn.invalidate()
                self._conn = None
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            conn = engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            conn.rollback()  # a session lock outlives the transaction; do not sit idle in one
        except Exception as exc:
            log.warning("cannot take the sync lock: %s", exc)
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the server drops the session's lock with it
            self._conn = None
        if self._file is not None:
            os.close(self._file)
            self._file = None


class AutoSync:
    def __init__(self, sessions: sessionmaker[Session], database_url: str, host: str, port: int, password: str,
                 period_s: float = PERIOD_S):
        self.sessions = sessions
        self.period_s = period_s
        self.leadership = Leadership(database_url)
        self.leading = False
        self.online: set[str] = set()
        self.synced: dict[str, dt.datetime] = {}  # station -> hub time its last sync was built
        self._states: queue.Queue[tuple[str, bool]] = queue.Queue()
        self._questions: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=1000)
        self._stop = threading.Event()
        self.mqtt = MqttPublisher(host, port, password, on_message=self._on_message, wait=False)
        self.mqtt.subscribe(QUESTIONS, 1)

    # -- paho's thread: never block here ----------------------------------------------------
    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        try:
            station, kind = topics.split(msg.topic)
        except ValueError:
            return
        if kind == "req":
            try:
                self._questions.put_nowait((station, msg.payload))
            except queue.Full:
                log.warning("too many questions waiting: dropped one from %s", station)
        elif kind == "state":
            try:
                self._states.put((station, messages.parse(messages.StateMessage, msg.payload).state == "online"))
            except messages.MessageError:
                pass  # the ingestor quarantines it

    # -- lifecycle ----------------------------------------------------------------------------
    def run(self) -> None:
        """Sync until stop(); questions are answered on a thread of their own."""
        threading.Thread(target=self._answer_loop, name="autosync-answers", daemon=True).start()
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    station, online = self._states.get(timeout=max(0.05, min(1.0, due - time.monotonic())))
                    self._on_state(station, online)
                except queue.Empty:
                    pass
                except Exception:
                    log.exception("sync on a station state failed")
                if time.monotonic() >= due:
                    due = time.monotonic() + self.period_s
                    try:
                        self.tick()
                    except Exception:  # the database or broker away: the next period tries again
                        log.exception("periodic sync failed")
        finally:
            self.leadership.release()
            self.mqtt.close()

    def stop(self) -> None:
        self._stop.set()

    # -- syncing --------------------------------------------------------------------------------
    def _on_state(self, station: str, online: bool) -> None:
        if not self.leading:
            return
        self.synced.pop(station, None)  # back online: a full sync; offline: nothing until it is back
        if online:
            self.online.add(station)
            self._full_syncs(self._scan_stations() & {station})
        else:
            self.online.discard(station)

    def tick(self) -> None:
        if not self.leadership.held():
            if self.leading:
                log.info("another ingestor syncs scan stations now")
                self.mqtt.unsubscribe(topics.wildcard("state"))
                self.leading = False
                self.online.clear()
                self.synced.clear()
            return
        if not self.leading:
            # The retained states of every station arrive now; the online ones get full syncs.
            log.info("this ingestor syncs scan stations every %.0f s", self.period_s)
            self.leading = True
            self.mqtt.subscribe(topics.wildcard("state"), 1)
            return
        scan = self._scan_stations() & self.online
        self._full_syncs({sid for sid in scan if sid not in self.synced})
        self._changes(sorted(sid for sid in scan if sid in self.synced))

    def _scan_stations(self) -> set[str]:
        with self.sessions() as s:
            return set(scan_stations(s))

    def _full_syncs(self, stations: set[str]) -> None:
        for sid in sorted(stations):
            at = utcnow()
            sync_stations(self.sessions, self.mqtt, [sid])
            self.synced[sid] = at

    def _changes(self, stations: list[str]) -> None:
        if not stations:
            return
        at = utcnow()
        with self.sessions() as s:
            changes = changes_since(s, min(self.synced[sid] for sid in stations) - OVERLAP)
            for sid in stations:
                commands = build_changes(s, sid, changes, self.synced[sid] - OVERLAP, at)
                for cmd in commands:
                    self.mqtt(topics.topic(sid, "cmd"), cmd.dump())
                self.synced[sid] = at
                log.debug("changes for %s: %d stamps", sid, sum(len(c.args["stamps"]) for c in commands))

    # -- questions ------------------------------------------------------------------------------
    def _answer_loop(self) -> None:
        while not self._stop.is_set():
            try:
                station, payload = self._questions.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                request = messages.parse(messages.VerifyRequest, payload)
                with self.sessions() as s:
                    cmd = answer(s, station, request)
                self.mqtt(topics.topic(station, "cmd"), cmd.dump())
            except (messages.MessageError, LookupError) as exc:
                log.warning("question from %s not answered: %s", station, exc)
            except Exception:
                log.exception("question from %s not answered", station)

