"""Skipping an item (#15): ``QueueService.skip`` ends the lease at once, records the reason in
the audit log and gives the slot back, so the item goes to someone else and never back to the
one who skipped it; ``POST /api/v1/assignments/{id}/skip`` asks the submit's policy. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import served, write_jsonl

from curata.annotation.queue import NoSkipError
from curata.api.app import create_app
from curata.core.errors import ConflictError, NotFoundError, ValidationError
from curata.governance.policies import AssignmentPolicy

SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}


@pytest.fixture
def one(ws, tmp_path: Path) -> dict[str, str]:
    """Project "sk": one live record, overlap 1, three annotators; project "cal" (ann): one
    record, a calibration item."""
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", [{"text": "ticket 0"}])], source="web",
              dataset="t")  # fmt: skip
    ws.ingest([write_jsonl(tmp_path / "c.jsonl", [{"text": "ticket 1"}])], source="web",
              dataset="c")  # fmt: skip
    for name in ("ann", "bob", "cat"):
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create("sk", version="t@1", schema=SCHEMA, overlap=1,
                       members=["ann", "bob", "cat"])  # fmt: skip
    ws.projects.create("cal", version="c@1", schema=SCHEMA, members=["ann"],
                       calibration={"size": 1, "threshold": 1.0})  # fmt: skip
    ids = {r.text: i for v in ("t@1", "c@1") for b in ws.datasets.iter_records(v) for i, r in b}
    ws.projects.gold.add("cal", ids["ticket 1"], {"topic": "billing"}, kind="calibration")
    return ids


def _task(ws: Any, assignment_id: int) -> tuple[str, int, bool]:
    with ws.engine.connect() as conn:
        status, assigned, is_open = conn.execute(
            sa.text("SELECT a.status, t.assigned, t.is_open FROM assignments a "
                    "JOIN tasks t ON t.id = a.task_id WHERE a.id = :a"), {"a": assignment_id}
        ).one()  # fmt: skip
    return status, assigned, bool(is_open)


def test_skip_ends_the_lease_and_the_item_goes_to_someone_else(ws, one) -> None:
    view = ws.queue.next_task("sk", "ann")
    assert view is not None and view.record["text"] == "ticket 0"
    assert ws.queue.next_task("sk", "bob") is None  # overlap 1: held by ann
    assert _task(ws, view.assignment_id) == ("leased", 1, False)

    done = ws.queue.skip(view.assignment_id, "ann", "not_my_language", note="  German  ")
    assert (done.assignment_id, done.project, done.reason, done.note) == (
        view.assignment_id, "sk", "not_my_language", "German")  # fmt: skip
    assert _task(ws, view.assignment_id) == ("skipped", 0, True)

    assert ws.queue.next_task("sk", "ann") is None  # never straight back to ann, nor later
    other = ws.queue.next_task("sk", "bob")
    assert other is not None and other.record["text"] == "ticket 0"
    ws.queue.submit(other.assignment_id, "bob", {"topic": "billing"})
    assert ws.queue.next_task("sk", "ann") is None

    [event] = ws.audit.list(action="assignment.skip")
    assert event.actor == "ann" and event.object_ref == str(view.assignment_id)
    assert event.details["reason"] == "not_my_language" and event.details["note"] == "German"
    assert event.details["project"] == "sk"
    assert ws.audit.verify()[0]


def test_a_skip_is_refused_without_a_reason_or_a_lease(ws, one) -> None:
    view = ws.queue.next_task("sk", "ann")
    assert view is not None
    with pytest.raises(ValidationError, match="reason: 'boring' is not one of"):
        ws.queue.skip(view.assignment_id, "ann", "boring")
    with pytest.raises(ValidationError, match="note: say why"):
        ws.queue.skip(view.assignment_id, "ann", "other", note="   ")
    with pytest.raises(ValidationError, match="note: at most 500"):
        ws.queue.skip(view.assignment_id, "ann", "other", note="x" * 501)
    with pytest.raises(ConflictError, match="leased to another annotator"):
        ws.queue.skip(view.assignment_id, "bob", "unreadable")
    with pytest.raises(NotFoundError):  # with the API's policy: someone else's lease is hidden
        ws.queue.skip(
            view.assignment_id,
            "bob",
            "unreadable",
            authorize=lambda s: AssignmentPolicy.submit(ws.workforce.get("bob"), s),
        )
    with pytest.raises(NotFoundError):
        ws.queue.skip(2**31 - 1, "ann", "unreadable")
    assert _task(ws, view.assignment_id) == ("leased", 1, False)  # nothing changed so far

    ws.queue.skip(view.assignment_id, "ann", "other", note="the text is cut off")
    with pytest.raises(ConflictError, match="no longer held"):  # a second skip
        ws.queue.skip(view.assignment_id, "ann", "unreadable")
    with pytest.raises(ConflictError):  # nor can a skipped item be submitted
        ws.queue.submit(view.assignment_id, "ann", {"topic": "billing"})
    assert _task(ws, view.assignment_id) == ("skipped", 0, True)
    assert len(ws.audit.list(action="assignment.skip")) == 1

    other = ws.queue.next_task("sk", "bob")
    assert other is not None
    ws.queue.submit(other.assignment_id, "bob", {"topic": "billing"})
    with pytest.raises(ConflictError, match="no longer held"):  # a submitted item
        ws.queue.skip(other.assignment_id, "bob", "unreadable")


def test_an_expired_lease_cannot_be_skipped(ws, one) -> None:
    view = ws.queue.next_task("sk", "ann")
    assert view is not None
    later = view.expires_at + timedelta(seconds=1)
    with pytest.raises(ConflictError, match="no longer held"):
        ws.queue.skip(view.assignment_id, "ann", "unreadable", now=later)


def test_a_calibration_item_cannot_be_skipped(ws, one) -> None:
    view = ws.queue.next_task("cal", "ann")
    assert view is not None and view.record["text"] == "ticket 1"
    with pytest.raises(NoSkipError, match="calibration items cannot be skipped"):
        ws.queue.skip(view.assignment_id, "ann", "unreadable")
    assert _task(ws, view.assignment_id)[0] == "leased"
    assert ws.audit.list(action="assignment.skip") == []


def test_a_gold_item_is_skipped_like_a_live_one(ws, tmp_path: Path) -> None:
    """Nothing tells a gold item apart: skipping it answers the same, and the one who skipped
    it gets neither it nor its record's live item again."""
    rows = [{"text": "doc 0"}]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="g")
    ws.workforce.add_user("ann", role="annotator")
    ws.projects.create("g", version="g@1", schema=SCHEMA, gold_share=0.99, members=["ann"])
    [[(record_id, _)]] = list(ws.datasets.iter_records("g@1"))
    ws.projects.gold.add("g", record_id, {"topic": "billing"})
    ws.queue.reseed(1)
    view = ws.queue.next_task("g", "ann")
    assert view is not None
    with ws.engine.connect() as conn:
        kind = conn.execute(sa.text("SELECT t.kind FROM assignments a JOIN tasks t "
                                    "ON t.id = a.task_id WHERE a.id = :a"),
                            {"a": view.assignment_id}).scalar_one()  # fmt: skip
    assert kind == "gold"
    done = ws.queue.skip(view.assignment_id, "ann", "offensive")
    assert done.reason == "offensive"
    assert ws.queue.next_task("g", "ann") is None


# -- the API route ----------------------------------------------------------------------------


@pytest.fixture
def api(ws, one) -> Iterator[dict[str, Any]]:
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "bob")}
    with served(create_app(ws)) as url:
        yield {"url": f"{url}/api/v1", "tokens": tokens}


def _client(api: dict[str, Any], user: str) -> httpx.Client:
    return httpx.Client(base_url=api["url"], timeout=30,
                        headers={"Authorization": f"Bearer {api['tokens'][user]}"})  # fmt: skip


def test_skip_over_the_api(ws, api) -> None:
    with _client(api, "ann") as ann, _client(api, "bob") as bob:
        task = ann.post("/projects/sk/next").json()
        path = f"/assignments/{task['assignment_id']}/skip"
        assert bob.post(path, json={"reason": "unreadable"}).status_code == 404
        bad = ann.post(path, json={"reason": "boring"})
        assert bad.status_code == 422
        assert ann.post(path, json={"reason": "other"}).status_code == 422  # no note
        assert ann.post(path, json={"reason": "other", "x": 1}).status_code == 422
        done = ann.post(path, json={"reason": "unreadable", "note": "garbled"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["reason"] == "unreadable" and body["note"] == "garbled"
        assert body["assignment_id"] == task["assignment_id"] and body["project"] == "sk"
        assert ann.post(path, json={"reason": "unreadable"}).status_code == 409
        assert ann.post("/projects/sk/next").status_code == 204  # not back to ann
        again = bob.post("/projects/sk/next")
        assert again.status_code == 200 and again.json()["record"]["text"] == "ticket 0"
        cal = ann.post("/projects/cal/next").json()
        refused = ann.post(f"/assignments/{cal['assignment_id']}/skip",
                           json={"reason": "unreadable"})  # fmt: skip
        assert refused.status_code == 403 and "calibration" in refused.text
