"""The Alembic migrations build exactly the schema the models describe, on SQLite and
PostgreSQL: a table, column or index added to one and not the other fails here."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub import db as hubdb
from hub.models import Base


def test_migrations_build_the_models_schema(db_url: str) -> None:
    hubdb.upgrade(db_url)
    engine = hubdb.make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], "\n".join(map(str, diff))

