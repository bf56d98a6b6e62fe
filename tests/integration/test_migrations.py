"""The Alembic migrations build exactly the schema the ORM declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from curata.store.db import schema_is_current
from curata.store.tables import Base


def test_migrations_match_the_models(ws) -> None:
    assert schema_is_current(ws.engine)
    with ws.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reopening_migrates_nothing_and_keeps_data(ws) -> None:
    from curata.workspace import Workspace

    again = Workspace.open(ws.home, database_url=ws.settings.database_url)
    try:
        assert [s.name for s in again.sources.list()] == ["web"]
    finally:
        again.close()
