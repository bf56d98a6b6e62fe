"""A rejected annotation comes back to its annotator with the reviewer's reason (#15): the
queue's view of the returned lease carries ``returned`` (the reason, the rejected answers as the
annotator gave them, a pairwise record's candidates by the letters shown to them; never who
rejected it), and the API's ``POST /projects/NAME/next`` the same. An item never rejected, or
accepted, has none; resubmitting ends it. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import served, write_jsonl

from curata.api.app import create_app
from curata.api.schemas import TaskOut

SCHEMA = {
    "questions": [
        {"type": "preference", "name": "better"},
        {"type": "label", "name": "tone", "labels": ["polite", "rude"]},
        {"type": "span", "name": "names", "labels": ["PERSON"], "field": "prompt"},
    ]
}
PAIRS = [
    {
        "prompt": f"{who} asks: how hot is boiling water?",
        "responses": [
            {"id": f"small-{i}", "text": "About 90 C.", "model": "small-1"},
            {"id": f"large-{i}", "text": "100 C at sea level.", "model": "large-2"},
        ],
    }
    for i, who in enumerate(("Alice", "Bruno", "Chloe"))
]
REASON = "Wrong span <script>alert(1)</script> & read the guideline"


@pytest.fixture
def rejection(ws, tmp_path: Path) -> Any:
    """Project "duel": three pairwise records, overlap 1, every annotation reviewed; ann
    annotates, rev reviews."""
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", PAIRS)], source="web", dataset="pairs")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("rev", role="reviewer")
    ws.projects.create("duel", version="pairs@1", schema=SCHEMA, overlap=1,
                       review={"mode": "all"}, members=["ann", "rev"])  # fmt: skip
    return ws


def _answers(view: Any, choice: str, end: int) -> dict[str, Any]:
    return {"better": {"choice": choice, "rationale": f"{choice} is right"}, "tone": "rude",
            "names": [{"start": 0, "end": end, "label": "PERSON"}]}  # fmt: skip


def _record_choice(view: Any, shown: str) -> str:
    """The record's letter of the candidate shown as ``shown`` (the order is per assignment)."""
    text = next(r["text"] for r in view.record["responses"] if r["letter"] == shown)
    return "A" if text == "About 90 C." else "B"


def test_a_rejected_annotation_comes_back_with_the_reason_and_its_answers(rejection) -> None:
    ws = rejection
    first = ws.queue.next_task("duel", "ann")
    assert first is not None and first.returned is None
    assert first.to_dict()["returned"] is None
    given = _answers(first, "B", 4)  # a wrong span: "Alic"
    done = ws.queue.submit(first.assignment_id, "ann", given)
    assert done.answers == given

    second = ws.queue.next_task("duel", "ann")  # a live item never rejected: no notice
    assert second is not None and second.returned is None
    assert ws.queue.submit(second.assignment_id, "ann", _answers(second, "A", 5))

    third = ws.queue.next_task("duel", "ann")  # held while the rejection comes
    assert third is not None and third.returned is None
    ws.reviews.decide(done.annotation_id, "rev", "reject", reason=REASON)

    back = ws.queue.next_task("duel", "ann")  # the returned lease first, the held one after
    assert back is not None and back.assignment_id == first.assignment_id
    assert back.record == first.record  # the same item, the candidates in the same order
    assert back.returned is not None
    assert back.returned.reason == REASON
    assert back.returned.answers == given  # by the letters ann saw, not the record's
    out = back.to_dict()["returned"]
    assert out["reason"] == REASON and out["answers"] == given
    assert out["rejected_at"].endswith(("Z", "+00:00"))
    assert "rev" not in json.dumps(out)  # the reviewer is not named
    assert TaskOut.model_validate(back.to_dict()).returned is not None
    # asked again (a reload), the same lease and the same notice
    again = ws.queue.next_task("duel", "ann")
    assert again is not None and again.returned == back.returned

    # the annotator fixes the span and submits again: stored as the next revision, in the
    # record's letters; the lease is over, and no notice follows
    fixed = {**given, "names": [{"start": 0, "end": 5, "label": "PERSON"}]}
    redone = ws.queue.submit(back.assignment_id, "ann", fixed)
    assert redone.annotation_id != done.annotation_id and redone.answers == fixed
    after = ws.queue.next_task("duel", "ann")
    assert after is not None and after.assignment_id == third.assignment_id
    assert after.returned is None
    record = next(i for i in ws.transfer.export("duel", "argilla")
                  if i["fields"]["prompt"] == first.record["prompt"])  # fmt: skip
    [stored] = record["responses"]["better"]
    value = json.loads(stored["value"]) if isinstance(stored["value"], str) else stored["value"]
    assert value["choice"] == _record_choice(first, "B")


def test_an_accepted_annotation_does_not_come_back(rejection) -> None:
    ws = rejection
    view = ws.queue.next_task("duel", "ann")
    assert view is not None
    done = ws.queue.submit(view.assignment_id, "ann", _answers(view, "A", 5))
    ws.reviews.decide(done.annotation_id, "rev", "accept")
    nxt = ws.queue.next_task("duel", "ann")
    assert nxt is not None and nxt.assignment_id != view.assignment_id
    assert nxt.returned is None


@pytest.fixture
def api(rejection) -> Iterator[dict[str, Any]]:
    ws = rejection
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "rev")}
    with served(create_app(ws)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield {"client": client, "ws": ws,
               "auth": lambda name: {"Authorization": f"Bearer {tokens[name]}"}}  # fmt: skip


def test_the_api_carries_the_same_returned_field(api) -> None:
    c, auth, ws = api["client"], api["auth"], api["ws"]
    task = c.post("/api/v1/projects/duel/next", headers=auth("ann")).json()
    assert task["returned"] is None
    given = {"better": {"choice": "A"}, "tone": "polite", "names": []}
    done = c.post(f"/api/v1/assignments/{task['assignment_id']}/submit", headers=auth("ann"),
                  json={"answers": given})  # fmt: skip
    assert done.status_code in (200, 201), done.text
    ws.reviews.decide(done.json()["annotation_id"], "rev", "reject", reason=REASON)
    back = c.post("/api/v1/projects/duel/next", headers=auth("ann")).json()
    assert back["assignment_id"] == task["assignment_id"]
    view = ws.queue.next_task("duel", "ann")
    assert view is not None
    assert back["returned"] == view.to_dict()["returned"]
    assert back["returned"]["reason"] == REASON and back["returned"]["answers"] == given
