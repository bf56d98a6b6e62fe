"""Calibration with feedback (#15) over a real socket, SQLite and PostgreSQL: after each
calibration item the annotate page shows whether each answer matched the expected one (and
what was expected), the running score and what remains, or, on failure, the retraining
material and that a lead must recalibrate; the API's submit response carries the same
feedback. Live and hidden gold items never show feedback or known answers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import served, write_jsonl
from tests.integration.test_web_annotate import client, field, submit

from curata.api.app import create_app
from curata.core.errors import NotFoundError

SCHEMA = {
    "questions": [
        {"type": "label", "name": "parity", "title": "Parity of the number",
         "labels": ["even", "odd"]},
        {"type": "text", "name": "comment", "required": False},
    ]
}  # fmt: skip
TRAIN = "https://example.org/train?a=1&b=<2>"


def _truth(text: str) -> str:
    return "odd" if int(text.split()[1]) % 2 else "even"


def _wrong(text: str) -> str:
    return "even" if _truth(text) == "odd" else "odd"


@pytest.fixture
def web(ws, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Project "cal": 6 records; calibration on docs 0 and 1 (2 items, all must be right,
    retraining at TRAIN); hidden gold on doc 3 (drawn first: gold share 0.99)."""
    rows = [{"text": f"doc {i}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "c.jsonl", rows)], source="web", dataset="c")
    for name in ("ann", "bob", "lead"):
        ws.workforce.add_user(name, role="lead" if name == "lead" else "annotator")
    ws.projects.create("cal", version="c@1", schema=SCHEMA, members=["ann", "bob", "lead"],
                       gold_share=0.99,
                       calibration={"size": 2, "threshold": 1.0, "retraining": TRAIN})  # fmt: skip
    ids = {r.text: i for b in ws.datasets.iter_records("c@1") for i, r in b}
    ws.projects.gold.add_items("cal", [(ids[f"doc {i}"], {"parity": _truth(f"doc {i}")})
                                       for i in (0, 1)], kind="calibration")  # fmt: skip
    ws.projects.gold.add("cal", ids["doc 3"], {"parity": _truth("doc 3")})
    ws.queue.reseed(1)
    tokens = {u: ws.workforce.issue_token(u) for u in ("ann", "bob", "lead")}
    with served(create_app(ws)) as url:
        yield {"url": url, "tokens": tokens, "ws": ws}


def _text(page: str) -> str:
    found = re.search(r'data-testid="record-text">([^<]*)<', page)
    assert found, page
    return html.unescape(found[1])


def _kind(ws: Any, assignment_id: str) -> str:
    with ws.engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT t.kind FROM assignments a JOIN tasks t ON "
                                         "t.id = a.task_id WHERE a.id = :a"),
                                {"a": int(assignment_id)}).scalar_one())  # fmt: skip


def _answer(c: httpx.Client, right: bool) -> tuple[httpx.Response, str, str]:
    """Answer the item on the page (rightly or not); the response, the item's text, its id."""
    page = c.get("/projects/cal/annotate").text
    text = _text(page)
    done = submit(c, page, "cal", parity=_truth(text) if right else _wrong(text))
    assert done.status_code == 303, done.text
    return done, text, field(page, "assignment_id")


def test_calibration_passed_with_feedback_then_gold_without(web) -> None:
    ws = web["ws"]
    with client(web, "ann") as c:
        done, text, first = _answer(c, right=True)
        assert _kind(ws, first) == "calibration"
        assert done.headers["location"] == f"/projects/cal/annotate?after={first}"
        page = c.get(done.headers["location"])
        assert page.status_code == 200
        body = page.text
        assert 'data-testid="calibration-feedback" data-state="pending"' in body
        assert 'data-testid="item-result">right<' in body
        assert '<th scope="row">Parity of the number</th>' in body
        assert f'data-testid="answer">{_truth(text)}<' in body
        assert f'data-testid="expected">{_truth(text)}<' in body
        assert (
            "comment" not in body.split('data-testid="feedback-questions"')[1].split("</table>")[0]
        )  # only questions with a known answer are judged
        assert "1 of 1 right (100%" in body and "100% is needed" in body
        assert "1 more calibration item before live items open" in body
        assert 'data-testid="annotate-form"' not in body  # feedback first: nothing leased yet
        assert c.get(done.headers["location"]).text.count("calibration-feedback") == 1  # reload

        done, _, second = _answer(c, right=True)
        assert _kind(ws, second) == "calibration" and second != first
        body = c.get(done.headers["location"]).text
        assert 'data-state="passed"' in body and "2 of 2 right" in body
        assert "You passed calibration" in body and 'data-testid="continue"' in body

        # live items are open: the next item is the hidden gold one (drawn first)
        page = c.get("/projects/cal/annotate").text
        gold_id = field(page, "assignment_id")
        assert _kind(ws, gold_id) == "gold"
        text = _text(page)
        done = submit(c, page, "cal", parity=_wrong(text))  # missed: still nothing said
        assert done.status_code == 303 and done.headers["location"] == "/projects/cal/annotate"
        after = c.get(f"/projects/cal/annotate?after={gold_id}")
        assert after.status_code == 200
        for shown in (after.text, c.get("/projects/cal/annotate").text):
            assert "calibration-feedback" not in shown and "expected" not in shown.lower()
            assert 'data-testid="annotate-form"' in shown  # the next item, as usual


def test_calibration_failed_shows_retraining_and_recalibration(web) -> None:
    ws = web["ws"]
    with client(web, "bob") as c:
        done, _, first = _answer(c, right=True)
        done, text, second = _answer(c, right=False)
        assert done.headers["location"] == f"/projects/cal/annotate?after={second}"
        page = c.get(done.headers["location"])
        assert page.status_code == 200
        body = page.text
        assert 'data-state="failed"' in body and 'data-testid="item-result">not right<' in body
        assert f'data-testid="answer">{_wrong(text)}<' in body
        assert f'data-testid="expected">{_truth(text)}<' in body
        assert "1 of 2 right (50%" in body and "100% is needed" in body
        assert "Calibration not passed" in body and "recalibrates you" in body
        assert f'href="{html.escape(TRAIN)}"' in body and "<2>" not in body  # escaped
        assert 'data-testid="continue"' not in body
        # the first item's feedback, read again, has the standing as of now
        again = c.get(f"/projects/cal/annotate?after={first}").text
        assert 'data-testid="item-result">right<' in again and 'data-state="failed"' in again
        closed = c.get("/projects/cal/annotate")
        assert closed.status_code == 403 and "calibration not passed" in closed.text

        ws.projects.members.reset_calibration("cal", "bob", reason="retrained", by="lead")
        # a superseded answer has no feedback any more: the page is the next item
        page = c.get(f"/projects/cal/annotate?after={second}")
        assert page.status_code == 200 and "calibration-feedback" not in page.text
        assert _kind(ws, field(page.text, "assignment_id")) == "calibration"


def test_feedback_is_the_owners_alone(web) -> None:
    ws = web["ws"]
    with client(web, "ann") as c:
        _, _, mine = _answer(c, right=True)
    with client(web, "bob") as c:
        other = c.get(f"/projects/cal/annotate?after={mine}")
        assert other.status_code == 404 and "calibration-feedback" not in other.text
        junk = c.get("/projects/cal/annotate?after=99999999999")  # out of range: ignored
        assert junk.status_code == 200 and 'data-testid="annotate-form"' in junk.text
    with pytest.raises(NotFoundError):
        ws.queue.calibration_feedback(int(mine), "bob")
    assert ws.queue.calibration_feedback(int(mine), "ann") is not None


def test_api_submit_carries_the_same_feedback(web) -> None:
    ws = web["ws"]
    headers = {"Authorization": f"Bearer {web['tokens']['ann']}"}
    with httpx.Client(base_url=f"{web['url']}/api/v1", headers=headers, timeout=30) as api:
        task = api.post("/projects/cal/next").json()
        text = task["record"]["text"]
        path = f"/assignments/{task['assignment_id']}/submit"
        done = api.post(path, json={"answers": {"parity": _wrong(text)}})
        assert done.status_code == 201, done.text
        feedback = done.json()["calibration"]
        assert feedback["state"] == "pending" and feedback["correct"] is False
        assert feedback["questions"] == [
            {
                "question": "parity",
                "answer": _wrong(text),
                "expected": _truth(text),
                "correct": False,
            }
        ]
        assert (feedback["answered"], feedback["needed"], feedback["right"]) == (1, 2, 0)
        assert feedback["remaining"] == 1 and feedback["retraining"] == TRAIN
        # a retry of the same answers answers the same feedback
        assert (
            api.post(path, json={"answers": {"parity": _wrong(text)}}).json()["calibration"]
            == feedback
        )
        service = ws.queue.calibration_feedback(task["assignment_id"], "ann")
        assert service is not None and service.to_dict() == feedback

        task = api.post("/projects/cal/next").json()
        done = api.post(
            f"/assignments/{task['assignment_id']}/submit",
            json={"answers": {"parity": _truth(task["record"]["text"])}},
        )
        assert done.json()["calibration"]["state"] == "failed"
        assert done.json()["calibration"]["score"] == 0.5
    # live and gold answers carry no feedback
    ws.projects.members.reset_calibration("cal", "ann", reason="again", by="lead")
    for _ in range(2):
        view = ws.queue.next_task("cal", "ann")
        assert view is not None
        ws.queue.submit(view.assignment_id, "ann", {"parity": _truth(view.record["text"])})
    with httpx.Client(base_url=f"{web['url']}/api/v1", headers=headers, timeout=30) as api:
        seen = set()
        while (task := api.post("/projects/cal/next")).status_code == 200:
            body = task.json()
            seen.add(_kind(ws, str(body["assignment_id"])))
            done = api.post(
                f"/assignments/{body['assignment_id']}/submit",
                json={"answers": {"parity": _wrong(body["record"]["text"])}},
            )
            assert done.status_code == 201 and done.json()["calibration"] is None
            assert ws.queue.calibration_feedback(body["assignment_id"], "ann") is None
        assert seen == {"gold", "live"}


def test_feedback_names_the_candidates_as_shown(ws, tmp_path: Path) -> None:
    """A pairwise calibration item: the expected choice is named by the letter each annotator
    saw for the candidate (the order is drawn per assignment), not the record's own letter."""
    row = {
        "prompt": "Boiling point?",
        "responses": [{"id": "small", "text": "About 90 C."}, {"id": "large", "text": "100 C."}],
    }
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", [row])], source="web", dataset="pw")
    people = [f"ann{i}" for i in range(4)]
    for user in people:
        ws.workforce.add_user(user, role="annotator")
    ws.projects.create("pw", version="pw@1", members=people,
                       schema={"questions": [{"type": "preference", "name": "better"}]},
                       calibration={"size": 1, "threshold": 1.0})  # fmt: skip
    [[(record_id, _)]] = list(ws.datasets.iter_records("pw@1"))
    ws.projects.gold.add("pw", record_id, {"better": "large"}, kind="calibration")  # stored: B
    letters = set()
    for user in people:
        view = ws.queue.next_task("pw", user)
        assert view is not None
        letter = next(r["letter"] for r in view.record["responses"] if r["text"] == "100 C.")
        letters.add(letter)
        done = ws.queue.submit(view.assignment_id, user, {"better": {"choice": letter}})
        assert done.calibration is not None
        [q] = done.calibration.questions
        assert q.expected == {"choice": letter} and q.answer == {"choice": letter} and q.correct
        assert done.calibration.state == "passed"
    assert letters == {"A", "B"}  # someone saw the candidates swapped


def test_a_calibration_item_cannot_be_skipped(web) -> None:
    with client(web, "ann") as c:
        page = c.get("/projects/cal/annotate").text
        held = field(page, "assignment_id")
        data = {"csrf": field(page, "csrf"), "assignment_id": held, "reason": "unreadable"}
        refused = c.post("/projects/cal/annotate/skip", data=data)
        assert refused.status_code == 403 and field(refused.text, "assignment_id") == held
        assert 'data-testid="skip-problem">calibration items cannot be skipped' in refused.text
    assert web["ws"].audit.list(action="assignment.skip") == []


def test_the_pages_script_gets_the_feedback_in_the_submits_own_answer(web) -> None:
    """With ``X-Curata-Swap: 1`` a calibration submit answers with the feedback page itself,
    its address (``?after=ID``) in ``X-Curata-Location``, as the redirect would have led."""
    with client(web, "ann") as c:
        page = c.get("/projects/cal/annotate").text
        first = field(page, "assignment_id")
        data = {"csrf": field(page, "csrf"), "assignment_id": first,
                "shown_at": field(page, "shown_at"), "a.parity": _truth(_text(page))}  # fmt: skip
        done = c.post("/projects/cal/annotate", data=data, headers={"X-Curata-Swap": "1"})
        assert done.status_code == 200
        assert done.headers["X-Curata-Location"] == f"/projects/cal/annotate?after={first}"
        assert 'data-testid="calibration-feedback"' in done.text
        assert 'data-testid="item-result">right<' in done.text
        again = c.get(f"/projects/cal/annotate?after={first}").text  # a reload shows it again
        assert again.count("calibration-feedback") == 1
