"""Pre-minted stamp codes the hub allocated to this print station, and the print
jobs made from them. A code is taken for a job before it is printed, so a crash
mid-job leaves a record that needs a decision instead of a silent reprint."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS code (
    serial TEXT PRIMARY KEY,
    gtin TEXT,
    received INTEGER NOT NULL DEFAULT (strftime('%s','now')),
    -- new: not yet used; printing: sent to the printer, outcome unknown; printed
    state TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX IF NOT EXISTS code_state ON code (state, received);
"""


class Codebook:
    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(self, serials: list[str], gtin: str | None) -> int:
        with self._lock:
            before = self._count("new")
            self._db.executemany("INSERT OR IGNORE INTO code (serial, gtin) VALUES (?, ?)",
                                 [(s, gtin) for s in serials])
            return self._count("new") - before

    def take(self, gtin: str | None) -> str | None:
        """Reserve the oldest unused code for this GTIN (or any, for rolls); None when out."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT serial FROM code WHERE state='new' AND (gtin IS ? OR gtin IS NULL) "
                "ORDER BY received, serial LIMIT 1", (gtin,)).fetchone()
            if row:
                self._db.execute("UPDATE code SET state='printing' WHERE serial=?", row)
            self._db.execute("COMMIT")
            return row[0] if row else None

    def mark(self, serial: str, state: str) -> None:
        with self._lock:
            self._db.execute("UPDATE code SET state=? WHERE serial=?", (state, serial))

    def unfinished(self) -> list[str]:
        """Codes sent to a printer when the station last stopped: printed or not, nobody knows."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT serial FROM code WHERE state='printing'")]

    def remaining(self) -> int:
        with self._lock:
            return self._count("new")

    def _count(self, state: str) -> int:
        return self._db.execute("SELECT count(*) FROM code WHERE state=?", (state,)).fetchone()[0]
