"""Database engine, sessions and migrations. SQLite by default, PostgreSQL by DATABASE_URL."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
                         # Short pages for bulk inserts (minting stamps) keep each statement small
                         # enough for psycopg to cache its parsed form; at 1,000 rows it re-parsed
                         # a huge query every time (1.3-1.6x slower when ingest still used it).
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


# Where tests and benchmarks may create throwaway databases (trust auth on this machine and CI).
PG_ADMIN = os.environ.get("TEM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_postgres(prefix: str = "tem_scratch") -> Iterator[str]:
    """A new empty PostgreSQL database for a test or benchmark, dropped afterwards.
    Yields its SQLAlchemy URL (postgresql+psycopg://…)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(kind: str, directory: Path, prefix: str = "tem_scratch") -> Iterator[str]:
    """A migrated throwaway hub database: a SQLite file in `directory`, or PostgreSQL."""
    if kind == "sqlite":
        url = f"sqlite:///{Path(directory) / 'hub.db'}"
        upgrade(url)
        yield url
        return
    with scratch_postgres(prefix) as url:
        upgrade(url)
        yield url
