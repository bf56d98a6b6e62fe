"""Tests only: a fresh database gets the migrated schema replayed from a template.

Most tests make a fresh workspace, and running every Alembic migration on each empty database
cost most of the suite's time (and grew with each migration). So the first fresh database of
each backend in a test process has the real migrations run into a template, captured once;
every later fresh (empty) database gets a copy instead. SQLite: the template file's pages, by
SQLite's backup API, so schema, ``alembic_version`` and the rows migrations insert come over
byte for byte. PostgreSQL: the statements the migrations sent (every one but reads), recorded
from the template's run and sent again as the driver got them, in one transaction; they name
no schema (search_path picks it), so they build the very same catalog in the target schema
without Alembic loading and reflecting (pg_dump was tried: its text re-parses a CHECK with
IN (...) into a different, equivalent expression, so the schema would not be identical).
A database that is not empty, a backend other than these, or an unreachable server goes to
the real ``migrate``, so upgrades and error messages stay the real ones.

tests/integration/test_migration_replay.py proves a replayed schema equals a really migrated
one on both backends, so the shortcut cannot hide a migration's difference. Set
``CURATA_TEST_REAL_MIGRATIONS=1`` to run the real migrations everywhere; a test marked
``real_migrations`` always gets them.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from curata.store import db

REAL_MIGRATE: Callable[[Engine], None] = db.migrate
OFF_ENV = "CURATA_TEST_REAL_MIGRATIONS"
MARKER = "real_migrations"
_HOOKED = "migrate"


def replay_is_off() -> bool:
    """Whether the environment asks for the real migrations everywhere."""
    return os.environ.get(OFF_ENV, "").lower() in ("1", "true", "yes")


class MigrationReplay:
    """Stands in for ``curata.store.db.migrate`` during a test session (see the module doc)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.enabled = True
        """Turned off for the duration of a test marked ``real_migrations``."""
        self.replayed = 0
        """How many databases got the template instead of the migrations (for the proof test)."""
        self._sqlite_template: Path | None = None
        self._pg_template: list[tuple[str, Any, bool]] | None = None
        """The statements the real migrations sent to an empty PostgreSQL schema."""
        self._patched: list[object] = []
        self._capturing = threading.Lock()  # in-process servers may open workspaces too

    # -- hooking -------------------------------------------------------------------------------

    def install(self) -> None:
        """Put ``migrate`` in place of the real one wherever a loaded Curata module holds it
        (``curata.workspace`` imports it by name); modules loaded later import this one."""
        for name, module in list(sys.modules.items()):
            is_curata = name == "curata" or name.startswith("curata.")
            if is_curata and getattr(module, _HOOKED, None) is REAL_MIGRATE:
                setattr(module, _HOOKED, self.migrate)
                self._patched.append(module)

    def uninstall(self) -> None:
        for module in self._patched:
            setattr(module, _HOOKED, REAL_MIGRATE)
        self._patched.clear()

    # -- the stand-in --------------------------------------------------------------------------

    def migrate(self, engine: Engine) -> None:
        """Replay the template into an empty database; anything else gets the real migrate."""
        if not self.enabled or not self.replay(engine):
            REAL_MIGRATE(engine)

    def replay(self, engine: Engine) -> bool:
        """Copy the template into ``engine``'s database if it is empty; False when it is not
        (or the backend is neither SQLite nor PostgreSQL, or the server cannot be reached)."""
        dialect = engine.dialect.name
        if dialect == "sqlite":
            done = self._replay_sqlite(engine)
        elif dialect == "postgresql":
            done = self._replay_pg(engine)
        else:
            done = False
        self.replayed += done
        return done

    # -- SQLite --------------------------------------------------------------------------------

    def _replay_sqlite(self, engine: Engine) -> bool:
        try:
            raw = engine.raw_connection()
        except sa.exc.DBAPIError:
            return False
        try:
            target = raw.driver_connection
            assert isinstance(target, sqlite3.Connection)
            try:
                if target.execute("SELECT count(*) FROM sqlite_master").fetchone() != (0,):
                    return False
            except sqlite3.Error:
                return False  # not a database: the real migrate says so its own way
            with closing(sqlite3.connect(self._sqlite_template_path())) as template:
                template.backup(target)
            return True
        finally:
            raw.close()

    def _sqlite_template_path(self) -> Path:
        with self._capturing:
            if self._sqlite_template is None:
                self._sqlite_template = self._capture_sqlite()
        return self._sqlite_template

    def _capture_sqlite(self) -> Path:
        path = self.workdir / "template.db"
        engine = db.make_engine(f"sqlite:///{path}")
        try:
            REAL_MIGRATE(engine)
        finally:
            engine.dispose()
        return path

    # -- PostgreSQL ----------------------------------------------------------------------------

    def _replay_pg(self, engine: Engine) -> bool:
        try:
            with engine.connect() as conn:
                schema = conn.scalar(sa.text("SELECT current_schema()"))
                if schema is None or conn.scalar(
                    sa.text(
                        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                        " ON n.oid = c.relnamespace WHERE n.nspname = :s)"
                        " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                        " ON n.oid = p.pronamespace WHERE n.nspname = :s)"
                        " + (SELECT count(*) FROM pg_type t JOIN pg_namespace n"
                        " ON n.oid = t.typnamespace WHERE n.nspname = :s)"
                    ),
                    {"s": schema},
                ):
                    return False
        except sa.exc.OperationalError:
            return False  # the real migrate reports an unreachable server its own way
        statements = self._pg_statements(engine.url)
        raw = engine.raw_connection()
        try:
            # The statements the migrations sent, as the driver got them, in one transaction.
            with closing(raw.cursor()) as cur:
                for statement, parameters, many in statements:
                    if many:
                        cur.executemany(statement, parameters)
                    else:
                        cur.execute(statement, parameters)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        return True

    def _pg_statements(self, url: URL) -> list[tuple[str, Any, bool]]:
        with self._capturing:
            if self._pg_template is None:
                self._pg_template = self._capture_pg(url)
        return self._pg_template

    def _capture_pg(self, url: URL) -> list[tuple[str, Any, bool]]:
        """Run the real migrations into a schema of their own, recording every statement that
        changes something (reads, e.g. Alembic's reflection, are left out), then drop it."""
        schema = f"curata_tmpl_{uuid.uuid4().hex}"
        admin = sa.create_engine(url.difference_update_query(["options"]), poolclass=NullPool)
        recorded: list[tuple[str, Any, bool]] = []

        def record(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
        ) -> None:
            if not statement.lstrip().upper().startswith(("SELECT", "SHOW")):
                recorded.append((statement, parameters, many))

        try:
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            try:
                options = {"options": f"-csearch_path={schema}"}
                target = url.update_query_dict(options).render_as_string(hide_password=False)
                engine = db.make_engine(target)
                event.listen(engine, "before_cursor_execute", record)
                try:
                    REAL_MIGRATE(engine)
                finally:
                    engine.dispose()
            finally:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        finally:
            admin.dispose()
        named = [s for s, _, _ in recorded if schema in s]
        if named or not recorded:  # a statement naming the template schema would not replay
            raise RuntimeError(f"cannot replay the migrations' statements: {named[:3]}")
        return recorded
