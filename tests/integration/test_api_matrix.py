"""Every route x every role, generated from the app's OpenAPI document (#12).

Each route the OpenAPI document lists must have a row in :data:`MATRIX` declaring the status
class every kind of caller gets; a new route without a row fails the suite, and so does a row
for a route that no longer exists. Runs on SQLite and PostgreSQL over the two-project world of
``test_api_access`` (members of every role, vendor users, another project's lead and reviewer,
no token, a revoked token).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import PG_URL, _require_pg
from tests.integration.test_api_access import GOOD, build_world

from curata.api.app import create_app
from curata.workspace import Workspace

ATTACKS = Path(__file__).parents[1] / "fixtures" / "redteam" / "curata_attacks.jsonl"

CALLERS = {  # who calls: a role, and the user of the world who has it
    "admin": "root",
    "lead": "lead-a",
    "reviewer": "rev-a",
    "annotator": "ann-a",  # holds the assignment the matrix submits to
    "sme": "sme-a",
    "viewer": "view-a",
    "vendor annotator": "vann-a",
    "vendor lead": "vlead-a",
    "lead of another project": "lead-b",
    "reviewer of another project": "rev-b",
    "no token": None,
    "revoked token": "gone",
}
ANONYMOUS = {"no token": "401", "revoked token": "401"}
OUTSIDERS = {"lead of another project": "404", "reviewer of another project": "404"}
MEMBERS = ("admin", "lead", "reviewer", "annotator", "sme", "viewer", "vendor annotator",
           "vendor lead")  # fmt: skip


def _row(allowed: tuple[str, ...], denied: str = "403") -> dict[str, str]:
    """Members with a role in ``allowed`` succeed, other members get ``denied``, another
    project's members 404 (the project does not exist for them), no valid token 401."""
    return {
        **{m: "2xx" if m in allowed else denied for m in MEMBERS},
        **OUTSIDERS,
        **ANONYMOUS,
    }


EVERYONE = dict.fromkeys(CALLERS, "2xx")
SIGNED_IN = {**dict.fromkeys(CALLERS, "2xx"), **ANONYMOUS}
WORKERS = ("admin", "lead", "reviewer", "annotator", "sme", "vendor annotator", "vendor lead")
REVIEWERS = ("admin", "lead", "reviewer", "sme", "vendor lead")
LEADS = ("admin", "lead", "vendor lead")
# red-team campaigns are workspace-level: another project's lead or reviewer is no outsider,
# and no vendor user reads or runs them (VENDOR_EXCLUDED)
RT_READERS = ("admin", "lead", "reviewer", "sme", "lead of another project",
              "reviewer of another project")  # fmt: skip
RT_RUNNERS = ("admin", "lead", "lead of another project")


def _workspace_row(allowed: tuple[str, ...]) -> dict[str, str]:
    """Callers with a role in ``allowed`` succeed, every other signed-in caller gets 403."""
    return {**{c: "2xx" if c in allowed else "403" for c in CALLERS}, **ANONYMOUS}


@dataclass(frozen=True)
class Row:
    """The status class each caller gets from one route, and the request body it sends."""

    expect: dict[str, str]
    body: dict[str, Any] | None = field(default=None)
    query: dict[str, str] | None = field(default=None)  # values formatted with the world's ids


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/health"): Row(EVERYONE),
    ("GET", "/api/v1/me"): Row(SIGNED_IN),
    ("GET", "/api/v1/projects"): Row(SIGNED_IN),
    ("GET", "/api/v1/projects/{name}"): Row(_row(MEMBERS)),
    ("GET", "/api/v1/projects/{name}/guideline"): Row(_row(MEMBERS)),
    ("POST", "/api/v1/projects/{name}/next"): Row(_row(WORKERS)),
    # an assignment is its annotator's alone: anyone else is told it does not exist
    ("POST", "/api/v1/assignments/{assignment_id}/submit"): Row(
        _row(("annotator",), denied="404"), body={"answers": GOOD}
    ),
    # the same policy as submit; the world's assignment was submitted, so its holder is told
    # the lease is no longer held (409) and nothing changes
    ("POST", "/api/v1/assignments/{assignment_id}/skip"): Row(
        {**_row(("annotator",), denied="404"), "annotator": "409"}, body={"reason": "unreadable"}
    ),
    ("POST", "/api/v1/projects/{name}/members/{member}/recalibrate"): Row(
        _row(LEADS), body={"reason": "matrix"}
    ),
    ("POST", "/api/v1/projects/{name}/reviews/next"): Row(_row(REVIEWERS)),
    ("POST", "/api/v1/annotations/{annotation_id}/review"): Row(
        _row(REVIEWERS), body={"decision": "accept"}
    ),
    ("POST", "/api/v1/tasks/{task_id}/adjudicate"): Row(_row(LEADS), body={"answers": GOOD}),
    ("GET", "/api/v1/tasks/{task_id}/history"): Row(_row(REVIEWERS)),
    # exports leave the organisation: in-house leads and admins only, never a vendor user
    ("GET", "/api/v1/projects/{name}/export"): Row(_row(("admin", "lead"))),
    # red-team campaigns: reading is redteam.read, creating and running redteam.run
    ("GET", "/api/v1/redteam/campaigns"): Row(_workspace_row(RT_READERS)),
    ("GET", "/api/v1/redteam/campaigns/{campaign_id}"): Row(_workspace_row(RT_READERS)),
    ("GET", "/api/v1/redteam/campaigns/{campaign_id}/attempts"): Row(_workspace_row(RT_READERS)),
    ("GET", "/api/v1/redteam/campaigns/{campaign_id}/report"): Row(_workspace_row(RT_READERS)),
    ("GET", "/api/v1/redteam/campaigns/{campaign_id}/report.html"): Row(_workspace_row(RT_READERS)),
    ("GET", "/api/v1/redteam/compare"): Row(
        _workspace_row(RT_READERS), query={"before": "{before}", "after": "{after}"}
    ),
    ("GET", "/api/v1/redteam/compare.html"): Row(
        _workspace_row(RT_READERS), query={"before": "{before}", "after": "{after}"}
    ),
    ("POST", "/api/v1/redteam/campaigns"): Row(
        _workspace_row(RT_RUNNERS),
        body={"attacks": "attacks@1", "target": "scripted", "label": "matrix"},
    ),
    # the world's campaign has completed: running it again answers 200 and sends nothing
    ("POST", "/api/v1/redteam/campaigns/{campaign_id}/run"): Row(_workspace_row(RT_RUNNERS)),
}


@dataclass
class World:
    client: TestClient
    tokens: dict[str, str]
    ids: dict[str, Any]
    app: Any


def open_world(tmp_path: Path, database_url: str | None) -> tuple[Workspace, World]:
    """The access world, served in-process, with one annotated item of ``alpha``."""
    ws = Workspace.create(tmp_path / "ws", database_url=database_url, user="tester")
    ws.sources.add("web", kind="crawl", license="CC-BY-4.0", origin="https://example.org")
    tokens = build_world(ws, tmp_path)
    ws.projects.guidelines.publish("alpha", "Label the topic of each ticket.")
    view = ws.queue.next_task("alpha", "ann-a")
    assert view is not None
    done = ws.queue.submit(view.assignment_id, "ann-a", GOOD)
    item = ws.reviews.next_review("alpha", "rev-a")
    assert item is not None
    ws.redteam.import_attacks(ATTACKS, dataset="attacks", source="web")
    before = ws.campaigns.create(attacks="attacks@1", target="scripted", label="before")
    ws.campaigns.run(before.id)
    after = ws.campaigns.create(attacks="attacks@1", target="scripted:patched=true")
    ws.campaigns.run(after.id)
    ids = {
        "name": "alpha",
        "member": "ann-a",
        "task_id": item.task_id,
        "annotation_id": done.annotation_id,
        "assignment_id": view.assignment_id,
        "campaign_id": before.id,
        "before": before.id,
        "after": after.id,
    }
    app = create_app(ws)
    return ws, World(client=TestClient(app), tokens=tokens, ids=ids, app=app)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world per database for the whole module (building it is most of the cost)."""
    import sqlalchemy as sa

    url, schema = None, None
    if request.param == "postgresql":
        _require_pg()
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with sa.create_engine(PG_URL).begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    ws, built = open_world(tmp_path_factory.mktemp(request.param), url)
    try:
        yield built
    finally:
        ws.close()
        if schema:
            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every operation in the app's OpenAPI document."""
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_route_has_a_declared_row(world: World) -> None:
    served = routes(world.app)
    assert served - set(MATRIX) == set(), "routes without a row in MATRIX"
    assert set(MATRIX) - served == set(), "rows in MATRIX for routes that are not served"
    for key, row in MATRIX.items():
        assert set(row.expect) == set(CALLERS), f"{key}: every caller needs an expectation"


def _status_class(code: int) -> str:
    return "2xx" if 200 <= code < 300 else str(code)


@pytest.mark.parametrize("caller", list(CALLERS))
def test_route_by_role(world: World, caller: str) -> None:
    user = CALLERS[caller]
    headers = {"Authorization": f"Bearer {world.tokens[user]}"} if user else {}
    wrong = []
    for method, path in sorted(routes(world.app)):
        row = MATRIX.get((method, path))
        if row is None:
            wrong.append(f"{method} {path}: no row in MATRIX")
            continue
        url = path.format(**world.ids)
        params = {k: v.format(**world.ids) for k, v in (row.query or {}).items()}
        response = world.client.request(method, url, json=row.body, params=params, headers=headers)
        got = _status_class(response.status_code)
        if got != row.expect[caller]:
            wrong.append(f"{method} {path}: {got}, declared {row.expect[caller]} ({response.text})")
    assert not wrong, f"{caller}:\n" + "\n".join(wrong)
