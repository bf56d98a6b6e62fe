"""The metadata database: engine creation (SQLite WAL or PostgreSQL) and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import WorkspaceError

MIGRATIONS = Path(__file__).parent / "migrations"
POOL_SIZE = 16
"""PostgreSQL connections kept open per process (the API server runs this many threads)."""


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, full sync and a busy timeout."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            # pool_recycle instead of pool_pre_ping: pre-ping costs a round trip per checkout.
            # The pool holds as many connections as the API server runs request threads
            # (see curata.api.app): overflow connections are closed on return, and opening a
            # PostgreSQL connection per request costs more than the request itself.
            engine = create_engine(
                url,
                pool_recycle=1800,
                pool_size=POOL_SIZE,
                max_overflow=POOL_SIZE,
                pool_use_lifo=True,
            )
    except (ArgumentError, ImportError) as exc:
        raise WorkspaceError(f"invalid database URL {url!r}: {exc}") from exc
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


@contextmanager
def write_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that takes SQLite's write lock up front (no-op on PostgreSQL).

    SQLite's default deferred transactions fail with "database is locked" when two readers
    both try to upgrade to writers; ``BEGIN IMMEDIATE`` makes the second wait instead.
    """
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))
        yield session


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (services return plain values)."""
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest migration (a no-op when it is current)."""
    cfg = _alembic_config()
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise WorkspaceError(f"cannot reach the metadata database: {exc.orig}") from exc


def schema_is_current(engine: Engine) -> bool:
    """Tell whether the database is at the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current == head
