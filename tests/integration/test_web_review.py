"""The reviewer's workspace over a real socket (SQLite and PostgreSQL): annotations side by
side with disagreement marked, accept and reject (a reason required), adjudication by a lead,
and the same access rules as the API's review routes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import served, write_jsonl
from tests.helpers import client_for, csrf

from curata.api.app import create_app

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]},
                        {"type": "text", "name": "note"}]}


@pytest.fixture
def site(ws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = [{"text": f"ticket {i} {HOSTILE}"} for i in range(2)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    for name, role in (("ann", "annotator"), ("bob", "annotator"), ("rev", "reviewer"),
                       ("boss", "lead"), ("outsider", "reviewer")):
        ws.workforce.add_user(name, role=role)
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, overlap=2,
                       members=["ann", "bob", "rev", "boss"], review={"mode": "all"})
    # both annotators label the first item, differently on the topic, the same note
    for name, topic in (("ann", "billing"), ("bob", "shipping")):
        task = ws.queue.next_task("triage", name)
        ws.queue.submit(task.assignment_id, name, {"topic": topic, "note": HOSTILE})
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "rev", "boss", "outsider")}
    with served(create_app(ws)) as url:
        yield {"url": url, "tokens": tokens, "ws": ws}


def pending(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="annotation_id" value="(\d+)">\s*<h3>', html)]


def test_the_reviewer_sees_both_annotations_and_where_they_differ(site: dict[str, Any]) -> None:
    with client_for(site, "rev") as client:
        page = client.get("/projects/triage/review")
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html and "onerror=alert(1)>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
        rows = re.findall(r'<tr class="(disagree)?">\s*<th scope="row">(\w+)', html)
        assert ("disagree", "topic") in rows and ("", "note") in rows
        assert ">billing<" in html and ">shipping<" in html
        assert len(pending(html)) == 2
        assert 'data-testid="adjudicate"' not in html  # a reviewer does not adjudicate


def test_accept_and_reject_reach_the_service(site: dict[str, Any]) -> None:
    ws = site["ws"]
    with client_for(site, "rev") as client:
        html = client.get("/projects/triage/review").text
        first, second = pending(html)
        token = csrf(html)
        # a rejection needs a reason: the same item again, the message, nothing decided
        bare = client.post("/projects/triage/review", data={
            "csrf": token, "annotation_id": str(first), "decision": "reject", "reason": " "})
        assert bare.status_code == 422 and "needs a reason" in bare.text
        assert sorted(pending(bare.text)) == sorted([first, second])
        accepted = client.post("/projects/triage/review", data={
            "csrf": token, "annotation_id": str(first), "decision": "accept"})
        assert accepted.status_code == 303
        shown = client.get(accepted.headers["location"])
        assert f"Accepted annotation {first}." in shown.text
        assert pending(shown.text) == [second]
        rejected = client.post("/projects/triage/review", data={
            "csrf": token, "annotation_id": str(second), "decision": "reject",
            "reason": "shipping is wrong"})
        assert rejected.status_code == 303
        assert "Nothing is waiting" in client.get(rejected.headers["location"]).text
    decided = sorted((h["decision"], h["reason"]) for h in _rows(ws))
    assert decided == [("accept", ""), ("reject", "shipping is wrong")]


def test_a_lead_settles_the_item_with_one_annotations_answers(site: dict[str, Any]) -> None:
    with client_for(site, "boss") as client:
        html = client.get("/projects/triage/review").text
        assert 'data-testid="adjudicate"' in html
        task_id = int(re.search(r'name="task_id" value="(\d+)"', html).group(1))  # type: ignore[union-attr]
        chosen = pending(html)[1]
        done = client.post("/projects/triage/adjudicate", data={
            "csrf": csrf(html), "task_id": str(task_id), "annotation_id": str(chosen),
            "reason": "shipping, per the guideline"})
        assert done.status_code == 303
        assert f"Settled item {task_id}" in client.get(done.headers["location"]).text
    settled = [h for h in site["ws"].reviews.history(task_id) if h.get("decision") == "adjudicate"]
    assert len(settled) == 1 and settled[0]["answers"]["topic"] == "shipping"


def test_access_follows_the_api_rules(site: dict[str, Any]) -> None:
    with client_for(site, "ann") as client:
        page = client.get("/projects/triage/review")
        assert page.status_code == 403 and "Not allowed" in page.text
    with client_for(site, "outsider") as client:
        assert client.get("/projects/triage/review").status_code == 404
    with client_for(site, "rev") as client:
        html = client.get("/projects/triage/review").text
        first = pending(html)[0]
        forged = client.post("/projects/triage/review", data={
            "csrf": "forged", "annotation_id": str(first), "decision": "accept"})
        assert forged.status_code == 403
        for bad in ("0", "-1", "99999999999", "x", ""):
            answer = client.post("/projects/triage/review", data={
                "csrf": csrf(html), "annotation_id": bad, "decision": "accept"})
            assert answer.status_code == 404, bad
        answer = client.post("/projects/triage/review", data={
            "csrf": csrf(html), "annotation_id": str(first), "decision": "delete"})
        assert answer.status_code == 422 and "choose accept, fix or reject" in answer.text
        # a reviewer may not adjudicate, whatever the form says
        task_id = re.search(r"Item (\d+)", html)
        assert task_id
        refused = client.post("/projects/triage/adjudicate", data={
            "csrf": csrf(html), "task_id": task_id.group(1), "annotation_id": str(first)})
        assert refused.status_code == 403
        assert pending(client.get("/projects/triage/review").text)  # nothing was decided


def test_a_fix_stores_the_corrected_answers_checked_like_an_annotators(
    site: dict[str, Any],
) -> None:
    ws = site["ws"]
    with client_for(site, "rev") as client:
        html = client.get("/projects/triage/review").text
        first = pending(html)[0]
        assert f'data-testid="fix-{first}"' in html

        def fix(answers: str) -> httpx.Response:
            return client.post("/projects/triage/review", data={
                "csrf": csrf(html), "annotation_id": str(first), "decision": "fix",
                "answers": answers, "reason": "topic was billing"})

        for bad, said in (("{not json", "not JSON"), ("[1, 2]", "a JSON object"),
                          ('{"topic": "weather", "note": "x"}', "weather"), ("", "needs the")):
            answer = fix(bad)
            assert answer.status_code == 422 and said in answer.text, bad
            assert first in pending(answer.text)  # nothing decided
        done = fix('{"topic": "billing", "note": "fixed <b>here</b>"}')
        assert done.status_code == 303
        assert f"Fixed and accepted annotation {first}." in client.get(
            done.headers["location"]).text
    fixes = [r for r in _rows(ws) if r["decision"] == "fix"]
    assert len(fixes) == 1
    assert fixes[0]["answers"] == {"topic": "billing", "note": "fixed <b>here</b>"}
    assert fixes[0]["reason"] == "topic was billing"


def _rows(ws: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from curata.store.tables import ReviewRow

    with ws.projects.sessions() as session:
        return [{"decision": r.decision, "reason": r.reason, "answers": r.answers}
                for r in session.scalars(select(ReviewRow))]
