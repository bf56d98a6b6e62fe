"""Fixtures: a fresh Workspace per test, on SQLite and on PostgreSQL (a schema per test).

PostgreSQL comes from ``CURATA_TEST_DATABASE_URL`` (default: the local server's ``test``
database). Under ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PG_URL = os.environ.get(
    "CURATA_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
_pg_state: dict[str, Any] = {}


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    if "error" not in _pg_state:
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(PG_URL)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _pg_state["error"] = None
        except Exception as exc:
            _pg_state["error"] = str(exc).splitlines()[0]
    error: str | None = _pg_state["error"]
    return error


def _require_pg() -> None:
    error = _pg_reachable()
    if error is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but PostgreSQL is unreachable at {PG_URL}: {error}")
    pytest.skip(f"PostgreSQL unreachable ({error}); set CI=true to make this a failure")


RAY_TESTS = {
    "test_curation_ray.py",
    "test_curation_ray_cluster.py",
    "test_curation_workers.py",
    "test_redteam_ray.py",
    "test_s3_store.py",
}
"""Files whose tests start Ray clusters: under pytest-xdist they run on one worker, one at a
time (two clusters at once on a 2-CPU machine starve each other's start-up)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in RAY_TESTS:
            item.add_marker(pytest.mark.xdist_group("ray"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_migrations: run the real Alembic migrations on a fresh database instead of"
        " replaying the migrated schema (see tests/migration_replay.py)",
    )


@pytest.fixture(scope="session", autouse=True)
def migration_replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh database gets the migrated schema replayed from a template instead of running
    every migration (tests/migration_replay.py); None under CURATA_TEST_REAL_MIGRATIONS=1."""
    from tests.migration_replay import MigrationReplay, replay_is_off

    if replay_is_off():
        yield None
        return
    replay = MigrationReplay(tmp_path_factory.mktemp("migration-template"))
    replay.install()
    try:
        yield replay
    finally:
        replay.uninstall()


@pytest.fixture(autouse=True)
def _real_migrations_when_marked(request: pytest.FixtureRequest, migration_replay: Any) -> Any:
    """A test marked ``real_migrations`` migrates its fresh databases for real."""
    if migration_replay is None or request.node.get_closest_marker("real_migrations") is None:
        yield
        return
    migration_replay.enabled = False
    try:
        yield
    finally:
        migration_replay.enabled = True


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL pinned to a fresh schema, dropped afterwards (PostgreSQL required:
    skipped without it, a failure with CI=true)."""
    _require_pg()
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the default SQLite, or a PostgreSQL URL pinned to a fresh schema."""
    if request.param == "sqlite":
        yield None
        return
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def ws(tmp_path: Path, database_url: str | None) -> Iterator[Any]:
    """A new workspace with one source, ``web`` (crawl, CC-BY-4.0)."""
    from curata.workspace import Workspace

    workspace = Workspace.create(tmp_path / "ws", database_url=database_url, user="tester")
    workspace.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
    yield workspace
    workspace.close()


def log_in(ws: Any, name: str | None = None) -> str | None:
    """Log the command line in to ``ws`` as ``name`` (default: the workspace user), as a team on
    a shared database does; return the token (``None`` on the embedded database, which needs none).

    The workspace user is who ``curata init`` makes the first admin (clearance ``restricted``), so
    it is added that way when missing (a test may have added other users first through the Python
    API); any other ``name`` must exist. The token is issued as ``curata user token`` would and
    saved in the workspace as ``curata login`` would, so a ``curata --home`` run acts as that user.
    """
    from curata.core.errors import NotFoundError
    from curata.settings import write_login

    if not ws.settings.shared:
        return None
    name = name or ws.settings.user
    try:
        ws.workforce.get(name)
    except NotFoundError:
        if name != ws.settings.user:
            raise
        ws.workforce.add_user(name, role="admin", clearance="restricted")
    token: str = ws.workforce.issue_token(name)
    write_login(ws.home, token)
    return token


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def text_rows(n: int, *, start: int = 0, suffix: str = "") -> list[dict[str, Any]]:
    return [
        {"id": i, "text": f"document {i} about topic {i % 7}{suffix}"}
        for i in range(start, start + n)
    ]


@pytest.fixture
def cli(
    tmp_path: Path,
    database_url: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Run ``curata`` in-process against a workspace in tmp_path; returns (code, out, err)."""
    from curata.cli.main import main

    home = tmp_path / "cli-ws"
    monkeypatch.setenv("CURATA_HOME", str(home))
    monkeypatch.setenv("CURATA_USER", "cli-tester")
    if database_url:
        monkeypatch.setenv("CURATA_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    run.home = home  # type: ignore[attr-defined]
    return run


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1 (a free port) while the block runs;
    yields its base URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
