"""The Alembic migrations build exactly the schema the ORM declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from curata.store.db import schema_is_current
from curata.store.tables import Base

# These check what the Alembic migrations themselves build: never the tests' replayed copy.
pytestmark = pytest.mark.real_migrations


def test_migrations_match_the_models(ws) -> None:
    assert schema_is_current(ws.engine)
    with ws.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Alembic cannot compare an index with a DESC column (it reports it as removed and added);
    # that index is checked by hand below instead.
    queue_index = [
        d for d in diff if d[0] in ("add_index", "remove_index") and d[1].name == "ix_tasks_queue"
    ]
    assert [d[0] for d in queue_index] in (
        [],
        ["remove_index", "add_index"],
        ["add_index", "remove_index"],
    )
    assert [d for d in diff if d not in queue_index] == []
    [index] = [
        i for i in sa.inspect(ws.engine).get_indexes("tasks") if i["name"] == "ix_tasks_queue"
    ]
    # model_covered (0017): the queue walks only the items people are served
    assert index["column_names"] == [
        "project_id", "kind", "is_open", "model_covered", "priority", "id",
    ]  # fmt: skip
    if ws.engine.dialect.name == "sqlite":  # SQLite's reflection leaves out the sort order
        with ws.engine.connect() as conn:
            sql = conn.scalar(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'ix_tasks_queue'")
            )
        assert "priority DESC" in sql
    else:
        assert index["column_sorting"] == {"priority": ("desc",)}


def test_reopening_migrates_nothing_and_keeps_data(ws) -> None:
    from curata.workspace import Workspace

    again = Workspace.open(ws.home, database_url=ws.settings.database_url)
    try:
        assert [s.name for s in again.sources.list()] == ["web"]
    finally:
        again.close()


def test_upgrading_a_0001_database_keeps_its_sources(tmp_path, database_url) -> None:
    """A workspace made before the annotation tables existed upgrades in place."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from curata.store.db import MIGRATIONS, make_engine, migrate

    url = database_url or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO sources (name, kind, license, origin, pii_status, created_at,"
                " created_by) VALUES ('old', 'crawl', 'MIT', 'x', 'none', '2026-01-01', 'me')"
            )
        )
    migrate(engine)
    assert schema_is_current(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT name, sensitivity FROM sources")).one()
    assert tuple(row) == ("old", "internal")
    engine.dispose()


def test_upgrading_a_0002_database_with_annotation_work(ws, tmp_path) -> None:
    """0003 adds columns to tables that annotation rows reference: it must not re-create them
    (SQLite refuses to drop a referenced table), and it derives every task's open flag."""
    from alembic import command
    from tests.conftest import write_jsonl

    from curata.store.db import _alembic_config

    rows = [{"text": f"t{i}"} for i in range(5)]
    ws.ingest([write_jsonl(tmp_path / "m.jsonl", rows)], source="web", dataset="mig")
    ws.workforce.add_user("a")
    schema = {"questions": [{"type": "label", "name": "l", "labels": ["x", "y"]}]}
    ws.projects.create("mig", version="mig@1", schema=schema, members=["a"])
    view = ws.queue.next_task("mig", "a")
    ws.queue.submit(view.assignment_id, "a", {"l": "x"})
    cfg = _alembic_config()
    for target, step in (("0002", command.downgrade), ("head", command.upgrade)):
        with ws.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)
    with ws.engine.connect() as conn:
        flags = conn.execute(sa.text("SELECT is_open FROM tasks ORDER BY id")).scalars().all()
        annotations = conn.scalar(sa.text("SELECT count(*) FROM annotations"))
    assert [bool(f) for f in flags] == [False, True, True, True, True] and annotations == 1
