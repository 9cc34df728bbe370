"""Database engine, sessions and migrations. SQLite by default, PostgreSQL by DATABASE_URL."""
from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # A ping before every checkout is one more round trip per page view; a connection that a
    # database restart broke fails one request and SQLAlchemy then renews the whole pool.
    # Pool: one connection per gunicorn thread (TEM_DB_POOL_SIZE), a few spare.
    return create_engine(url, pool_pre_ping=os.environ.get("TEM_DB_PRE_PING", "0") == "1",
                         pool_size=int(os.environ.get("TEM_DB_POOL_SIZE", "5")),
                         max_overflow=int(os.environ.get("TEM_DB_MAX_OVERFLOW", "10")), pool_recycle=3600,
                         # Short insert pages keep each statement small enough for psycopg to
                         # cache its parsed form; at 1000 rows it re-parses a huge query per batch
                         # (in-process ingest ~1,400 → ~2,000 events/s, bench/RESULTS.md).
                         insertmanyvalues_page_size=40)


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
