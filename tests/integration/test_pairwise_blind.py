"""Blind judging of pairwise records (#12): an annotator sees each candidate by letter with its
text only, in an order drawn for the assignment (so neither a field nor a position tells the
model); answers name the letters shown and are stored, reviewed and released by the record's
letters, where reviewers see the provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

from curata.core.errors import ValidationError

# In every record the strong model's answer is the first candidate: a view in record order
# would tell the annotator which model wrote which.
STRONG, WEAK = "large-2", "small-1"
QUESTIONS = [f"Question number {i}?" for i in range(12)]
ROWS = [
    {
        "prompt": q,
        "responses": [
            {"id": f"strong-{i}", "text": f"Good answer {i}.", "model": STRONG, "seed": 7},
            {"id": f"weak-{i}", "text": f"Bad answer {i}.", "model": WEAK, "seed": 7},
        ],
        "topic": "quiz",
    }
    for i, q in enumerate(QUESTIONS)
]
PREFERENCE = {"questions": [{"type": "preference", "name": "better"}]}
RANKING = {"questions": [{"type": "ranking", "name": "order", "responses": 3}]}


@pytest.fixture
def judge(ws, tmp_path: Path) -> Any:
    ws.ingest([write_jsonl(tmp_path / "prefs.jsonl", ROWS)], source="web", dataset="prefs")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("rev", role="reviewer")
    ws.projects.create(
        "judge",
        version="prefs@1",
        schema=PREFERENCE,
        members=["ann", "rev"],
        review={"mode": "all"},
    )
    return ws


def shown_letter(record: dict[str, Any], text: str) -> str:
    return next(c["letter"] for c in record["responses"] if c["text"] == text)


def assert_blind(record: dict[str, Any]) -> None:
    """Candidates are letters and texts only; nothing names a model or a candidate id."""
    assert [sorted(c) for c in record["responses"]] == [["letter", "text"]] * 2
    assert [c["letter"] for c in record["responses"]] == ["A", "B"]
    seen = json.dumps(record)
    for hidden in (STRONG, WEAK, "strong-", "weak-", '"seed"', '"model"'):
        assert hidden not in seen


def test_the_annotator_sees_candidates_blind_and_the_record_keeps_its_letters(
    judge, tmp_path: Path
) -> None:
    ws = judge
    first_shown: list[str] = []
    while (view := ws.queue.next_task("judge", "ann")) is not None:
        record = view.record
        assert_blind(record)
        assert record["kind"] == "pairwise" and record["metadata"] == {"topic": "quiz"}
        i = QUESTIONS.index(record["prompt"])
        first_shown.append(record["responses"][0]["text"])
        # the same lease, asked for again, shows the same order
        assert ws.queue.next_task("judge", "ann").record == record
        good = shown_letter(record, f"Good answer {i}.")
        done = ws.queue.submit(view.assignment_id, "ann", {"better": good})
        assert done.answers == {"better": {"choice": good}}  # as the annotator gave it
        again = ws.queue.submit(view.assignment_id, "ann", {"better": good})  # a retry
        assert again.annotation_id == done.annotation_id and again.answers == done.answers
    assert len(first_shown) == 12
    # the order is not the record's: the strong model's answer is shown first only sometimes
    strong_first = sum(text.startswith("Good") for text in first_shown)
    assert 0 < strong_first < 12
    # stored by the record's letters: the strong candidate is A in every record
    while (item := ws.reviews.next_review("judge", "rev")) is not None:
        assert [c["model"] for c in item.record["responses"]] == [STRONG, WEAK]  # provenance
        [annotation] = item.annotations
        assert annotation["answers"] == {"better": {"choice": "A"}}
        ws.reviews.decide(annotation["annotation_id"], "rev", "accept")
    labels = ws.releases.release("judge").version.ref
    out = judge.export_training(labels, format="dpo", out=tmp_path / "dpo.jsonl")
    assert out.rows == 12
    rows = [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert all(r["chosen"].startswith("Good") and r["rejected"].startswith("Bad") for r in rows)


def test_a_choice_the_annotator_was_not_shown_is_refused_without_naming_ids(judge) -> None:
    ws = judge
    view = ws.queue.next_task("judge", "ann")
    assert view is not None
    for wrong in ("C", "strong-0"):  # ids are not shown, so not a way to answer
        with pytest.raises(ValidationError) as info:
            ws.queue.submit(view.assignment_id, "ann", {"better": wrong})
        message = str(info.value)
        assert f"choice {wrong!r} is not a response of this record" in message
        assert "(allowed: A, B, tie, both_bad)" in message and "weak" not in message
    assert ws.queue.submit(view.assignment_id, "ann", {"better": "tie"}).answers == {
        "better": {"choice": "tie"}
    }


def test_a_ranking_in_the_order_shown_is_stored_in_record_order(ws, tmp_path: Path) -> None:
    rows = [
        {
            "prompt": f"Rank these, round {i}.",
            "responses": [
                {"text": f"best {i}", "model": "m1"},
                {"text": f"middle {i}", "model": "m2"},
                {"text": f"worst {i}", "model": "m3"},
            ],
        }
        for i in range(6)
    ]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", rows)], source="web", dataset="ranks")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("rev", role="reviewer")
    ws.projects.create(
        "rank", version="ranks@1", schema=RANKING, members=["ann", "rev"], review={"mode": "all"}
    )
    orders = set()
    while (view := ws.queue.next_task("rank", "ann")) is not None:
        shown = [c["text"].split()[0] for c in view.record["responses"]]
        orders.add(tuple(shown))
        assert [c["letter"] for c in view.record["responses"]] == ["A", "B", "C"]
        rank = {"best": 1, "middle": 2, "worst": 3}
        as_list = [rank[word] for word in shown]
        done = ws.queue.submit(view.assignment_id, "ann", {"order": as_list})
        assert done.answers == {"order": as_list}
    assert len(orders) > 1
    answers = []
    while (item := ws.reviews.next_review("rank", "rev")) is not None:
        [annotation] = item.annotations
        answers.append(annotation["answers"])
        ws.reviews.decide(annotation["annotation_id"], "rev", "accept")
    assert answers == [{"order": [1, 2, 3]}] * 6


def test_a_ranking_by_letter_names_the_letters_shown(ws, tmp_path: Path) -> None:
    row = {"prompt": "Rank.", "responses": ["one", "two", "three"]}
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", [row])], source="web", dataset="ranks")
    ws.workforce.add_user("ann", role="annotator")
    ws.projects.create("rank", version="ranks@1", schema=RANKING, members=["ann"])
    view = ws.queue.next_task("rank", "ann")
    assert view is not None
    words = {c["letter"]: c["text"] for c in view.record["responses"]}
    rank = {"one": 3, "two": 1, "three": 2}
    done = ws.queue.submit(
        view.assignment_id, "ann", {"order": {k: rank[w] for k, w in words.items()}}
    )
    assert done.answers == {"order": [rank[words[k]] for k in "ABC"]}
    with ws.engine.connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("SELECT answers FROM annotations")).scalar()
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert stored == {"order": [3, 1, 2]}  # one, two, three in record order


def test_the_api_serves_the_annotator_a_blind_view_and_the_reviewer_the_provenance(
    judge,
) -> None:
    from fastapi.testclient import TestClient

    from curata.api.app import create_app

    ws = judge
    auth = {u: {"Authorization": f"Bearer {ws.workforce.issue_token(u)}"} for u in ("ann", "rev")}
    with TestClient(create_app(ws)) as client:
        r = client.post("/api/v1/projects/judge/next", headers=auth["ann"])
        assert r.status_code == 200, r.text
        task = r.json()
        assert_blind(task["record"])
        i = QUESTIONS.index(task["record"]["prompt"])
        bad = shown_letter(task["record"], f"Bad answer {i}.")
        url = f"/api/v1/assignments/{task['assignment_id']}/submit"
        wrong = client.post(url, json={"answers": {"better": f"weak-{i}"}}, headers=auth["ann"])
        assert wrong.status_code == 422 and "strong" not in wrong.text
        s = client.post(url, json={"answers": {"better": bad}}, headers=auth["ann"])
        assert s.status_code == 201, s.text
        assert s.json()["answers"] == {"better": {"choice": bad}}
        item = client.post("/api/v1/projects/judge/reviews/next", headers=auth["rev"]).json()
        assert item["record"]["prompt"] == QUESTIONS[i]
        assert item["record"]["responses"] == ROWS[i]["responses"]  # ids and provenance
        [annotation] = item["annotations"]
        assert annotation["answers"] == {"better": {"choice": "B"}}  # the weak model's


def test_simulated_annotators_label_pairwise_records_shown_blind(ws, tmp_path: Path) -> None:
    """The simulation finds each task's record by its content as the queue shows it."""

    ws.ingest([write_jsonl(tmp_path / "p.jsonl", ROWS)], source="web", dataset="prefs")
    schema = {"questions": [{"type": "label", "name": "safe", "labels": ["yes", "no"]}]}
    ws.projects.create("safety", version="prefs@1", schema=schema, overlap=2)
    sim = ws.quality.simulate("safety", {"good": 2}, gold_fraction=0)
    assert sim.labels == 2 * len(ROWS)
