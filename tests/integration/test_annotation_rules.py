"""Annotation rules written once (#13): every way answers come in is checked against the item's
record by one function; one lookup answers an unknown project; one rule says which annotations
count; items go to review through the review service."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.conftest import write_jsonl

from curata.annotation.answers import check_answers, record_view
from curata.annotation.final import counts, latest_that_count
from curata.annotation.schema import SCHEMA_ADAPTER, AnswerError
from curata.core.errors import InputError, NotFoundError, ValidationError
from curata.core.records import Record
from curata.store.db import write_transaction

ROWS = [
    {
        "prompt": f"Question {i}?",  # 11 characters
        "responses": [
            {"id": f"strong-{i}", "text": f"Good answer {i}."},
            {"id": f"weak-{i}", "text": f"Bad answer {i}."},
        ],
    }
    for i in range(3)
]
SCHEMA = {
    "questions": [
        {"type": "preference", "name": "better"},
        {
            "type": "span",
            "name": "marks",
            "labels": ["TYPO"],
            "field": "prompt",
            "required": False,
        },
    ]
}
SPAN_OUTSIDE = {"better": "A", "marks": [{"start": 0, "end": 40, "label": "TYPO"}]}
NO_SUCH_CANDIDATE = {"better": "weak-99"}
OUTSIDE = r"question 'marks': span 0: \[0, 40\) is not inside the prompt"
NOT_A_CANDIDATE = r"question 'better': choice 'weak-99' is not a response of this record"


@pytest.fixture
def judged(ws, tmp_path: Path) -> Any:
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", ROWS)], source="web", dataset="p")
    for name, role in (("ann", "annotator"), ("rev", "reviewer"), ("lead", "lead")):
        ws.workforce.add_user(name, role=role)
    members = ["ann", "rev", "lead"]
    ws.projects.create("judge", version="p@1", schema=SCHEMA, members=members)
    ws.projects.create("dst", version="p@1", schema=SCHEMA, members=members)
    return ws


def _items(ws: Any) -> list[dict[str, Any]]:
    return ws.transfer.export("judge", "labelstudio")


def test_queue_submit_checks_answers_against_the_record(judged) -> None:
    ws = judged
    view = ws.queue.next_task("judge", "ann")
    for answers, message in ((SPAN_OUTSIDE, OUTSIDE), (NO_SUCH_CANDIDATE, NOT_A_CANDIDATE)):
        with pytest.raises(ValidationError, match=message):
            ws.queue.submit(view.assignment_id, "ann", answers)
    # an annotator names the letters shown, never the candidates' ids (blind judging)
    with pytest.raises(ValidationError, match="choice 'strong-0' is not a response"):
        ws.queue.submit(view.assignment_id, "ann", {"better": "strong-0"})
    done = ws.queue.submit(view.assignment_id, "ann", {"better": "A"})
    assert done.answers == {"better": {"choice": "A"}}


def test_review_fix_and_adjudication_check_answers_against_the_record(judged) -> None:
    ws = judged
    view = ws.queue.next_task("judge", "ann")
    done = ws.queue.submit(view.assignment_id, "ann", {"better": "A"})
    task_id = _items(ws)[0]["id"]
    for answers, message in ((SPAN_OUTSIDE, OUTSIDE), (NO_SUCH_CANDIDATE, NOT_A_CANDIDATE)):
        with pytest.raises(ValidationError, match=message):
            ws.reviews.decide(done.annotation_id, "rev", "fix", answers=answers)
        with pytest.raises(ValidationError, match=f"task {task_id}: {message}"):
            ws.reviews.adjudicate(task_id, "lead", answers)
    assert ws.reviews.history(task_id) == []
    # a reviewer may name a candidate by its id: stored by the record's letter
    settled = ws.reviews.adjudicate(task_id, "lead", {"better": "weak-0"})
    assert settled["answers"] == {"better": {"choice": "B"}}


def test_gold_import_checks_answers_against_the_record(judged) -> None:
    ws = judged
    record_id = _items(ws)[0]["data"]["curata_id"]
    for answers, message in ((SPAN_OUTSIDE, OUTSIDE), (NO_SUCH_CANDIDATE, NOT_A_CANDIDATE)):
        with pytest.raises(ValidationError, match=f"record {record_id}: gold answers: {message}"):
            ws.projects.gold.add("judge", record_id, answers)
    ws.projects.gold.add("judge", record_id, {"better": "strong-0"})


def test_label_import_checks_answers_against_the_record(judged) -> None:
    """Label import used to check spans only, with no candidates: a preference naming a
    candidate the record lacks now gets the same refusal as everywhere else."""
    ws = judged
    while (view := ws.queue.next_task("judge", "ann")) is not None:
        ws.queue.submit(view.assignment_id, "ann", {"better": "A"})
    items = _items(ws)
    record_id = items[0]["data"]["curata_id"]
    [result] = items[0]["annotations"][0]["result"]
    assert result["from_name"] == "better"
    for value, message in (("weak-99", NOT_A_CANDIDATE),):
        result["value"]["text"] = [json.dumps({"choice": value})]  # Curata's JSON, as text
        with pytest.raises(InputError, match=f"item 1, record {record_id}, user 'ann': {message}"):
            ws.transfer.import_("dst", items, "labelstudio")
    assert ws.projects.get("dst").annotations == 0
    result["value"]["text"] = [json.dumps({"choice": "weak-0"})]  # the record's own, by id
    assert ws.transfer.import_("dst", items, "labelstudio").annotations == len(items)


def test_label_import_refuses_a_span_outside_the_record_text(judged) -> None:
    ws = judged
    view = ws.queue.next_task("judge", "ann")
    ws.queue.submit(
        view.assignment_id,
        "ann",
        {"better": "A", "marks": [{"start": 0, "end": 4, "label": "TYPO"}]},
    )
    items = [i for i in _items(ws) if i["annotations"]]
    marks = next(r for r in items[0]["annotations"][0]["result"] if r["from_name"] == "marks")
    marks["value"]["end"] = 40
    with pytest.raises(InputError, match=OUTSIDE):
        ws.transfer.import_("dst", items, "labelstudio")


def test_check_answers_reads_the_record_only_where_a_question_needs_it() -> None:
    labels = SCHEMA_ADAPTER.validate_python(
        {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
    )

    def unread() -> dict[str, Any]:
        raise AssertionError("the record was read")

    assert check_answers(labels, {"topic": "a"}, unread).answers == {"topic": "a"}
    bound = SCHEMA_ADAPTER.validate_python(SCHEMA)
    record = Record.from_pairwise(ROWS[0]["prompt"], ROWS[0]["responses"])
    view = record_view(record)
    assert check_answers(bound, {"better": "weak-0"}, view).answers == {"better": {"choice": "B"}}
    with pytest.raises(AnswerError, match=NOT_A_CANDIDATE):
        check_answers(bound, NO_SUCH_CANDIDATE, lambda: view)


def test_an_unknown_project_is_not_found_with_one_text_everywhere(judged) -> None:
    ws = judged
    calls = {
        "project": lambda: ws.projects.get("nope"),
        "visible": lambda: ws.projects.members.check_visible("nope", "ann"),
        "for user": lambda: ws.projects.members.for_user("nope", "ann"),
        "gold": lambda: ws.projects.gold.add("nope", "r", {"better": "A"}),
        "queue": lambda: ws.queue.next_task("nope", "ann"),
        "review": lambda: ws.reviews.next_review("nope", "rev"),
        "import": lambda: ws.transfer.import_("nope", [], "labelstudio"),
        "vendor audit": lambda: ws.vendor_audits.start("acme", "nope", 5),
    }
    for where, call in calls.items():
        with pytest.raises(NotFoundError) as caught:
            call()
        assert (where, str(caught.value)) == (where, "unknown project 'nope'")
        assert caught.value.status_code == 404
    # a project the asker may not see reads the same as one that does not exist
    ws.workforce.add_user("outsider")
    with pytest.raises(NotFoundError) as hidden:
        ws.projects.members.check_visible("judge", "outsider")
    assert str(hidden.value) == "unknown project 'judge'"


def test_the_annotations_that_count_are_each_assignments_latest_unless_rejected() -> None:
    def row(assignment: int, revision: int, status: str) -> SimpleNamespace:
        return SimpleNamespace(assignment_id=assignment, revision=revision, status=status)

    rows = [
        row(1, 2, "rejected"),  # the latest is rejected: the older revision does not stand in
        row(1, 1, "submitted"),
        row(2, 2, "fixed"),
        row(2, 1, "rejected"),
        row(3, 1, "superseded"),
        row(4, 1, "accepted"),
    ]
    assert [(r.assignment_id, r.revision) for r in latest_that_count(rows)] == [(2, 2), (4, 1)]
    assert [counts(s) for s in ("submitted", "rejected", "superseded")] == [True, False, False]


def test_send_to_review_marks_what_counts_once(judged) -> None:
    ws = judged
    view = ws.queue.next_task("judge", "ann")
    done = ws.queue.submit(view.assignment_id, "ann", {"better": "A"})
    task_id = _items(ws)[0]["id"]
    with write_transaction(ws.projects.sessions) as session:
        sent = ws.reviews.send_to_review(session, [task_id, task_id])
    assert (sent.counts(), sent.tasks) == (
        {"items": 1, "flagged": 1, "already_pending": 0, "already_reviewed": 0},
        {task_id},
    )
    item = ws.reviews.next_review("judge", "rev")
    assert item is not None and item.annotations[0]["annotation_id"] == done.annotation_id
    with write_transaction(ws.projects.sessions) as session:
        again = ws.reviews.send_to_review(session, [task_id])
    assert again.counts() == {"items": 1, "flagged": 0, "already_pending": 1, "already_reviewed": 0}
