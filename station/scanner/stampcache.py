"""What a scan station knows offline: stamp states of its area, synced from the hub in
chunks (`sync_stamps` commands), kept in SQLite. No keys: a stamp the cache does not
hold is "not verifiable offline", never "genuine".

A full sync is a numbered set of chunks (`part`/`parts`); rows of older syncs are dropped
only once every chunk of the newer one has arrived, so a half-received sync never forgets
stamps. Between full syncs the hub sends changes (`"mode": "changes"`, no `part`): rows
that are upserted and never delete anything; the hub's answer to a question about one
stamp comes in the same form. Sync ids sort by the time the hub built them: a row is only
ever replaced by one built later (or by this station's own mark), and a full sync drops
only rows older than itself. Stations from before the changes form refuse it (no `part`),
so their caches never take a change set for a whole sync."""
from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tem import codes

STATES = frozenset({"issued", "printed", "active", "sold", "void"})
LOCAL = "local"  # rows this station changed itself (activated, sold) since the last sync

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stamp (
    serial TEXT PRIMARY KEY, gtin TEXT, state TEXT NOT NULL, lot TEXT, void_reason TEXT, gen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS product (gtin TEXT PRIMARY KEY, name TEXT NOT NULL, producer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sync (
    id TEXT PRIMARY KEY, parts INTEGER NOT NULL, at TEXT, scope TEXT, completed_at TEXT);
CREATE TABLE IF NOT EXISTS sync_part (sync TEXT NOT NULL, part INTEGER NOT NULL, PRIMARY KEY (sync, part));
CREATE TABLE IF NOT EXISTS changes (id TEXT PRIMARY KEY, at TEXT);  -- the newest periodic change set
"""
# A synced row replaces a cached one only when it was built later, or over this station's own mark.
_UPSERT = ("INSERT INTO stamp (serial, gtin, state, lot, void_reason, gen) VALUES (?, ?, ?, ?, ?, ?) "
           "ON CONFLICT(serial) DO UPDATE SET gtin=excluded.gtin, state=excluded.state, lot=excluded.lot, "
           "void_reason=excluded.void_reason, gen=excluded.gen "
           f"WHERE stamp.gen = '{LOCAL}' OR stamp.gen <= excluded.gen")
_UPSERT_PRODUCT = ("INSERT INTO product (gtin, name, producer) VALUES (?, ?, ?) ON CONFLICT(gtin) DO UPDATE "
                   "SET name=excluded.name, producer=excluded.producer")


def local_time(iso: str | None) -> str:
    """"HH:MM dd/mm" in the station's own time zone for an ISO time from the hub (UTC)."""
    if not iso:
        return ""
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%H:%M %d/%m")
    except ValueError:
        return iso[:16]


class SyncError(ValueError):
    """A sync chunk that cannot be used; the command is answered with this text."""


@dataclass(frozen=True)
class CachedStamp:
    serial: str
    gtin: str | None
    state: str
    lot: str | None
    void_reason: str | None
    product: str | None
    producer: str | None


class StampCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- sync from the hub --------------------------------------------------------------
    def apply_chunk(self, args: dict[str, Any]) -> tuple[bool, str]:
        """Store one chunk of a full sync, or a set of changes; returns (a full sync is now
        complete, a line for the command result)."""
        if args.get("mode") == "changes":
            return False, self._apply_changes(args)
        try:
            sync_id, part, parts = str(args["sync"]), int(args["part"]), int(args["parts"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SyncError(f"sync chunk without {exc}") from None
        if not 0 <= part < parts:
            raise SyncError(f"chunk {part} of {parts} is out of range")
        clean, products = _rows(args, sync_id)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            newest = self._newest()
            if newest is not None and sync_id < newest:
                # A late chunk of an older sync (ids sort by time) must not overwrite newer states.
                return False, f"sync {sync_id}: older than {newest}, ignored"
            self._db.execute("INSERT OR IGNORE INTO sync (id, parts, at, scope) VALUES (?, ?, ?, ?)",
                             (sync_id, parts, args.get("at"), args.get("scope")))
            self._db.executemany(_UPSERT, clean)
            self._db.executemany(_UPSERT_PRODUCT, products)
            self._db.execute("INSERT OR IGNORE INTO sync_part VALUES (?, ?)", (sync_id, part))
            got = self._db.execute("SELECT count(*) FROM sync_part WHERE sync = ?", (sync_id,)).fetchone()[0]
            complete = got >= parts
            if complete:
                # Every chunk is here: what the hub no longer lists is gone (or out of the area);
                # changes built after this sync stay.
                self._db.execute("DELETE FROM stamp WHERE gen <> ? AND gen < ?", (LOCAL, sync_id))
                self._db.execute("UPDATE sync SET completed_at = ? WHERE id = ?",
                                 (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), sync_id))
                self._db.execute("DELETE FROM sync_part WHERE sync <> ?", (sync_id,))
        return complete, f"sync {sync_id}: chunk {part + 1}/{parts}, {len(clean)} stamps" + (
            " (complete)" if complete else "")

    def _apply_changes(self, args: dict[str, Any]) -> str:
        try:
            sync_id = str(args["sync"])
        except KeyError as exc:
            raise SyncError(f"changes without {exc}") from None
        clean, products = _rows(args, sync_id)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            newest = self._newest()
            if newest is not None and sync_id < newest:
                return f"changes {sync_id}: older than sync {newest}, ignored"
            self._db.executemany(_UPSERT, clean)
            self._db.executemany(_UPSERT_PRODUCT, products)
            if "answer" not in args and newest is not None:
                # A periodic change set brings the whole area up to its time; an answer
                # about one stamp does not.
                self._db.execute("DELETE FROM changes WHERE id < ?", (sync_id,))
                self._db.execute("INSERT OR IGNORE INTO changes VALUES (?, ?)", (sync_id, args.get("at")))
        return f"changes {sync_id}: {len(clean)} stamps"

    def _newest(self) -> str | None:
        return self._db.execute("SELECT max(id) FROM sync WHERE completed_at IS NOT NULL").fetchone()[0]

    # -- lookups and local changes ---------------------------------------------------------
    def lookup(self, serial: str) -> CachedStamp | None:
        with self._lock:
            row = self._db.execute(
                "SELECT s.serial, s.gtin, s.state, s.lot, s.void_reason, p.name, p.producer "
                "FROM stamp s LEFT JOIN product p ON p.gtin = s.gtin WHERE s.serial = ?", (serial,)).fetchone()
        return CachedStamp(*row) if row else None

    def product(self, gtin: str | None) -> tuple[str, str] | None:
        if gtin is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT name, producer FROM product WHERE gtin = ?", (gtin,)).fetchone()
        return (row[0], row[1]) if row else None

    def mark(self, serial: str, state: str, gtin: str | None = None, lot: str | None = None) -> None:
        """Remember what this station itself did (it has not come back in a sync yet)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO stamp (serial, gtin, state, lot, gen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(serial) DO UPDATE SET state=excluded.state, gtin=coalesce(excluded.gtin, stamp.gtin), "
                "lot=coalesce(excluded.lot, stamp.lot), gen=excluded.gen", (serial, gtin, state, lot, LOCAL))

    def synced_at(self) -> str | None:
        """How current the cache is: when the hub built the newest complete sync, or the
        newest change set after it (ISO time), or None."""
        return self.status()["synced_at"]

    def status(self) -> dict[str, Any]:
        with self._lock:
            count = self._db.execute("SELECT count(*) FROM stamp").fetchone()[0]
            last = self._db.execute("SELECT id, at FROM sync WHERE completed_at IS NOT NULL "
                                    "ORDER BY id DESC LIMIT 1").fetchone()
            changes = self._db.execute("SELECT id, at FROM changes ORDER BY id DESC LIMIT 1").fetchone()
        at = last[1] if last else None
        if last and changes and changes[0] > last[0]:
            at = changes[1]
        return {"stamps": count, "sync": last[0] if last else None, "synced_at": at}


def _rows(args: dict[str, Any], gen: str) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]:
    """The stamp and product rows of a sync message, checked; SyncError names the bad one."""
    rows, products = args.get("stamps", []), args.get("products", {})
    if not isinstance(rows, list) or not isinstance(products, dict):
        raise SyncError("stamps must be a list and products an object")
    clean = []
    for row in rows:
        try:
            serial, state, gtin, lot, reason = (list(row) + [None] * 5)[:5]
            serial = codes.normalize(str(serial))
        except (TypeError, codes.CodeError) as exc:
            raise SyncError(f"bad stamp row {row!r}: {exc}") from None
        if state not in STATES:
            raise SyncError(f"bad stamp state {state!r} for {serial}")
        clean.append((serial, gtin, state, lot, reason, gen))
    try:
        names = [(g, str(p.get("name", "")), str(p.get("producer", ""))) for g, p in products.items()]
    except AttributeError:
        raise SyncError("each product must be an object with name and producer") from None
    return clean, names
