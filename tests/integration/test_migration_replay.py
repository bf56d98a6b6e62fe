"""The tests' migration replay (tests/migration_replay.py) builds exactly the schema the real
migrations build, on SQLite and PostgreSQL: if a migration adds something the replay would
lose, this fails instead of the whole suite silently testing a different database."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import pg_schema_url
from tests.migration_replay import REAL_MIGRATE, MigrationReplay

from curata.store.db import make_engine, schema_is_current

# Every table, with its columns and rows, that an empty migrated database holds.
_PG_CATALOG = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, column_default, is_nullable,
               data_type, character_maximum_length, numeric_precision, numeric_scale,
               datetime_precision, is_identity, is_generated, generation_expression
        FROM information_schema.columns WHERE table_schema = :s""",
    "constraints": """
        SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
               con.condeferrable, con.condeferred
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s""",
    "table_constraints": """
        SELECT table_name, constraint_name, constraint_type, is_deferrable
        FROM information_schema.table_constraints WHERE table_schema = :s
        -- NOT NULL shows here as a CHECK named after OIDs; is_nullable above compares it
        AND constraint_name !~ '^[0-9]+_[0-9]+_[0-9]+_not_null$'""",
    "key_columns": """
        SELECT table_name, constraint_name, column_name, ordinal_position,
               position_in_unique_constraint
        FROM information_schema.key_column_usage WHERE table_schema = :s""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
    "sequences": """
        SELECT sequencename, data_type, start_value, min_value, max_value, increment_by,
               cycle, cache_size, last_value
        FROM pg_sequences WHERE schemaname = :s""",
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        JOIN pg_namespace n ON n.oid = s.relnamespace WHERE n.nspname = :s""",
    "triggers": """
        SELECT trigger_name, event_manipulation, event_object_table, action_statement,
               action_timing, action_orientation
        FROM information_schema.triggers WHERE trigger_schema = :s""",
    "functions": """
        SELECT p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
               p.prosrc, l.lanname
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = :s""",
    "views": """
        SELECT table_name, view_definition FROM information_schema.views
        WHERE table_schema = :s""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = :s""",
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s""",
}


def _rows(conn: sa.Connection, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (migrations insert some, e.g. auth_epoch and alembic_version)."""
    return {
        t: sorted(tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM "{t}"'))) for t in tables
    }


def _sqlite_schema(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        master = sorted(
            (t, n, tbl, re.sub(r"\s+", " ", sql or "").strip())
            for t, n, tbl, sql in conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"
            )
        )
        tables = [n for t, n, _, _ in master if t == "table"]
        pragmas = {
            p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("user_version", "application_id", "journal_mode", "page_size", "encoding")
        }
        return {"master": master, "rows": _rows(conn, tables), "pragmas": pragmas}


def _pg_schema(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        schema = conn.scalar(sa.text("SELECT current_schema()"))
        assert schema is not None

        def plain(value: Any) -> Any:  # the schema's own name differs by design
            return value.replace(schema, "<schema>") if isinstance(value, str) else value

        out: dict[str, Any] = {
            name: sorted(
                tuple(plain(v) for v in row) for row in conn.execute(sa.text(q), {"s": schema})
            )
            for name, q in _PG_CATALOG.items()
        }
        tables = [t for t, k, _ in out["relations"] if k == "r"]
        out["rows"] = _rows(conn, tables)
        return out


@pytest.fixture
def two_databases(tmp_path: Path, database_url: str | None) -> Iterator[tuple[sa.Engine, ...]]:
    """Two fresh, empty databases on the backend under test."""
    with ExitStack() as stack:
        urls = []
        for name in ("real", "replayed"):
            if database_url is None:
                urls.append(f"sqlite:///{tmp_path / name}.db")
            else:
                urls.append(stack.enter_context(pg_schema_url()))
        engines = tuple(make_engine(u) for u in urls)
        try:
            yield engines
        finally:
            for engine in engines:
                engine.dispose()


@pytest.mark.real_migrations
def test_a_replayed_schema_is_the_migrated_schema(tmp_path: Path, two_databases: Any) -> None:
    real, replayed = two_databases
    replay = MigrationReplay(tmp_path / "template")
    (tmp_path / "template").mkdir()
    REAL_MIGRATE(real)
    assert replay.replay(replayed) is True and replay.replayed == 1
    assert schema_is_current(replayed)
    describe = _sqlite_schema if real.dialect.name == "sqlite" else _pg_schema
    want, got = describe(real), describe(replayed)
    assert want["rows"]["alembic_version"] == got["rows"]["alembic_version"] != []
    assert len(want["rows"]) > 40  # all the tables, not an empty comparison
    assert got == want


@pytest.mark.real_migrations
def test_a_database_that_is_not_empty_gets_the_real_migrations(
    tmp_path: Path, two_databases: Any
) -> None:
    """The replay never writes over a schema: an existing database is left to Alembic."""
    done, _ = two_databases
    REAL_MIGRATE(done)
    replay = MigrationReplay(tmp_path)
    assert replay.replay(done) is False and replay.replayed == 0
    if done.dialect.name == "sqlite":
        # A single table is enough to make SQLite's database "not empty".
        path = tmp_path / "one_table.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE mine (x INTEGER)")
        other = make_engine(f"sqlite:///{path}")
        try:
            assert replay.replay(other) is False
        finally:
            other.dispose()


def test_the_session_replays_a_fresh_workspace(
    tmp_path: Path, database_url: str | None, migration_replay: MigrationReplay | None
) -> None:
    """The conftest hook is in place: a fresh workspace's database is a replayed one."""
    from curata.workspace import Workspace

    if migration_replay is None:
        pytest.skip("CURATA_TEST_REAL_MIGRATIONS is set")
    before = migration_replay.replayed
    ws = Workspace.create(tmp_path / "ws", database_url=database_url, user="tester")
    try:
        assert migration_replay.replayed == before + 1
        assert schema_is_current(ws.engine)
        ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
        assert [s.name for s in ws.sources.list()] == ["web"]
    finally:
        ws.close()
    url = ws.settings.database_url
    again = Workspace.open(tmp_path / "ws", database_url=url)  # not empty: the real migrate
    try:
        assert migration_replay.replayed == before + 1
    finally:
        again.close()
