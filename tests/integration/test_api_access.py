"""Access that holds (#12): every observation of the adversarial API run, as a test.

Two projects over records of three sensitivity classes; users of every role, vendor users,
members of the other project, a revoked token. Served by a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import served, write_jsonl

from curata.annotation.schema import AnswerError, Schema, validate_answers
from curata.api.app import create_app
from curata.core.errors import ValidationError

SCHEMA = {
    "questions": [
        {"type": "label", "name": "topic", "labels": ["billing", "shipping"]},
        {"type": "text", "name": "note", "required": False},
    ]
}
GOOD = {"topic": "billing", "note": "fine"}

# name -> (role, vendor, clearance, projects)
PEOPLE: dict[str, tuple[str, str | None, str, tuple[str, ...]]] = {
    "root": ("admin", None, "restricted", ()),
    "lead-a": ("lead", None, "internal", ("alpha",)),
    "rev-a": ("reviewer", None, "internal", ("alpha",)),
    "ann-a": ("annotator", None, "internal", ("alpha",)),
    "ann-a2": ("annotator", None, "restricted", ("alpha",)),
    "sme-a": ("sme", None, "internal", ("alpha",)),
    "view-a": ("viewer", None, "internal", ("alpha",)),
    "vann-a": ("annotator", "acme", "internal", ("alpha",)),
    "vlead-a": ("lead", "acme", "internal", ("alpha",)),
    "lead-b": ("lead", None, "restricted", ("beta",)),
    "rev-b": ("reviewer", None, "restricted", ("beta",)),
    "ann-b": ("annotator", None, "internal", ("beta",)),
    "gone": ("annotator", None, "internal", ("alpha",)),
}


def build_world(ws: Any, tmp_path: Path) -> dict[str, str]:
    """Projects ``alpha`` (internal, confidential and restricted records; review of every
    annotation) and ``beta``; every person of :data:`PEOPLE` with a token (``gone``'s revoked).
    Returns the tokens by user name."""
    ws.sources.add("memo", kind="crawl", license="CC-BY-4.0", origin="https://example.org/m",
                   sensitivity="confidential")  # fmt: skip
    ws.sources.add("vault", kind="crawl", license="CC-BY-4.0", origin="https://example.org/v",
                   sensitivity="restricted")  # fmt: skip
    files = {
        "web": [{"text": f"open ticket {i}"} for i in range(4)],
        "memo": [{"text": f"CONFIDENTIAL memo {i}"} for i in range(2)],
        "vault": [{"text": f"RESTRICTED vault {i}"} for i in range(2)],
    }
    for source, rows in files.items():
        path = write_jsonl(tmp_path / f"{source}.jsonl", rows)
        ws.ingest([path], source=source, dataset="mixed", append=True)
    ws.ingest([write_jsonl(tmp_path / "b.jsonl", [{"text": f"beta {i}"} for i in range(3)])],
              source="web", dataset="plain")  # fmt: skip
    for name, (role, vendor, clearance, _) in PEOPLE.items():
        ws.workforce.add_user(name, role=role, vendor=vendor, clearance=clearance)
    for project, version in (("alpha", "mixed@3"), ("beta", "plain@1")):
        ws.projects.create(
            project,
            version=version,
            schema=SCHEMA,
            overlap=2,
            gold_share=0.1,
            members=[n for n, p in PEOPLE.items() if project in p[3]],
            review={"mode": "all"},
        )
    tokens = {name: ws.workforce.issue_token(name) for name in PEOPLE}
    ws.workforce.revoke_tokens("gone")
    return tokens


@pytest.fixture
def world(ws, tmp_path: Path) -> Iterator[dict[str, Any]]:
    tokens = build_world(ws, tmp_path)
    with (
        served(create_app(ws)) as url,
        httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client,
    ):

        def auth(name: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[name]}"}

        yield {"c": client, "auth": auth, "ws": ws}


def _annotate(c: httpx.Client, auth: Any, user: str, project: str = "alpha") -> list[int]:
    """Label everything the queue gives ``user``; return the assignment ids."""
    done = []
    while (r := c.post(f"/projects/{project}/next", headers=auth(user))).status_code == 200:
        aid = r.json()["assignment_id"]
        s = c.post(f"/assignments/{aid}/submit", json={"answers": GOOD}, headers=auth(user))
        assert s.status_code == 201, s.text
        done.append(aid)
    assert r.status_code == 204, r.text
    return done


def _raw(c: httpx.Client, url: str, text: str, headers: dict[str, str]) -> httpx.Response:
    """POST a JSON body written by hand (httpx would refuse NaN or a lone surrogate)."""
    return c.post(url, content=text, headers={**headers, "Content-Type": "application/json"})


def _first_annotation(world: dict[str, Any]) -> tuple[int, int]:
    """(task id, annotation id) of an internal alpha item annotated by ann-a."""
    c, auth = world["c"], world["auth"]
    r = c.post("/projects/alpha/next", headers=auth("ann-a"))
    aid = r.json()["assignment_id"]
    done = c.post(f"/assignments/{aid}/submit", json={"answers": GOOD}, headers=auth("ann-a"))
    item = c.post("/projects/alpha/reviews/next", headers=auth("rev-a")).json()
    assert item["annotations"][0]["annotation_id"] == done.json()["annotation_id"]
    return item["task_id"], done.json()["annotation_id"]


# -- cross-project writes and reads ----------------------------------------------------------


def test_another_projects_lead_cannot_adjudicate_or_read_history(world) -> None:
    c, auth, ws = world["c"], world["auth"], world["ws"]
    task_id, _ = _first_annotation(world)
    missing = c.post("/tasks/999999/adjudicate", json={"answers": GOOD}, headers=auth("lead-b"))
    for user in ("lead-b", "rev-b"):
        r = c.post(f"/tasks/{task_id}/adjudicate", json={"answers": GOOD}, headers=auth(user))
        assert r.status_code == 404 and r.json()["detail"] == f"no task {task_id}"
        h = c.get(f"/tasks/{task_id}/history", headers=auth(user))
        assert h.status_code == 404 and h.json()["detail"] == f"no task {task_id}"
    assert missing.status_code == 404 and missing.json()["detail"] == "no task 999999"
    assert ws.reviews.history(task_id) == []  # nothing landed in alpha's history
    own = c.post(f"/tasks/{task_id}/adjudicate", json={"answers": GOOD}, headers=auth("lead-a"))
    assert own.status_code == 201
    [entry] = c.get(f"/tasks/{task_id}/history", headers=auth("rev-a")).json()
    assert (entry["tier"], entry["by"]) == ("adjudicate", "lead-a")


def test_another_projects_reviewer_cannot_review(world) -> None:
    c, auth, ws = world["c"], world["auth"], world["ws"]
    task_id, annotation_id = _first_annotation(world)
    for user in ("rev-b", "lead-b"):
        r = c.post(
            f"/annotations/{annotation_id}/review",
            json={"decision": "reject", "reason": "sabotage"},
            headers=auth(user),
        )
        assert r.status_code == 404 and r.json()["detail"] == f"no annotation {annotation_id}"
    assert ws.reviews.history(task_id) == []
    ok = c.post(f"/annotations/{annotation_id}/review", json={"decision": "accept"},
                headers=auth("rev-a"))  # fmt: skip
    assert ok.status_code == 201 and ok.json()["status"] == "accepted"


def test_submit_to_someone_elses_assignment_is_not_found(world) -> None:
    c, auth = world["c"], world["auth"]
    aid = c.post("/projects/alpha/next", headers=auth("ann-a")).json()["assignment_id"]
    body = {"answers": GOOD}
    for user in ("ann-b", "ann-a2", "lead-b"):  # another project's, the same project's, a lead
        r = c.post(f"/assignments/{aid}/submit", json=body, headers=auth(user))
        assert r.status_code == 404 and r.json()["detail"] == f"no assignment {aid}"
    gone = c.post("/assignments/999999/submit", json=body, headers=auth("ann-b"))
    assert gone.status_code == 404 and gone.json()["detail"] == "no assignment 999999"
    assert c.post(f"/assignments/{aid}/submit", json=body, headers=auth("ann-a")).status_code == 201


# -- clearance -------------------------------------------------------------------------------


def test_review_queue_never_shows_records_above_the_reviewers_clearance(world) -> None:
    c, auth = world["c"], world["auth"]
    _annotate(c, auth, "ann-a2")  # restricted clearance: every record of alpha
    _annotate(c, auth, "ann-a")  # internal: the four open tickets
    seen = []
    while (r := c.post("/projects/alpha/reviews/next", headers=auth("rev-a"))).status_code == 200:
        item = r.json()
        seen.append(item["record"]["text"])
        for a in item["annotations"]:
            d = c.post(f"/annotations/{a['annotation_id']}/review", json={"decision": "accept"},
                       headers=auth("rev-a"))  # fmt: skip
            assert d.status_code == 201
    assert r.status_code == 204
    assert sorted(set(seen)) == [f"open ticket {i}" for i in range(4)]
    # the hidden ones are still waiting, for a reviewer cleared to read them
    assert c.post("/projects/alpha/reviews/next", headers=auth("root")).status_code == 200


def test_history_and_adjudication_of_a_record_above_clearance_are_not_found(world) -> None:
    c, auth, ws = world["c"], world["auth"], world["ws"]
    _annotate(c, auth, "ann-a2")
    restricted = next(
        t
        for t in _task_clearances(ws, "alpha")
        if t[1] == 3  # CLEARANCE["restricted"]
    )[0]
    for user in ("rev-a", "lead-a"):  # members, cleared for internal only
        h = c.get(f"/tasks/{restricted}/history", headers=auth(user))
        assert h.status_code == 404 and h.json()["detail"] == f"no task {restricted}"
    a = c.post(f"/tasks/{restricted}/adjudicate", json={"answers": GOOD}, headers=auth("lead-a"))
    assert a.status_code == 404
    assert c.get(f"/tasks/{restricted}/history", headers=auth("root")).status_code == 200


def _task_clearances(ws: Any, project: str) -> list[tuple[int, int]]:
    import sqlalchemy as sa

    with ws.engine.connect() as conn:
        return [
            (int(i), int(c))
            for i, c in conn.execute(
                sa.text(
                    "SELECT t.id, t.clearance FROM tasks t JOIN projects p ON p.id = t.project_id"
                    " WHERE p.name = :p AND t.kind = 'live' ORDER BY t.id"
                ),
                {"p": project},
            )
        ]


def test_exports_leave_out_records_above_the_callers_clearance(world) -> None:
    c, auth = world["c"], world["auth"]
    for fmt in ("labelstudio", "argilla"):
        lead = c.get(f"/projects/alpha/export?format={fmt}", headers=auth("lead-a"))
        assert lead.status_code == 200
        text = json.dumps(lead.json())
        assert "open ticket 0" in text
        assert "RESTRICTED" not in text and "CONFIDENTIAL" not in text
        assert len(lead.json()) == 4
        admin = c.get(f"/projects/alpha/export?format={fmt}", headers=auth("root"))
        assert len(admin.json()) == 8 and "RESTRICTED vault 1" in json.dumps(admin.json())


# -- text and numbers on the way in ----------------------------------------------------------


def test_a_lone_surrogate_is_refused_and_nothing_is_stored(world) -> None:
    c, auth, ws = world["c"], world["auth"], world["ws"]
    aid = c.post("/projects/alpha/next", headers=auth("ann-a")).json()["assignment_id"]
    url = f"/assignments/{aid}/submit"
    for body in (
        '{"answers": {"topic": "billing", "note": "bad \\ud800 text"}}',
        '{"answers": {"topic": "billing", "note": {"deep": ["ok", "\\udfff"]}}}',
        '{"answers": {"topic": "billing", "\\ud800": "key"}}',
    ):
        r = _raw(c, url, body, auth("ann-a"))
        assert r.status_code == 422, r.text
        [issue] = r.json()["detail"]
        assert issue["loc"] == ["body", "answers"]
        assert "answers." in issue["msg"] or "a key" in issue["msg"]
        assert "lone surrogate" in issue["msg"]
    r = _raw(c, url, '{"answers": {"topic": "billing", "note": "x \\ud800"}}', auth("ann-a"))
    assert "answers.note: contains a lone surrogate (U+D800)" in r.json()["detail"][0]["msg"]
    review = _raw(c, "/annotations/1/review", '{"decision": "reject", "reason": "\\ud800"}',
                  auth("rev-a"))  # fmt: skip
    assert review.status_code == 422 and review.json()["detail"][0]["loc"] == ["body", "reason"]
    with ws.engine.connect() as conn:
        import sqlalchemy as sa

        assert conn.execute(sa.text("SELECT count(*) FROM annotations")).scalar() == 0
    # the project still works for everyone: submit, review queue, both exports
    assert c.post(url, json={"answers": GOOD}, headers=auth("ann-a")).status_code == 201
    assert c.post("/projects/alpha/reviews/next", headers=auth("rev-a")).status_code == 200
    for fmt in ("labelstudio", "argilla"):
        export = c.get(f"/projects/alpha/export?format={fmt}", headers=auth("root"))
        assert export.status_code == 200


def test_answer_validation_refuses_a_lone_surrogate_outside_the_api() -> None:
    schema = Schema.model_validate(SCHEMA)
    with pytest.raises(AnswerError, match=r"note.*lone surrogate"):
        validate_answers(schema, {"topic": "billing", "note": "a\ud800b"})
    assert validate_answers(schema, {"topic": "billing", "note": "été 😀"})["note"] == "été 😀"


def test_a_lone_surrogate_through_the_queue_service_stores_nothing(ws, tmp_path: Path) -> None:
    ws.ingest([write_jsonl(tmp_path / "x.jsonl", [{"text": "one"}])], source="web", dataset="x")
    ws.workforce.add_user("ann")
    ws.projects.create("x", version="x@1", schema=SCHEMA, members=["ann"])
    view = ws.queue.next_task("x", "ann")
    with pytest.raises(ValidationError, match="lone surrogate"):
        ws.queue.submit(view.assignment_id, "ann", {"topic": "billing", "note": "\udc80"})
    assert ws.projects.get("x").annotations == 0


@pytest.mark.parametrize("duration", ["Infinity", "-Infinity", "NaN", "1e30", "-1", "604800001"])
def test_duration_must_be_finite_and_bounded(world, duration: str) -> None:
    c, auth = world["c"], world["auth"]
    aid = c.post("/projects/alpha/next", headers=auth("ann-a")).json()["assignment_id"]
    body = '{"answers": {"topic": "billing"}, "duration_ms": ' + duration + "}"
    r = _raw(c, f"/assignments/{aid}/submit", body, auth("ann-a"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "duration_ms"]
    ok = _raw(c, f"/assignments/{aid}/submit", '{"answers": {"topic": "billing"}, '
              '"duration_ms": 604800000}', auth("ann-a"))  # fmt: skip
    assert ok.status_code == 201


def test_numbers_inside_answers_are_finite(world) -> None:
    c, auth = world["c"], world["auth"]
    aid = c.post("/projects/alpha/next", headers=auth("ann-a")).json()["assignment_id"]
    r = _raw(c, f"/assignments/{aid}/submit",
             '{"answers": {"topic": "billing", "note": NaN}}', auth("ann-a"))  # fmt: skip
    assert r.status_code == 422 and "answers.note: nan is not a finite number" in r.text


@pytest.mark.parametrize("ident", [2**31, 2**63 - 1, 2**63, 2**70, 0, -1])
def test_ids_out_of_range_are_not_found(world, ident: int) -> None:
    c, auth = world["c"], world["auth"]
    calls = [
        ("post", f"/tasks/{ident}/adjudicate", {"answers": GOOD}, "lead-a", "task"),
        ("get", f"/tasks/{ident}/history", None, "lead-a", "task"),
        ("post", f"/annotations/{ident}/review", {"decision": "accept"}, "rev-a", "annotation"),
        ("post", f"/assignments/{ident}/submit", {"answers": GOOD}, "ann-a", "assignment"),
    ]
    for method, url, body, user, kind in calls:
        r = c.request(method, url, json=body, headers=auth(user))
        assert r.status_code == 404, (url, r.status_code, r.text)
        assert r.json()["detail"] == f"no {kind} {ident}"


def test_history_of_a_missing_task_is_not_found(world) -> None:
    c, auth = world["c"], world["auth"]
    r = c.get("/tasks/424242/history", headers=auth("root"))
    assert r.status_code == 404 and r.json()["detail"] == "no task 424242"


# -- existence oracles -----------------------------------------------------------------------


def test_an_invisible_project_and_a_missing_one_answer_alike(world) -> None:
    c, auth = world["c"], world["auth"]
    calls = [
        ("get", "/projects/{}"),
        ("get", "/projects/{}/guideline"),
        ("post", "/projects/{}/next"),
        ("post", "/projects/{}/reviews/next"),
        ("get", "/projects/{}/export"),
        ("post", "/projects/{}/members/ann-a/recalibrate"),
    ]
    for method, url in calls:
        for user in ("lead-b", "rev-b", "ann-b"):
            hidden = c.request(method, url.format("alpha"), headers=auth(user), json={})
            missing = c.request(method, url.format("nope"), headers=auth(user), json={})
            assert hidden.status_code == missing.status_code == 404, (url, user, hidden.text)
            assert hidden.json()["detail"].replace("alpha", "nope") == missing.json()["detail"]


def test_annotators_and_vendors_never_see_gold_fields(world) -> None:
    c, auth = world["c"], world["auth"]
    hidden = {"gold_tasks", "gold_share", "review", "annotations", "members"}
    for user in ("ann-a", "vann-a", "vlead-a", "rev-a", "sme-a", "view-a"):
        one = c.get("/projects/alpha", headers=auth(user)).json()
        [listed] = c.get("/projects", headers=auth(user)).json()
        for view in (one, listed):
            assert view["view"] == "annotator" and not hidden & set(view), (user, view)
            assert view["name"] == "alpha" and view["tasks"] == 8
    for user in ("lead-a", "root"):
        one = c.get("/projects/alpha", headers=auth(user)).json()
        assert one["view"] == "lead" and one["gold_share"] == 0.1 and "gold_tasks" in one
