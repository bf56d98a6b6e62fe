"""The queue under ``model-only`` (#16): an item whose every needed question runs model-only is
served to people only where it is in a question's human audit sample (or the model gave no
answer); hidden gold is served as before; a human mode on any question serves everything again;
a lease taken before the switch can still be submitted; the status counts the items the model
covers as needing nobody.

Project "mo": 40 records ``doc 0`` .. ``doc 39``, two required label questions ``a`` (x/y) and
``b`` (p/q), overlap 1, hidden gold on records 0-3 with gold share 0.999 (an annotator meets
the gold items first). The model (a test double) answers both questions on every record, except
``b`` on record 39, where its reply names no label.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import log_in, write_jsonl

from curata.redteam.targets.callable import CallableTarget

SCHEMA = {
    "questions": [
        {"type": "label", "name": "a", "labels": ["x", "y"]},
        {"type": "label", "name": "b", "labels": ["p", "q"]},
        {"type": "text", "name": "note", "required": False},  # not needed: never model-only
    ]
}
RECORDS = 40
GOLD = set(range(4))
UNANSWERED = 39  # the model gives no label for question b on this record
ANSWERS = {"a": "x", "b": "p"}


def _model(prompt: str) -> str:
    number = int(prompt.split("<item>\ndoc ")[1].split("\n")[0])
    if "Question: b\n" in prompt:
        return "I cannot tell." if number == UNANSWERED else "p"
    return "x"


def _fraction(record_id: str, question: str) -> float:
    """The audit draw, written out here: SHA-256 of ``mo/question/record``, first 8 bytes
    over 2^64 (docs/automation.md)."""
    digest = hashlib.sha256(f"mo/{question}/{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@pytest.fixture
def ids(ws, tmp_path: Path) -> dict[int, str]:
    """The project, answered by the model on both questions; record ids by number."""
    rows = [{"text": f"doc {i}"} for i in range(RECORDS)]
    ws.ingest([write_jsonl(tmp_path / "mo.jsonl", rows)], source="web", dataset="mo")
    people = ["p1", "p2"]
    for name in people:
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create("mo", version="mo@1", schema=SCHEMA, overlap=1, gold_share=0.999,
                       members=people)  # fmt: skip
    ws.queue.reseed(16)  # with a gold share of 0.999, each draw but about one in 1000 is gold
    ids = {int(r.text.split()[1]): i for b in ws.datasets.iter_records("mo@1") for i, r in b}
    ws.projects.gold.add_items("mo", [(ids[i], ANSWERS) for i in sorted(GOLD)])
    target = CallableTarget.of(_model, label="tests:model-only")
    for question in ("a", "b"):
        ws.automation.models.annotate("mo", target=target, question=question, user="model-mo")
    return ids


def _model_only(ws, question: str, share: float) -> None:
    ws.automation.set("mo", question=question, mode="model-only", audit_share=share,
                      force=True, reason="test")  # fmt: skip


def _kind_and_number(ws, ids: dict[int, str], assignment_id: int) -> tuple[str, int]:
    numbers = {record_id: i for i, record_id in ids.items()}
    with ws.engine.connect() as conn:
        kind, record_id = conn.execute(
            sa.text(
                "SELECT t.kind, t.record_id FROM assignments a JOIN tasks t ON t.id = a.task_id "
                "WHERE a.id = :a"
            ),
            {"a": assignment_id},
        ).one()
    return kind, numbers[record_id]


def _drain(ws, ids: dict[int, str], user: str) -> dict[str, set[int]]:
    """Everything the queue serves ``user``, answered; record numbers by task kind."""
    served: dict[str, set[int]] = {"live": set(), "gold": set()}
    while (view := ws.queue.next_task("mo", user)) is not None:
        kind, number = _kind_and_number(ws, ids, view.assignment_id)
        assert number not in served[kind], "served twice"
        served[kind].add(number)
        ws.queue.submit(view.assignment_id, user, dict(ANSWERS))
    return served


def _covered(ws) -> set[str]:
    with ws.engine.connect() as conn:
        return set(
            conn.execute(
                sa.text("SELECT record_id FROM tasks WHERE model_covered = :t"), {"t": True}
            ).scalars()
        )


def test_one_model_only_question_serves_every_item(ws, ids) -> None:
    _model_only(ws, "a", 0.25)  # b stays human-only: people answer every item
    assert _covered(ws) == set()
    served = _drain(ws, ids, "p1")
    assert served["gold"] == GOLD
    # the live items of gold records: p1 answered their gold copy, which counts for them
    assert served["live"] == set(range(RECORDS)) - GOLD


def test_all_model_only_serves_the_audit_sample_and_gold(ws, ids) -> None:
    _model_only(ws, "a", 0.25)
    _model_only(ws, "b", 0.25)
    sampled = {i for i in range(RECORDS) if min(_fraction(ids[i], q) for q in "ab") < 0.25}
    people = sampled | {UNANSWERED}  # in an audit sample, or the model did not answer b
    model = set(range(RECORDS)) - people
    assert 0 < len(model - GOLD) < RECORDS - len(GOLD)  # the draw leaves some of each
    assert _covered(ws) == {ids[i] for i in model}

    status = ws.projects.status("mo")
    assert (status.items, status.items_model) == (RECORDS, len(model))
    assert status.items_complete == len(model)
    assert (status.labels_needed, status.labels_done) == (len(people), 0)  # overlap 1
    assert not status.done

    served = _drain(ws, ids, "p1")
    assert served["gold"] == GOLD  # hidden gold still measures the people
    assert served["live"] == people - GOLD  # gold records' live items: their gold copy counts
    assert _drain(ws, ids, "p2") == {
        "live": set(),
        "gold": GOLD,
    }  # overlap 1: the live items are full

    status = ws.projects.status("mo")
    # a covered gold record's live item holds p1's copied gold answer: done, and counted
    copied = len(model & GOLD)
    assert status.labels_needed == status.labels_done == len(people) + copied
    assert status.items_complete == RECORDS and status.done and status.eta is None

    [event] = [e for e in ws.audit.list(action="automation.force")
               if e.details["question"] == "b"]  # fmt: skip
    assert event.details["items_held_back"] == len(model)


def test_back_to_a_human_mode_serves_every_item_again(ws, ids, cli, monkeypatch) -> None:
    _model_only(ws, "a", 0.25)
    _model_only(ws, "b", 0.25)
    covered = len(_covered(ws))
    assert covered
    log_in(ws)  # on PostgreSQL the command acts as the token's user, the workspace's
    monkeypatch.setenv("CURATA_USER", ws.settings.user)
    code, out, _ = cli("--home", str(ws.home), "tasks", "status", "mo")
    assert code == 0
    assert f"{covered} of {RECORDS} items complete ({covered} answered by the model alone)" in out
    ws.automation.set("mo", question="b", mode="model-suggested", force=True, reason="back")
    assert _covered(ws) == set()
    served = _drain(ws, ids, "p1")
    assert served == {"gold": GOLD, "live": set(range(RECORDS)) - GOLD}
    assert ws.projects.status("mo").items_model == 0


def test_a_lease_taken_before_the_switch_can_be_submitted(ws, ids) -> None:
    first = None
    while first is None:  # p1 meets the gold items first
        view = ws.queue.next_task("mo", "p1")
        assert view is not None
        kind, number = _kind_and_number(ws, ids, view.assignment_id)
        if kind == "live":
            first = (view.assignment_id, number)
        else:
            ws.queue.submit(view.assignment_id, "p1", dict(ANSWERS))
    assignment_id, number = first
    assert number != UNANSWERED
    # an audit share below this record's draws on both questions: the model covers it
    share = min(_fraction(ids[number], "a"), _fraction(ids[number], "b")) / 2
    _model_only(ws, "a", share)
    _model_only(ws, "b", share)
    assert ids[number] in _covered(ws)

    held = ws.queue.next_task("mo", "p1")  # the lease is still p1's
    assert held is not None and held.assignment_id == assignment_id
    submitted: Any = ws.queue.submit(assignment_id, "p1", dict(ANSWERS))
    assert submitted.answers["a"] == "x"
    with ws.engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT submitted FROM tasks t JOIN assignments a ON a.task_id = t.id "
                    "WHERE a.id = :a"), {"a": assignment_id},
        ).scalar_one() == 1  # fmt: skip
    assert number not in _drain(ws, ids, "p2")["live"]
