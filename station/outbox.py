"""The station's outbox: every event is on disk (SQLite WAL, synchronous=FULL)
before the worker is told "done", and leaves only when the hub acknowledges it."""
from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tem import messages

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
);
"""


class Outbox:
    def __init__(self, path: Path, station: str):
        self.station = station
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not only a crashed process.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def append(self, event_type: str, **fields: Any) -> Any:
        """Record an event durably and return it (with its id and sequence number)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # AUTOINCREMENT never reuses a number, even after acked rows are deleted.
                row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
                seq = (row[0] if row else 0) + 1
                data = {"v": messages.SCHEMA_VERSION, "id": str(uuid.uuid4()), "seq": seq,
                        "station": self.station, "at": messages.now(), "type": event_type, **fields}
                event = messages.event_from_dict(data)
                self._db.execute("INSERT INTO outbox (seq, id, body) VALUES (?, ?, ?)",
                                 (seq, str(event.id), event.dump()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return event

    def pending(self, after_seq: int = 0, limit: int = 500) -> list[tuple[int, str, bytes]]:
        """Unacknowledged events in recording order: (seq, id, payload)."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, id, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit)).fetchall()

    def ack(self, ids: Iterable[str]) -> int:
        ids = [str(i) for i in ids]
        if not ids:
            return 0
        with self._lock, self._db:  # one transaction: one fsync per ack, not per event
            self._db.execute("BEGIN")
            cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            return cur.rowcount

    def recorded(self) -> int:
        """How many events this station has ever recorded (the last sequence number)."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            return row[0] if row else 0

    def backlog(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
