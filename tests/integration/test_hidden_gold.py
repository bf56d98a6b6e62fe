"""Hidden gold stays hidden (#12): no annotator receives the same record twice, whether it is
served as a live, gold or calibration item; gold answers count for the record's live item; gold
and calibration answers that point into the text are checked against it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import write_jsonl

from curata.annotation.gold import ItemError
from curata.core.errors import ForbiddenError, ValidationError

SCHEMA = {"questions": [{"type": "label", "name": "parity", "labels": ["even", "odd"]}]}
PEOPLE = ("ann1", "ann2", "ann3", "ann4")
RECORDS = 12


def _truth(text: str) -> str:
    return "odd" if int(text.split()[1]) % 2 else "even"


@pytest.fixture
def gold_project(ws, tmp_path: Path) -> dict[str, str]:
    """Project "hg": 12 records, overlap 2, hidden gold on records 0-2 (served half the time),
    calibration on records 2-3 (record 2 is both); returns each record's id by its text."""
    rows = [{"text": f"doc {i}"} for i in range(RECORDS)]
    ws.ingest([write_jsonl(tmp_path / "hg.jsonl", rows)], source="web", dataset="hg")
    for name in PEOPLE:
        ws.workforce.add_user(name, role="annotator")
    ws.projects.create(
        "hg",
        version="hg@1",
        schema=SCHEMA,
        overlap=2,
        gold_share=0.5,
        members=list(PEOPLE),
        calibration={"size": 2, "threshold": 1.0},
    )
    ids = {r.text: i for b in ws.datasets.iter_records("hg@1") for i, r in b}
    ws.projects.gold.add_items(
        "hg", [(ids[f"doc {i}"], {"parity": _truth(f"doc {i}")}) for i in range(3)]
    )
    ws.projects.gold.add_items(
        "hg",
        [(ids[f"doc {i}"], {"parity": _truth(f"doc {i}")}) for i in (2, 3)],
        kind="calibration",
    )
    ws.queue.reseed(7)
    return ids


def _run(ws, answer=_truth) -> Counter[tuple[str, str]]:
    """Every annotator, in turn, through the queue until it has nothing left for anyone;
    returns how often each (annotator, record text) pair was served."""
    served: Counter[tuple[str, str]] = Counter()
    active = list(PEOPLE)
    while active:
        for user in list(active):
            view = ws.queue.next_task("hg", user)
            if view is None:
                active.remove(user)
                continue
            text = view.record["text"]
            served[(user, text)] += 1
            ws.queue.submit(view.assignment_id, user, {"parity": answer(text)})
    return served


def test_no_annotator_receives_a_record_twice(ws, gold_project) -> None:
    served = _run(ws)
    twice = sorted(pair for pair, n in served.items() if n > 1)
    assert twice == []
    with ws.engine.connect() as conn:  # the store agrees: one lease per annotator and record
        repeats = conn.execute(
            sa.text(
                "SELECT a.user_id, t.record_id, count(*) FROM assignments a "
                "JOIN tasks t ON t.id = a.task_id WHERE a.copied_from IS NULL "
                "GROUP BY a.user_id, t.record_id HAVING count(*) > 1"
            )
        ).all()
        copies = conn.execute(  # a copied answer is the same annotator's, on the same record
            sa.text(
                "SELECT count(*) FROM assignments a JOIN tasks t ON t.id = a.task_id "
                "JOIN assignments s ON s.id = a.copied_from JOIN tasks st ON st.id = s.task_id "
                "WHERE t.kind = 'live' AND st.kind IN ('gold', 'calibration') "
                "AND s.user_id = a.user_id AND st.record_id = t.record_id"
            )
        ).scalar_one()
        copied = conn.execute(
            sa.text("SELECT count(*) FROM assignments WHERE copied_from IS NOT NULL")
        ).scalar_one()
    assert repeats == []
    assert copies == copied > 0


def test_gold_answers_count_for_the_live_item(ws, gold_project, tmp_path: Path) -> None:
    """The run completes: every record gets its two live answers although the gold and
    calibration records were also served as such (their answers stand in for the live ones),
    gold accuracy still sees every gold answer, and the release labels every record."""
    served = _run(ws)
    project = ws.projects.get("hg")
    assert project.complete == RECORDS
    assert project.annotations == sum(served.values())  # answers given, a copy not twice
    with ws.engine.connect() as conn:
        per_kind = dict(
            conn.execute(
                sa.text(
                    "SELECT t.kind, count(*) FROM annotations n JOIN tasks t ON t.id = n.task_id "
                    "GROUP BY t.kind"
                )
            ).all()
        )
        live = conn.execute(
            sa.text(
                "SELECT t.record_id, count(DISTINCT n.user_id) FROM annotations n "
                "JOIN tasks t ON t.id = n.task_id WHERE t.kind = 'live' GROUP BY t.record_id"
            )
        ).all()
    assert sorted(n for _, n in live) == [2] * RECORDS  # overlap 2 on every record, no more
    assert per_kind["calibration"] == 2 * len(PEOPLE)  # everyone calibrates on both records
    assert per_kind["gold"] >= 1
    with ws.engine.connect() as conn:  # each annotator answered exactly the records served
        answered = conn.execute(
            sa.text(
                "SELECT DISTINCT u.name, t.record_id FROM annotations n "
                "JOIN tasks t ON t.id = n.task_id JOIN users u ON u.id = n.user_id"
            )
        ).all()
    by_id = {record_id: text for text, record_id in gold_project.items()}
    assert sorted((user, by_id[r]) for user, r in answered) == sorted(served)
    result = ws.releases.release("hg", aggregate="majority", dataset="hg-labels")
    out = tmp_path / "labels.jsonl"
    ws.export(result.version.ref, format="jsonl", out=out)
    labels = {
        r["text"]: r["curata_labels"]["parity"]
        for r in (json.loads(line) for line in out.read_text("utf-8").splitlines())
    }
    assert labels == {f"doc {i}": _truth(f"doc {i}") for i in range(RECORDS)}


def test_a_failed_calibration_does_not_label_live_items(ws, gold_project) -> None:
    """Calibration answers count for the live item only once the annotator has passed."""
    for _ in range(2):
        view = ws.queue.next_task("hg", "ann1")
        wrong = "odd" if _truth(view.record["text"]) == "even" else "even"
        ws.queue.submit(view.assignment_id, "ann1", {"parity": wrong})
    with pytest.raises(ForbiddenError, match="calibration not passed"):
        ws.queue.next_task("hg", "ann1")
    with ws.engine.connect() as conn:
        live = conn.execute(
            sa.text(
                "SELECT count(*) FROM annotations n JOIN tasks t ON t.id = n.task_id "
                "WHERE t.kind = 'live'"
            )
        ).scalar_one()
    assert live == 0


def test_the_api_never_serves_a_record_twice(ws, gold_project) -> None:
    from fastapi.testclient import TestClient

    from curata.api.app import create_app

    tokens = {u: ws.workforce.issue_token(u) for u in PEOPLE}
    served: Counter[tuple[str, str]] = Counter()
    with TestClient(create_app(ws)) as client:
        active = list(PEOPLE)
        while active:
            for user in list(active):
                auth = {"Authorization": f"Bearer {tokens[user]}"}
                r = client.post("/api/v1/projects/hg/next", headers=auth)
                if r.status_code == 204:
                    active.remove(user)
                    continue
                assert r.status_code == 200, r.text
                task: dict[str, Any] = r.json()
                text = task["record"]["text"]
                served[(user, text)] += 1
                s = client.post(
                    f"/api/v1/assignments/{task['assignment_id']}/submit",
                    json={"answers": {"parity": _truth(text)}},
                    headers=auth,
                )
                assert s.status_code == 201, s.text
    assert [pair for pair, n in served.items() if n > 1] == []
    assert ws.projects.get("hg").complete == RECORDS


SPANS = {"questions": [{"type": "span", "name": "names", "labels": ["PER"]}]}


def test_gold_spans_are_checked_against_the_record_text(ws, tmp_path: Path) -> None:
    rows = [{"text": "Ada met Alan"}, {"text": "Grace"}]
    ws.ingest([write_jsonl(tmp_path / "sp.jsonl", rows)], source="web", dataset="sp")
    ws.projects.create("sp", version="sp@1", schema=SPANS)
    ids = {r.text: i for b in ws.datasets.iter_records("sp@1") for i, r in b}
    ada, grace = ids["Ada met Alan"], ids["Grace"]
    ws.projects.gold.add("sp", ada, {"names": [{"start": 8, "end": 12, "label": "PER"}]})
    # [8, 12) fits "Ada met Alan" (12 characters) but not "Grace" (5): nothing is written
    with pytest.raises(
        ItemError,
        match=rf"item 2: record {grace}: calibration answers: question 'names': span 0: "
        r"\[8, 12\) is not inside the text",
    ) as failed:
        ws.projects.gold.add_items(
            "sp",
            [
                (ada, {"names": [{"start": 0, "end": 3, "label": "PER"}]}),
                (grace, {"names": [{"start": 8, "end": 12, "label": "PER"}]}),
            ],
            kind="calibration",
        )
    assert failed.value.item == 2 and isinstance(failed.value.problem, ValidationError)
    with pytest.raises(ValidationError, match=rf"record {grace}: gold answers: .*\[0, 6\)"):
        ws.projects.gold.add("sp", grace, {"names": [{"start": 0, "end": 6, "label": "PER"}]})
    assert ws.projects.get("sp").gold_tasks == 1
    with ws.engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT kind FROM tasks WHERE kind <> 'live'")).scalars()
        assert list(kinds) == ["gold"]


def test_gold_preferences_bind_to_the_record_candidates(ws, tmp_path: Path) -> None:
    """A gold preference names a candidate as a submit does: by id (stored as its letter);
    a candidate the record lacks is refused, naming the record."""
    row = {
        "prompt": "Boiling point of water at sea level?",
        "responses": [{"id": "small", "text": "About 90 C."}, {"id": "large", "text": "100 C."}],
    }
    ws.ingest([write_jsonl(tmp_path / "p.jsonl", [row])], source="web", dataset="pw")
    ws.projects.create("pw", version="pw@1", schema={"questions": [
        {"type": "preference", "name": "better"}]})  # fmt: skip
    [[(record_id, _)]] = list(ws.datasets.iter_records("pw@1"))
    with pytest.raises(ValidationError, match=rf"record {record_id}: gold answers: .*'better'"):
        ws.projects.gold.add("pw", record_id, {"better": "medium"})
    ws.projects.gold.add("pw", record_id, {"better": "large"})
    with ws.engine.connect() as conn:
        gold = conn.execute(sa.text("SELECT gold_answers FROM tasks WHERE kind = 'gold'")).scalar()
    stored = gold if isinstance(gold, dict) else json.loads(gold)
    assert stored["better"]["choice"] == "B"


def test_a_gold_answer_resent_after_a_rejection_is_the_live_answer(ws, tmp_path: Path) -> None:
    """A missed gold answer goes to review; rejected, it comes back to its annotator, and the
    corrected answer replaces the copied one on the live item: the release uses it."""
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", [{"text": "doc 1"}])], source="web", dataset="r")
    ws.workforce.add_user("ann", role="annotator")
    ws.workforce.add_user("rev", role="reviewer")
    ws.projects.create("rj", version="r@1", schema=SCHEMA, gold_share=0.99, members=["ann", "rev"])
    [[(record_id, _)]] = list(ws.datasets.iter_records("r@1"))
    ws.projects.gold.add("rj", record_id, {"parity": "odd"})
    ws.queue.reseed(1)
    view = ws.queue.next_task("rj", "ann")
    first = ws.queue.submit(view.assignment_id, "ann", {"parity": "even"})  # misses the gold
    assert ws.queue.next_task("rj", "ann") is None  # the live item counted that answer
    ws.reviews.decide(first.annotation_id, "rev", "reject", reason="doc 1 is odd")
    again = ws.queue.next_task("rj", "ann")
    assert again is not None and again.assignment_id == view.assignment_id
    ws.queue.submit(again.assignment_id, "ann", {"parity": "odd"})
    assert ws.queue.next_task("rj", "ann") is None
    with ws.engine.connect() as conn:  # the live item's latest answer is the corrected one
        live = conn.execute(
            sa.text(
                "SELECT n.answers FROM annotations n JOIN tasks t ON t.id = n.task_id "
                "WHERE t.kind = 'live' ORDER BY n.revision DESC"
            )
        ).scalars()
        answers = [a if isinstance(a, dict) else json.loads(a) for a in live]
    assert answers[0] == {"parity": "odd"}
    result = ws.releases.release("rj", aggregate="majority", dataset="rj-labels")
    out = tmp_path / "rj.jsonl"
    ws.export(result.version.ref, format="jsonl", out=out)
    [released] = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert released["curata_labels"]["parity"] == "odd"


def test_gold_and_calibration_copies_keep_the_record_language(ws, tmp_path: Path) -> None:
    """A French record made gold or calibration goes, like its live item, only to annotators
    who read French."""
    rows = [{"text": "Bonjour", "lang": "fr"}, {"text": "Hello", "lang": "en"}]
    ws.ingest([write_jsonl(tmp_path / "m.jsonl", rows)], source="web", dataset="m")
    ws.workforce.add_user("anglo", languages=["en"])
    schema = {"questions": [{"type": "text", "name": "note", "required": True}]}
    ws.projects.create("m", version="m@1", schema=schema, gold_share=0.99, members=["anglo"],
                       language_field="lang")  # fmt: skip
    ids = {r.text: i for b in ws.datasets.iter_records("m@1") for i, r in b}
    ws.projects.gold.add("m", ids["Bonjour"], {"note": "greeting"})
    ws.projects.gold.add("m", ids["Bonjour"], {"note": "greeting"}, kind="calibration")
    ws.queue.reseed(3)
    texts = []
    while (view := ws.queue.next_task("m", "anglo")) is not None:
        texts.append(view.record["text"])
        ws.queue.submit(view.assignment_id, "anglo", {"note": "ok"})
    assert texts == ["Hello"]


def test_gold_checks_do_not_shrink(ws, gold_project) -> None:
    """Whoever meets a gold record is scored on it once, in whichever form they met it first:
    as the gold item, or as the record's live item (the queue then never serves them the gold
    copy). Before, an annotator who labelled a gold record live was never checked on it, so
    gold checks thinned out as a project's live items were labelled. Records met only as
    calibration are calibration's to score."""

    ids = gold_project
    gold = {ids[f"doc {i}"] for i in range(3)}
    wrong_on = ids["doc 0"]  # everyone answers doc 0 wrongly, wherever they meet it
    texts = {v: k for k, v in ids.items()}

    def answer(text: str) -> str:
        right = _truth(text)
        return ("odd" if right == "even" else "even") if ids[text] == wrong_on else right

    _run(ws, answer)
    with ws.engine.connect() as conn:
        met = conn.execute(
            sa.text(
                "SELECT u.name, t.record_id, t.kind FROM assignments a "
                "JOIN tasks t ON t.id = a.task_id JOIN users u ON u.id = a.user_id "
                "WHERE a.copied_from IS NULL"
            )
        ).all()
    scored: dict[str, set[str]] = {p: set() for p in PEOPLE}
    for user, record, kind in met:
        if record in gold and kind in ("gold", "live"):
            scored[user].add(record)
    live_first = [(u, r) for u, r, k in met if r in gold and k == "live"]
    assert live_first, "no gold record was met live first: the case is not exercised"
    groups = {g["group"]: g for g in ws.quality.report("hg")["groups"]}
    for user in PEOPLE:
        assert groups[user]["gold_answered"] == len(scored[user]), (user, sorted(
            texts[r] for r in scored[user]))  # fmt: skip
        g = groups[user]
        right = round((g["gold_accuracy"] or 0) * g["gold_answered"])
        assert right == len(scored[user] - {wrong_on})
    gate = ws.quality.gate_metrics("hg", set())  # one number (#12)
    assert gate["gold_answers"] == sum(len(s) for s in scored.values())
    assert gate["gold_right"] == sum(len(s - {wrong_on}) for s in scored.values())
