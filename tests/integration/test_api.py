"""The REST API over real sockets: a uvicorn server on 127.0.0.1, driven with httpx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import served, write_jsonl

from curata.api.app import create_app

SCHEMA = {
    "questions": [
        {"type": "label", "name": "topic", "labels": ["billing", "shipping"]},
        {"type": "text", "name": "comment"},
    ]
}
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


@pytest.fixture
def api(ws, tmp_path: Path) -> Iterator[dict]:
    rows = [
        {"text": f"ticket {i}: {HOSTILE if i == 0 else 'where is my parcel'}"} for i in range(3)
    ]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("other", role="annotator")
    ws.workforce.add_user("watcher", role="viewer")
    ws.workforce.add_user("outsider", role="annotator")
    ws.workforce.add_user("rev", role="reviewer")
    ws.workforce.add_user("boss", role="lead")
    ws.workforce.add_user("vendor-lead", role="lead", vendor="acme")
    ws.projects.create(
        "triage",
        version="tickets@1",
        schema=SCHEMA,
        members=["ann", "other", "watcher", "rev", "boss", "vendor-lead"],
        review={"mode": "all"},
    )
    users = ("ann", "other", "watcher", "outsider", "rev", "boss", "vendor-lead")
    tokens = {u: ws.workforce.issue_token(u) for u in users}
    with served(create_app(ws)) as url, httpx.Client(base_url=url, timeout=30) as client:

        def as_user(name: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[name]}"}

        yield {"client": client, "auth": as_user, "ws": ws}


def test_annotate_through_the_api(api) -> None:
    c, auth = api["client"], api["auth"]
    assert c.get("/api/v1/me", headers=auth("ann")).json()["name"] == "ann"
    assert [p["name"] for p in c.get("/api/v1/projects", headers=auth("ann")).json()] == ["triage"]
    done = 0
    while (r := c.post("/api/v1/projects/triage/next", headers=auth("ann"))).status_code == 200:
        task = r.json()
        assert task["schema"]["questions"][0]["labels"] == ["billing", "shipping"]
        body = {"answers": {"topic": "shipping", "comment": HOSTILE}, "duration_ms": 1200}
        s = c.post(
            f"/api/v1/assignments/{task['assignment_id']}/submit", json=body, headers=auth("ann")
        )
        assert s.status_code == 201, s.text
        done += 1
    assert r.status_code == 204 and done == 3
    assert api["ws"].projects.get("triage").complete == 3


def test_hostile_text_comes_back_as_data(api) -> None:
    c, auth = api["client"], api["auth"]
    texts = []
    while (r := c.post("/api/v1/projects/triage/next", headers=auth("ann"))).status_code == 200:
        assert r.headers["content-type"] == "application/json"
        texts.append(r.json()["record"]["text"])
        c.post(
            f"/api/v1/assignments/{r.json()['assignment_id']}/submit",
            json={"answers": {"topic": "billing", "comment": HOSTILE}},
            headers=auth("ann"),
        )
    assert f"ticket 0: {HOSTILE}" in texts  # verbatim, not escaped or stripped


def test_errors_map_to_status_codes(api) -> None:
    c, auth = api["client"], api["auth"]
    assert c.post("/api/v1/projects/triage/next").status_code == 401
    assert c.get("/api/v1/me", headers={"Authorization": "Bearer cur_nope"}).status_code == 401
    r = c.post("/api/v1/projects/triage/next", headers=auth("watcher"))
    assert r.status_code == 403 and "role 'viewer'" in r.json()["detail"]
    assert c.get("/api/v1/projects/triage", headers=auth("outsider")).status_code == 404
    assert c.post("/api/v1/projects/triage/next", headers=auth("outsider")).status_code == 404
    task = c.post("/api/v1/projects/triage/next", headers=auth("ann")).json()
    url = f"/api/v1/assignments/{task['assignment_id']}/submit"
    bad = c.post(url, json={"answers": {"topic": "weather"}}, headers=auth("ann"))
    assert bad.status_code == 422
    assert (
        "question 'topic': 'weather' is not a label of this question (allowed: billing, shipping)"
        in (bad.json()["detail"])
    )
    assert c.post(url, json={"answers": "nope"}, headers=auth("ann")).status_code == 422
    good = {"answers": {"topic": "billing", "comment": "ok"}}
    foreign = c.post(url, json=good, headers=auth("other"))  # someone else's lease: not found
    assert foreign.status_code == 404
    assert foreign.json()["detail"] == f"no assignment {task['assignment_id']}"
    first = c.post(url, json=good, headers=auth("ann"))
    retry = c.post(url, json=good, headers=auth("ann"))
    assert first.status_code == retry.status_code == 201
    assert first.json()["annotation_id"] == retry.json()["annotation_id"]
    changed = {"answers": {"topic": "shipping", "comment": "ok"}}
    assert c.post(url, json=changed, headers=auth("ann")).status_code == 409


def test_openapi_docs_are_served(api) -> None:
    c = api["client"]
    assert c.get("/docs").status_code == 200
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/api/v1/projects/{name}/next", "/api/v1/assignments/{assignment_id}/submit"} <= set(
        paths
    )


def test_review_through_the_api(api) -> None:
    c, auth = api["client"], api["auth"]
    task = c.post("/api/v1/projects/triage/next", headers=auth("ann")).json()
    body = {"answers": {"topic": "billing", "comment": "fine"}}
    c.post(f"/api/v1/assignments/{task['assignment_id']}/submit", json=body, headers=auth("ann"))
    item = c.post("/api/v1/projects/triage/reviews/next", headers=auth("rev")).json()
    [annotation] = item["annotations"]
    assert annotation["annotator"] == "ann" and annotation["answers"]["topic"] == "billing"
    url = f"/api/v1/annotations/{annotation['annotation_id']}/review"
    assert c.post(url, json={"decision": "accept"}, headers=auth("ann")).status_code == 403
    bad = c.post(url, json={"decision": "maybe"}, headers=auth("rev"))
    assert bad.status_code == 422
    [issue] = bad.json()["detail"]
    assert issue["loc"] == ["body", "decision"] and "'accept', 'fix' or 'reject'" in issue["msg"]
    ok = c.post(url, json={"decision": "accept"}, headers=auth("rev"))
    assert ok.status_code == 201 and ok.json()["status"] == "accepted"
    history = c.get(f"/api/v1/tasks/{item['task_id']}/history", headers=auth("rev")).json()
    assert [(h["decision"], h["by"]) for h in history] == [("accept", "rev")]
    assert c.post("/api/v1/projects/triage/reviews/next", headers=auth("rev")).status_code == 204


def test_only_internal_leads_export(api) -> None:
    c, auth = api["client"], api["auth"]
    ok = c.get("/api/v1/projects/triage/export?format=argilla", headers=auth("boss"))
    assert ok.status_code == 200 and len(ok.json()) == 3 and len(ok.json()[0]["id"]) == 32
    vendor = c.get("/api/v1/projects/triage/export", headers=auth("vendor-lead"))
    assert vendor.status_code == 403
    assert vendor.json()["detail"].startswith("export: vendor users may not do this")
    assert c.get("/api/v1/projects/triage/export", headers=auth("ann")).status_code == 403


def test_leads_let_annotators_recalibrate(api) -> None:
    c, auth = api["client"], api["auth"]
    url = "/api/v1/projects/triage/members/ann/recalibrate"
    denied = c.post(url, json={"reason": "x"}, headers=auth("ann"))
    assert denied.status_code == 403 and "needs one of: admin, lead" in denied.json()["detail"]
    assert c.post(url, json={}, headers=auth("outsider")).status_code == 404  # not a member
    missing = c.post(
        "/api/v1/projects/triage/members/outsider/recalibrate", json={}, headers=auth("boss")
    )
    assert missing.status_code == 404 and "not a member" in missing.json()["detail"]
    ok = c.post(url, json={"reason": "retrained"}, headers=auth("boss"))
    assert ok.status_code == 200 and ok.json() == {
        "project": "triage",
        "user": "ann",
        "superseded": 0,
    }
    [event] = api["ws"].audit.list(action="project.recalibrate")
    assert event.actor == "boss" and event.details["reason"] == "retrained"
    assert c.post(url, json={"reason": 5}, headers=auth("boss")).status_code == 422
