"""Pre-minted stamp codes the hub allocated to this print station, and the print
jobs made from them (the print queue). Every step of a job is committed before the
next one starts, so a station killed mid-job leaves a record that says exactly how
far it got: nothing is printed twice silently and nothing is lost.

Job states:
  queued      taken from the codebook, nothing sent yet (safe to send after a restart)
  sending     bytes may be on their way to the printer: the outcome is unknown until confirmed
  printed     the printer confirmed it (or a person said so); events not yet in the outbox
  unconfirmed sent, but nobody knows whether a label came out: a person decides
  done        printed and its events are in the outbox
  voiding     a person voided it; the `voided` event not yet in the outbox
  voided      voided and recorded
  replaced    a person asked for a reprint; the new job carries on
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS code (
    serial TEXT PRIMARY KEY,
    gtin TEXT,
    received INTEGER NOT NULL DEFAULT (strftime('%s','now')),
    -- new: not yet used; used: a job was made from it (older stations also left
    -- printing/printed/unconfirmed here; see _migrate)
    state TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX IF NOT EXISTS code_state ON code (state, received);
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL,
    gtin TEXT,
    label TEXT NOT NULL,           -- JSON: what goes on the label, fixed when PRINT was pressed
    template TEXT,
    reprint INTEGER NOT NULL DEFAULT 0,
    activate INTEGER NOT NULL DEFAULT 0,
    -- Event ids are chosen when the job is made, so recording its events again after
    -- a crash is harmless: the outbox refuses a known id, the hub inserts an id once.
    event_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    note TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS job_state ON job (state, id);
"""

OPEN = ("queued", "sending", "printed", "unconfirmed", "voiding")


@dataclass(frozen=True)
class Job:
    id: int
    serial: str
    gtin: str | None
    label: dict[str, Any]
    template: str | None
    reprint: bool
    activate: bool
    event_id: str
    state: str
    note: str
    created: float
    updated: float

    def event_ids(self) -> dict[str, str]:
        """Stable ids for each event this job may record."""
        base = uuid.UUID(self.event_id)
        return {"printed": str(base), "activated": str(uuid.uuid5(base, "activated")),
                "voided": str(uuid.uuid5(base, "voided"))}


_COLUMNS = "id, serial, gtin, label, template, reprint, activate, event_id, state, note, created, updated"


def _job(row: tuple) -> Job:
    return Job(row[0], row[1], row[2], json.loads(row[3]), row[4], bool(row[5]), bool(row[6]), row[7],
               row[8], row[9], row[10], row[11])


class Codebook:
    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a state change survives power loss, not only a killed process.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        # Codes an older station left 'printing'/'unconfirmed' become jobs that need a decision.
        with self._lock:
            rows = self._db.execute(
                "SELECT serial, gtin, state FROM code WHERE state IN ('printing','unconfirmed','printed')").fetchall()
            now = time.time()
            for serial, gtin, state in rows:
                if state != "printed":
                    self._db.execute(
                        f"INSERT INTO job ({_COLUMNS[4:]}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (serial, gtin, "{}", None, 0, 0, str(uuid.uuid4()), "unconfirmed",
                         "left by an older station version", now, now))
                self._db.execute("UPDATE code SET state='used' WHERE serial=?", (serial,))

    # -- codes ----------------------------------------------------------------------------
    def add(self, serials: list[str], gtin: str | None) -> int:
        with self._lock:
            before = self._count("new")
            self._db.executemany("INSERT OR IGNORE INTO code (serial, gtin) VALUES (?, ?)",
                                 [(s, gtin) for s in serials])
            return self._count("new") - before

    def remaining(self) -> int:
        with self._lock:
            return self._count("new")

    def _count(self, state: str) -> int:
        return self._db.execute("SELECT count(*) FROM code WHERE state=?", (state,)).fetchone()[0]

    # -- jobs -----------------------------------------------------------------------------
    def enqueue(self, gtin: str | None, label: dict[str, Any], template: str | None,
                activate: bool = False) -> Job | None:
        """Take the oldest unused code for this GTIN (or any, for rolls) and queue a job for it,
        in one transaction; None when the codes have run out. `label` gets the serial added."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT serial, gtin FROM code WHERE state='new' AND (gtin IS ? OR gtin IS NULL) "
                    "ORDER BY received, serial LIMIT 1", (gtin,)).fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                self._db.execute("UPDATE code SET state='used' WHERE serial=?", (row[0],))
                job = self._insert(row[0], gtin, {**label, "serial": row[0]}, template, False, activate)
                self._db.execute("COMMIT")
                return job
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def enqueue_reprint(self, source: Job, replaces: bool = False) -> Job:
        """A new job printing the same stamp again (an explicit reprint). With `replaces`,
        the source job (unconfirmed) is closed as replaced in the same transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                job = self._insert(source.serial, source.gtin, source.label, source.template, True, False)
                if replaces:
                    self._set(source.id, "replaced", f"reprinted as job {job.id}")
                self._db.execute("COMMIT")
                return job
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _insert(self, serial: str, gtin: str | None, label: dict[str, Any], template: str | None,
                reprint: bool, activate: bool) -> Job:
        now = time.time()
        cur = self._db.execute(
            f"INSERT INTO job ({_COLUMNS[4:]}) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING {_COLUMNS}",
            (serial, gtin, json.dumps(label, ensure_ascii=False), template, int(reprint), int(activate),
             str(uuid.uuid4()), "queued", "", now, now))
        return _job(cur.fetchone())

    def set_state(self, job_id: int, state: str, note: str = "", only_from: tuple[str, ...] = ()) -> bool:
        """Move a job on; with `only_from`, only if it is still in one of those states."""
        with self._lock:
            return self._set(job_id, state, note, only_from)

    def _set(self, job_id: int, state: str, note: str = "", only_from: tuple[str, ...] = ()) -> bool:
        sql = "UPDATE job SET state=?, note=?, updated=? WHERE id=?"
        args: list[Any] = [state, note, time.time(), job_id]
        if only_from:
            sql += f" AND state IN ({','.join('?' * len(only_from))})"
            args += list(only_from)
        return self._db.execute(sql, args).rowcount == 1

    def job(self, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM job WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, *states: str, limit: int = 1000) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM job WHERE state IN ({','.join('?' * len(states))}) ORDER BY id LIMIT ?",
                (*states, limit)).fetchall()
        return [_job(r) for r in rows]

    def next_queued(self) -> Job | None:
        found = self.jobs("queued", limit=1)
        return found[0] if found else None

    def count(self, *states: str) -> int:
        with self._lock:
            return self._db.execute(
                f"SELECT count(*) FROM job WHERE state IN ({','.join('?' * len(states))})", states).fetchone()[0]

    def last_printed(self) -> Job | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM job WHERE state='done' ORDER BY updated DESC, id DESC LIMIT 1").fetchone()
        return _job(row) if row else None

    def printed_since(self, since: float) -> int:
        """Labels that came out since a time (reprints included: each is a label on a pack)."""
        with self._lock:
            return self._db.execute(
                "SELECT count(*) FROM job WHERE state IN ('printed','done') AND updated >= ?", (since,)).fetchone()[0]

    def find(self, serial: str) -> list[Job]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM job WHERE serial=? ORDER BY id", (serial,)).fetchall()
        return [_job(r) for r in rows]

    def release(self, job_id: int) -> bool:
        """Undo a queued job that never reached a printer: its code is unused again."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("DELETE FROM job WHERE id=? AND state='queued' AND reprint=0 RETURNING serial",
                                       (job_id,)).fetchone()
                if row:
                    self._db.execute("UPDATE code SET state='new' WHERE serial=?", row)
                self._db.execute("COMMIT")
                return row is not None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def void_code(self, serial: str) -> bool:
        """A code voided before any job used it is never printed."""
        with self._lock:
            return self._db.execute("UPDATE code SET state='voided' WHERE serial=? AND state='new'",
                                    (serial,)).rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()
