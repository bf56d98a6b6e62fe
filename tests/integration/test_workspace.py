"""Creating and opening workspaces: defaults, idempotence, remembered database, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curata.core.errors import NotFoundError, WorkspaceError
from curata.workspace import Workspace


def test_init_is_idempotent_and_keeps_data(tmp_path: Path, database_url) -> None:
    home = tmp_path / "w"
    with Workspace.create(home, database_url=database_url, user="a") as ws:
        ws.sources.add("s", kind="human", license="CC0-1.0", origin="urn:x")
    with Workspace.create(home, database_url=database_url, user="a") as ws:
        assert [s.name for s in ws.sources.list()] == ["s"]
        assert [e.action for e in ws.audit.list()] == ["source.add", "workspace.init"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_url_is_remembered_by_the_workspace(tmp_path: Path, database_url) -> None:
    home = tmp_path / "w"
    Workspace.create(home, database_url=database_url).close()
    assert json.loads((home / "config.json").read_text())["database_url"] == database_url
    with Workspace.open(home) as ws:
        assert ws.engine.dialect.name == "postgresql"


def test_default_home_is_dot_curata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CURATA_HOME", raising=False)
    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)
    with Workspace.create() as ws:
        assert ws.home == tmp_path / ".curata"
        assert (tmp_path / ".curata" / "curata.db").exists()
    monkeypatch.setenv("CURATA_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(NotFoundError, match=r"no Curata workspace at .*elsewhere"):
        Workspace.open()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    import sqlalchemy as sa

    with Workspace.create(tmp_path / "w") as ws, ws.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    with pytest.raises(WorkspaceError, match="cannot reach the metadata database"):
        Workspace.create(tmp_path / "w", database_url=url)
    with pytest.raises(WorkspaceError, match="invalid database URL"):
        Workspace.create(tmp_path / "w2", database_url="notadb://x")
    assert not (tmp_path / "w").exists() and not (tmp_path / "w2").exists()
