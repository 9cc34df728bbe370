"""Writes the `checked` events of page views in bulk, off the request path.

A page view must not wait for its own INSERT, UPDATE and commit (three round trips and a
WAL flush per view): the view queues its check and one thread per process writes every
queued check in one transaction every FLUSH_MS. Checks wait in memory at most that long;
they are flushed when the process exits normally (gunicorn's graceful stop), and a write
that fails is retried, so only a hard kill of a worker can lose the last few milliseconds
of checks. FLUSH_MS = 0 writes each check in the request (tests, single-user setups)."""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, insert, update

from hub.models import Event, Stamp

log = logging.getLogger(__name__)

WEB_STATION = "web"  # station_id of checks made by opening the page (hub.history.WEB_STATION)
FLUSH_MS = 50
MAX_PENDING = 100_000  # beyond this the database is down for long; newest checks are refused, not the page


@dataclass(frozen=True)
class Check:
    stamp_id: int
    serial: str
    verdict: str
    at: dt.datetime


class CheckRecorder:
    def __init__(self, engine: Engine, flush_ms: int = FLUSH_MS):
        self.engine = engine
        self.flush_ms = flush_ms
        self._pending: list[Check] = []
        self._inflight: list[Check] = []  # taken by the writer, not yet committed
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()  # one writer at a time, in order
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False
        self.dropped = 0
        atexit.register(self.close)

    def record(self, stamp_id: int, serial: str, verdict: str, at: dt.datetime) -> None:
        check = Check(stamp_id, serial, verdict, at)
        if self.flush_ms <= 0:
            self._write([check])
            return
        with self._cond:
            if len(self._pending) >= MAX_PENDING:
                self.dropped += 1
                return
            self._pending.append(check)
            # Started lazily: a thread started before gunicorn forks would not exist in the worker.
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._start()

    def pending(self, serial: str) -> int:
        """Checks of this stamp not yet in the database (for the count the page shows)."""
        with self._cond:
            return sum(1 for c in (*self._inflight, *self._pending) if c.serial == serial)

    def flush(self) -> None:
        """Write everything queued so far (the caller waits)."""
        with self._flush_lock:
            with self._cond:
                batch, self._pending = self._pending, []
                self._inflight = batch
            if not batch:
                return
            try:
                self._write(batch)
            except Exception:
                with self._cond:  # keep them, oldest first, for the next round
                    self._pending[:0] = batch
                raise
            finally:
                with self._cond:
                    self._inflight = []

    def close(self) -> None:
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            self._thread.join(5)
        try:
            self.flush()
        except Exception:
            log.exception("could not write %d checks at exit", len(self._pending))

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="tem-checks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            with self._cond:
                if not self._pending:
                    self._cond.wait(self.flush_ms / 1000)
            time.sleep(self.flush_ms / 1000)  # let a round's worth of checks gather
            try:
                self.flush()
            except Exception:
                log.exception("writing checks failed; retrying")
                time.sleep(1)

    def _write(self, batch: list[Check]) -> None:
        base = time.time_ns() // 1000
        rows = [{"id": str(uuid.uuid4()), "station_id": WEB_STATION, "seq": base + i, "type": "checked",
                 "serial": c.serial, "at": c.at, "received_at": c.at, "applied": True, "refusal": None,
                 "body": {"v": 1, "type": "checked", "station": WEB_STATION, "serial": c.serial,
                          "at": c.at.isoformat(), "verdict": c.verdict}}
                for i, c in enumerate(batch)]
        counts = Counter(c.stamp_id for c in batch)
        with self.engine.begin() as conn:
            conn.execute(insert(Event), rows)
            # Atomic in SQL: other workers count the same stamps. In id order, so that two
            # workers' writers lock rows in the same order and never deadlock.
            conn.execute(update(Stamp.__table__).where(Stamp.__table__.c.id == bindparam("sid"))
                         .values(checks=Stamp.__table__.c.checks + bindparam("n")),
                         [{"sid": sid, "n": n} for sid, n in sorted(counts.items())])
