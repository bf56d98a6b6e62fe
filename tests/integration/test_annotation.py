"""Annotation engine (#3): workforce, projects, guidelines and queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import write_jsonl

from curata.annotation.gold import ItemError
from curata.core.errors import (
    AlreadyExistsError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from curata.store.tables import utcnow

SCHEMA = {
    "questions": [
        {"type": "preference", "name": "better", "strength_levels": 3},
        {"type": "refusal", "name": "refuse", "categories": ["violence", "self_harm"]},
    ]
}
GOOD = {"better": {"choice": "A", "strength": 2}, "refuse": {"should_refuse": False}}


@pytest.fixture
def project(ws, tmp_path: Path):
    rows = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "pairs.jsonl", rows)], source="web", dataset="pairs")
    for name, cohort, vendor in (
        ("ann1", "cohort-a", None),
        ("ann2", "cohort-a", None),
        ("ann3", "cohort-b", "acme"),
        ("ann4", "cohort-b", "acme"),
    ):
        ws.workforce.add_user(name, role="annotator", cohorts=[cohort], vendor=vendor)
    ws.workforce.add_user("lead", role="lead")
    ws.projects.create(
        "prefs",
        version="pairs@1",
        schema=SCHEMA,
        overlap=2,
        owner="lead",
        members=["ann1", "ann2", "ann3", "ann4"],
    )
    return ws


def test_users_vendors_cohorts_and_tokens(ws) -> None:
    user = ws.workforce.add_user(
        "vera", role="annotator", vendor="acme", languages=["fr", "en"], cohorts=["c1"]
    )
    assert (user.vendor, user.languages, user.cohorts, user.clearance) == (
        "acme",
        ["en", "fr"],
        ["c1"],
        "internal",
    )
    with pytest.raises(AlreadyExistsError):
        ws.workforce.add_user("vera")
    with pytest.raises(ValidationError, match="role: 'boss' is not one of admin, lead"):
        ws.workforce.add_user("x", role="boss")
    token = ws.workforce.issue_token("vera")
    assert token.startswith("cur_") and ws.workforce.authenticate(token).name == "vera"
    assert ws.workforce.authenticate(token + "x") is None
    with ws.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash, prefix FROM api_tokens")).all()
    assert [len(h) for h, _ in stored] == [64] and token not in str(stored)
    assert ws.workforce.revoke_tokens("vera") == 1
    assert ws.workforce.authenticate(token) is None


def test_project_has_one_task_per_record(project) -> None:
    p = project.projects.get("prefs")
    assert (p.version, p.tasks, p.overlap, p.owner, p.schema_version) == (
        "pairs@1",
        6,
        2,
        "lead",
        1,
    )
    assert p.members == ["ann1", "ann2", "ann3", "ann4", "lead"]
    with pytest.raises(AlreadyExistsError):
        project.projects.create("prefs", version="pairs@1", schema=SCHEMA)
    with pytest.raises(ValidationError, match=r"schema: questions\.0\.preference\.strength_levels"):
        project.projects.create(
            "bad",
            version="pairs@1",
            schema={"questions": [{"type": "preference", "name": "b", "strength_levels": 9}]},
        )
    with pytest.raises(NotFoundError):
        project.projects.create("p2", version="pairs@9", schema=SCHEMA)


def test_guidelines_are_versioned_and_stamped_on_annotations(project) -> None:
    ws = project
    assert ws.projects.guidelines.publish("prefs", "# v1\nPrefer the factual answer.") == 1
    view = ws.queue.next_task("prefs", "ann1")
    assert view.guideline_version == 1
    second = ws.projects.guidelines.publish("prefs", "# v2\nAlso prefer brevity.", note="brevity")
    assert second == 2
    done = ws.queue.submit(view.assignment_id, "ann1", GOOD)
    assert (done.guideline_version, done.schema_version) == (2, 1)
    assert ws.projects.guidelines.get("prefs", 1)["body"].startswith("# v1")


def test_overlap_is_exact_and_no_one_sees_an_item_twice(project) -> None:
    ws = project
    seen: Counter[tuple[str, str]] = Counter()
    per_record: Counter[str] = Counter()
    for user in ("ann1", "ann2", "ann3", "ann4"):
        while (view := ws.queue.next_task("prefs", user)) is not None:
            key = view.record["prompt"]
            seen[(user, key)] += 1
            per_record[key] += 1
            ws.queue.submit(view.assignment_id, user, GOOD)
    assert max(seen.values()) == 1
    assert set(per_record.values()) == {2} and len(per_record) == 6
    assert ws.projects.get("prefs").complete == 6
    assert {user for user, _ in seen} == {"ann1", "ann2"}  # the queue drains in order
    assert ws.queue.next_task("prefs", "ann3") is None
    ws.projects.set_overlap("prefs", 3)  # raising overlap re-opens items
    reopened = ws.queue.next_task("prefs", "ann3")
    assert reopened is not None and ws.queue.next_task("prefs", "ann1") is None
    ws.projects.set_overlap("prefs", 2)  # lowering it closes them again
    assert ws.queue.next_task("prefs", "ann4") is None
    with ws.engine.connect() as conn:  # the queue's index flag agrees with the counters
        flags = conn.execute(sa.text("SELECT is_open, assigned FROM tasks")).all()
    assert all(bool(is_open) == (assigned < 2) for is_open, assigned in flags)


def test_status_reports_backlog_throughput_and_eta(project) -> None:
    ws = project
    start = utcnow() - timedelta(hours=1)
    for k, user in enumerate(("ann1", "ann2")):
        for i in range(3):  # five minutes a label: ann1 from 0 to 15 min, ann2 from 20 to 35
            at = start + timedelta(minutes=20 * k + 5 * i)
            view = ws.queue.next_task("prefs", user, now=at)
            ws.queue.submit(view.assignment_id, user, GOOD, now=at + timedelta(minutes=5))
    ws.queue.next_task("prefs", "ann3")  # one open lease
    s = ws.projects.status("prefs", window_hours=2)
    assert (s.items, s.labels_needed, s.labels_done, s.items_complete, s.leased_now) == (
        6,
        12,
        6,
        3,
        1,
    )
    # each labelled 3 in 15 minutes of labelling: 12 an hour; together 6 in 35 minutes
    assert [(a["annotator"], a["labels"], a["per_hour"]) for a in s.per_annotator] == [
        ("ann1", 3, pytest.approx(12.0)),
        ("ann2", 3, pytest.approx(12.0)),
    ]
    assert s.labels_per_hour == pytest.approx(6 / (35 / 60))
    minutes_left = (s.eta - utcnow()).total_seconds() / 60
    assert 34.9 < minutes_left <= 35.0  # 6 labels to go at 6 per 35 minutes


def test_a_held_lease_is_resumed_and_an_expired_one_reclaimed(project) -> None:
    ws = project
    first = ws.queue.next_task("prefs", "ann1")
    assert ws.queue.next_task("prefs", "ann1").assignment_id == first.assignment_id
    later = utcnow() + timedelta(hours=1)
    with pytest.raises(ConflictError, match="expired"):
        ws.queue.submit(first.assignment_id, "ann1", GOOD, now=later)
    other = ws.queue.next_task("prefs", "ann2", now=later)
    assert other.record == first.record  # the slot came back (priority, then id order)
    again = ws.queue.next_task("prefs", "ann1", now=later)
    assert again.record != first.record  # but never the same item to the same annotator


def test_submission_errors_lose_nothing(project) -> None:
    ws = project
    view = ws.queue.next_task("prefs", "ann1")
    with pytest.raises(ValidationError) as info:
        ws.queue.submit(view.assignment_id, "ann1", {"better": {"choice": "C"}})
    assert "question 'better': choice 'C' is not allowed (allowed: A, B, tie, both_bad)" in str(
        info.value
    )
    assert "question 'refuse': an answer is required" in str(info.value)
    with pytest.raises(ConflictError, match="leased to another annotator"):
        ws.queue.submit(view.assignment_id, "ann2", GOOD)
    first = ws.queue.submit(view.assignment_id, "ann1", GOOD)
    retry = ws.queue.submit(view.assignment_id, "ann1", GOOD)  # a network retry
    assert retry.annotation_id == first.annotation_id
    with pytest.raises(ConflictError, match="already submitted with other answers"):
        ws.queue.submit(view.assignment_id, "ann1", {**GOOD, "better": {"choice": "tie"}})
    with ws.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM annotations")).scalar() == 1
    with pytest.raises(NotFoundError):
        ws.queue.submit(99_999, "ann1", GOOD)


def test_outsiders_get_nothing(project) -> None:
    project.workforce.add_user("outsider")
    with pytest.raises(ForbiddenError, match="not a member of project 'prefs'"):
        project.queue.next_task("prefs", "outsider")


def test_gold_items_look_like_live_ones(project) -> None:
    ws = project
    record_id = next(ws.datasets.iter_records("pairs@1"))[0][0]
    ws.projects.gold.add("prefs", record_id, GOOD)
    with pytest.raises(ValidationError, match="gold answers: question 'better'"):
        ws.projects.gold.add("prefs", record_id, {"better": "Z", "refuse": {"should_refuse": 1}})
    with pytest.raises(AlreadyExistsError, match=f"record {record_id} is already a gold item"):
        ws.projects.gold.add("prefs", record_id, GOOD)
    with ws.engine.begin() as conn:
        conn.execute(sa.text("UPDATE projects SET gold_share = 0.99"))
    view = ws.queue.next_task("prefs", "ann1")
    live = ws.queue.next_task("prefs", "ann2")
    assert set(view.to_dict()) == set(live.to_dict())
    assert "gold" not in str(view.to_dict()) and "kind': 'gold" not in str(view.to_dict())


def test_a_batch_of_gold_is_all_or_nothing_and_names_the_item_that_failed(project) -> None:
    ws = project
    ids = [record_id for b in ws.datasets.iter_records("pairs@1") for record_id, _ in b]
    batch = [(ids[0], GOOD), (ids[1], GOOD), (ids[0], GOOD)]
    with pytest.raises(ItemError, match=rf"^item 3: record {ids[0]} is already a gold") as info:
        ws.projects.gold.add_items("prefs", batch)
    assert info.value.item == 3 and isinstance(info.value.problem, AlreadyExistsError)
    assert info.value.status_code == 409
    assert ws.projects.get("prefs").gold_tasks == 0
    with pytest.raises(ItemError) as info:
        ws.projects.gold.add_items("prefs", [(ids[1], GOOD), ("nope", GOOD)], kind="calibration")
    assert info.value.item == 2 and info.value.status_code == 404
    assert str(info.value.problem) == "record nope is not an item of project 'prefs'"
    with pytest.raises(ItemError) as info:
        ws.projects.gold.add_items("prefs", [("nope", GOOD)])  # one item: no position to name
    assert str(info.value) == str(info.value.problem) and info.value.item == 1


def test_concurrent_annotators_never_exceed_overlap(project) -> None:
    """Eight threads (two per annotator) race through the queue until it is empty."""
    ws = project
    errors: list[BaseException] = []

    def annotate(user: str) -> None:
        try:
            while (view := ws.queue.next_task("prefs", user)) is not None:
                ws.queue.submit(view.assignment_id, user, GOOD)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=annotate, args=(u,)) for u in ("ann1", "ann2", "ann3", "ann4") * 2
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with ws.engine.connect() as conn:
        per_task = conn.execute(
            sa.text(
                "SELECT t.id, count(a.id), max(t.assigned), max(t.submitted) FROM tasks t "
                "LEFT JOIN annotations a ON a.task_id = t.id GROUP BY t.id"
            )
        ).all()
        pairs = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT task_id || '-' || user_id) FROM annotations")
        ).one()
    assert all(
        n == 2 and assigned == 2 and submitted == 2 for _, n, assigned, submitted in per_task
    )
    assert pairs[0] == pairs[1] == 12


def test_restricted_records_never_reach_annotators_without_clearance(ws, tmp_path: Path) -> None:
    ws.sources.add(
        "medical",
        kind="vendor",
        license="LicenseRef-dua",
        origin="s3://m",
        sensitivity="restricted",
    )
    open_rows = [{"text": f"public note {i}"} for i in range(3)]
    secret_rows = [{"text": f"patient record {i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "a.jsonl", open_rows)], source="web", dataset="mix")
    ws.ingest(
        [write_jsonl(tmp_path / "b.jsonl", secret_rows)],
        source="medical",
        dataset="mix",
        append=True,
    )
    ws.workforce.add_user("crowd", clearance="internal")
    ws.workforce.add_user("nurse", clearance="restricted")
    schema = {"questions": [{"type": "label", "name": "ok", "labels": ["yes", "no"]}]}
    ws.projects.create(
        "notes", version="mix@2", schema=schema, overlap=2, members=["crowd", "nurse"]
    )

    def drain(user: str) -> list[str]:
        texts = []
        while (view := ws.queue.next_task("notes", user)) is not None:
            texts.append(view.record["text"])
            ws.queue.submit(view.assignment_id, user, {"ok": "yes"})
        return texts

    assert sorted(drain("crowd")) == [f"public note {i}" for i in range(3)]
    assert len(drain("nurse")) == 6


def test_questions_needing_a_language_go_only_to_speakers(ws, tmp_path: Path) -> None:
    ws.ingest(
        [write_jsonl(tmp_path / "fr.jsonl", [{"text": "Bonjour"}])], source="web", dataset="fr"
    )
    ws.workforce.add_user("anglo", languages=["en"])
    ws.workforce.add_user("franco", languages=["fr", "en"])
    schema = {
        "questions": [
            {"type": "text", "name": "translation", "languages": ["fr"], "required": True}
        ]
    }
    ws.projects.create("translate", version="fr@1", schema=schema, members=["anglo", "franco"])
    with pytest.raises(ForbiddenError, match="needs one of the languages fr, which 'anglo'"):
        ws.queue.next_task("translate", "anglo")
    assert ws.queue.next_task("translate", "franco").record["text"] == "Bonjour"


@pytest.fixture
def reviewed(ws, tmp_path: Path):
    rows = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", rows)], source="web", dataset="rev")
    for name, role in (
        ("a1", "annotator"),
        ("a2", "annotator"),
        ("rev", "reviewer"),
        ("boss", "lead"),
    ):
        ws.workforce.add_user(name, role=role)
    return ws


def _annotate(ws, project: str, user: str, answers: dict) -> int:
    view = ws.queue.next_task(project, user)
    return ws.queue.submit(view.assignment_id, user, answers).annotation_id


def test_review_accept_fix_reject_and_resubmit(reviewed) -> None:
    ws = reviewed
    ws.projects.create(
        "all",
        version="rev@1",
        schema=SCHEMA,
        overlap=1,
        members=["a1", "a2", "rev"],
        review={"mode": "all"},
    )
    first = _annotate(ws, "all", "a1", GOOD)
    item = ws.reviews.next_review("all", "rev")
    assert [a["annotation_id"] for a in item.annotations] == [first]
    assert item.annotations[0]["annotator"] == "a1" and item.record["prompt"] == "question 0"
    ws.workforce.add_user("a3", role="annotator")
    with pytest.raises(ForbiddenError, match="role 'annotator' may not do this"):
        ws.reviews.decide(first, "a3", "accept")
    with pytest.raises(ValidationError, match="a rejection needs a reason"):
        ws.reviews.decide(first, "rev", "reject")
    assert (
        ws.reviews.decide(first, "rev", "reject", reason="read the guideline on tone")["status"]
        == "rejected"
    )
    again = ws.queue.next_task("all", "a1")  # back to the same annotator, same item
    assert again.record["prompt"] == "question 0"
    second = ws.queue.submit(
        again.assignment_id, "a1", {**GOOD, "better": {"choice": "B", "strength": 1}}
    )
    assert second.annotation_id != first
    second_item = ws.reviews.next_review("all", "rev")
    assert [a["revision"] for a in second_item.annotations] == [2]
    with pytest.raises(ValidationError, match="question 'better'"):
        ws.reviews.decide(second.annotation_id, "rev", "fix", answers={"better": "Z"})
    ws.reviews.decide(second.annotation_id, "rev", "fix", answers=GOOD, reason="A is right")
    history = ws.reviews.history(item.task_id)
    assert [(h["decision"], h["by"]) for h in history] == [("reject", "rev"), ("fix", "rev")]
    assert history[1]["answers"] == GOOD
    with ws.engine.connect() as conn:
        statuses = conn.execute(
            sa.text("SELECT revision, status FROM annotations ORDER BY revision")
        ).all()
    assert [tuple(s) for s in statuses] == [(1, "rejected"), (2, "fixed")]  # nothing overwritten
    assert ws.reviews.next_review("all", "rev") is None
    own = _annotate(ws, "all", "rev", GOOD)  # reviewers may annotate too, but not review that
    assert ws.reviews.next_review("all", "rev") is None
    with pytest.raises(ForbiddenError, match="no one reviews their own annotation"):
        ws.reviews.decide(own, "rev", "accept")


def test_disagreement_and_gold_misses_route_to_review(reviewed) -> None:
    ws = reviewed
    ws.projects.create(
        "dis",
        version="rev@1",
        schema=SCHEMA,
        overlap=2,
        members=["a1", "a2"],
        review={"mode": "disagreement", "threshold": 0.9},
    )
    ws.projects.members.add("dis", ["rev"])  # reviewers review the projects they belong to
    _annotate(ws, "dis", "a1", GOOD)
    assert ws.reviews.next_review("dis", "rev") is None  # not complete yet
    _annotate(ws, "dis", "a2", {**GOOD, "better": {"choice": "tie"}})
    item = ws.reviews.next_review("dis", "rev")
    assert item is not None and item.agreement == 0.5 and len(item.annotations) == 2
    ws.projects.create("gold", version="rev@1", schema=SCHEMA, members=["a1"])
    ws.projects.members.add("gold", ["rev"])
    record_id = next(ws.datasets.iter_records("rev@1"))[0][0]
    ws.projects.gold.add("gold", record_id, GOOD)
    with ws.engine.begin() as conn:
        conn.execute(sa.text("UPDATE projects SET gold_share = 0.999 WHERE name = 'gold'"))
    _annotate(ws, "gold", "a1", {**GOOD, "refuse": {"should_refuse": True, "category": "violence"}})
    missed = ws.reviews.next_review("gold", "rev")
    assert missed is not None and missed.annotations[0]["review"] == "pending"


def test_adjudication_is_for_leads(reviewed) -> None:
    ws = reviewed
    ws.projects.create(
        "adj", version="rev@1", schema=SCHEMA, overlap=1, members=["a1"], review={"mode": "all"}
    )
    ws.projects.members.add("adj", ["rev", "boss"])
    _annotate(ws, "adj", "a1", GOOD)
    task_id = ws.reviews.next_review("adj", "rev").task_id
    with pytest.raises(ForbiddenError, match="needs one of: admin, lead"):
        ws.reviews.adjudicate(task_id, "rev", GOOD)
    ws.reviews.adjudicate(task_id, "boss", GOOD, reason="policy 4.2")
    assert ws.reviews.history(task_id)[-1]["tier"] == "adjudicate"


def test_reviewers_and_leads_act_only_on_their_own_projects(reviewed) -> None:
    """The review service asks membership and clearance itself (#12), so a caller of the
    Python API cannot do what the API and CLI refuse: a reviewer or lead of another project
    finds nothing there, in the same words as for something missing."""
    ws = reviewed
    ws.projects.create(
        "mine", version="rev@1", schema=SCHEMA, overlap=1, members=["a1"], review={"mode": "all"}
    )
    annotation = _annotate(ws, "mine", "a1", GOOD)
    ws.workforce.add_user("other-rev", role="reviewer")
    ws.workforce.add_user("other-lead", role="lead")
    ws.projects.create("theirs", version="rev@1", schema=SCHEMA, members=["a2"])
    ws.projects.members.add("theirs", ["other-rev", "other-lead"])
    with pytest.raises(NotFoundError, match="unknown project 'mine'"):
        ws.reviews.next_review("mine", "other-rev")
    with pytest.raises(NotFoundError, match=f"no annotation {annotation}$"):
        ws.reviews.decide(annotation, "other-rev", "reject", reason="not yours")
    with ws.engine.connect() as conn:
        task_id = conn.execute(
            sa.text("SELECT task_id FROM annotations WHERE id = :a"), {"a": annotation}
        ).scalar_one()
    with pytest.raises(NotFoundError, match=f"no task {task_id}$"):
        ws.reviews.adjudicate(task_id, "other-lead", GOOD)
    assert ws.reviews.history(task_id) == []  # nothing landed in the item's history
    ws.projects.members.add("mine", ["other-rev"])  # once a member, the same calls work
    item = ws.reviews.next_review("mine", "other-rev")
    assert item is not None and item.task_id == task_id
    assert ws.reviews.decide(annotation, "other-rev", "accept")["status"] == "accepted"


def test_item_agreement_is_the_modal_share() -> None:
    from curata.annotation.review import item_agreement

    assert item_agreement([{"q": "a"}, {"q": "a"}, {"q": "b"}]) == pytest.approx(2 / 3)
    assert item_agreement([{"q": "a", "r": 1}, {"q": "a", "r": 2}]) == 0.5
    assert item_agreement([{"q": "a"}]) == 1.0


def test_release_aggregates_labels_with_lineage_to_people_and_guidelines(ws, tmp_path) -> None:
    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(3)]
    ws.ingest([write_jsonl(tmp_path / "rel.jsonl", rows)], source="web", dataset="rel")
    ws.workforce.add_user("in1", cohorts=["internal-wave"])
    ws.workforce.add_user("v1", vendor="acme", cohorts=["acme-wave"])
    ws.workforce.add_user("v2", vendor="acme", cohorts=["acme-wave"])
    ws.workforce.add_user("boss", role="lead")
    ws.projects.create(
        "rel", version="rel@1", schema=SCHEMA, overlap=3, members=["in1", "v1", "v2", "boss"]
    )
    ws.projects.guidelines.publish("rel", "v1 text")
    no = {"should_refuse": False}
    plan = {  # record -> per-annotator preference choice
        "q0": {"in1": "A", "v1": "A", "v2": "B"},  # majority A, confidence 2/3
        "q1": {"in1": "A", "v1": "B", "v2": "tie"},  # three-way tie
        "q2": {"in1": "B", "v1": "B", "v2": "B"},
    }
    for user in ("in1", "v1", "v2"):
        if user == "v2":
            ws.projects.guidelines.publish("rel", "v2 text")
        while (view := ws.queue.next_task("rel", user)) is not None:
            choice = plan[view.record["prompt"]][user]
            better = {"choice": choice, "strength": 1} if choice in "AB" else {"choice": choice}
            ws.queue.submit(view.assignment_id, user, {"better": better, "refuse": no})
    with ws.engine.connect() as conn:
        task_id = conn.execute(
            sa.text("SELECT t.id FROM tasks t WHERE t.record_id = :r"),
            {
                "r": next(
                    i for b in ws.datasets.iter_records("rel@1") for i, r in b if r.prompt == "q1"
                )
            },
        ).scalar()
    result = ws.releases.release("rel", aggregate="majority")
    assert (result.labelled, result.unlabelled, result.tied) == (3, 0, 1)
    ws.reviews.adjudicate(task_id, "boss", {"better": {"choice": "tie"}, "refuse": no})
    result = ws.releases.release("rel")
    assert result.tied == 0 and result.version.ref == "rel-labels@2"
    assert result.version.parents == ["rel@1", "rel-labels@1"]
    handle = ws.datasets.handle("rel-labels@2")
    table = ws.store.manifest_table(handle.storage_key, handle.manifest_version)
    prompts = {i: r.prompt for b in ws.datasets.iter_records("rel@1") for i, r in b}
    got = {
        prompts[i]: (json.loads(lab), json.loads(conf))
        for i, lab, conf in zip(
            table.column("record_id").to_pylist(),
            table.column("labels").to_pylist(),
            table.column("confidence").to_pylist(),
            strict=True,
        )
    }
    assert got["q0"][0]["better"] == {"choice": "A", "strength": 1}
    assert got["q0"][1]["better"] == pytest.approx(2 / 3)
    assert got["q1"][0]["better"] == {"choice": "tie"} and got["q1"][1]["better"] == 1.0
    assert got["q2"][1]["better"] == 1.0
    graph = ws.lineage.upstream("rel-labels@2")
    names = {n["id"] for n in graph.nodes.values()}
    assert {
        "cohort:internal-wave",
        "cohort:acme-wave",
        "vendor:acme",
        "guideline:rel@v1",
        "guideline:rel@v2",
        "project:rel",
        "version:rel@1",
        "source:web",
    } <= names
    out = tmp_path / "labels.jsonl"
    ws.export("rel-labels@2", format="jsonl", out=out)
    exported = {r["prompt"]: r for r in map(json.loads, out.read_text("utf-8").splitlines())}
    assert exported["q0"]["curata_labels"]["better"] == {"choice": "A", "strength": 1}
    assert exported["q0"]["curata_confidence"]["better"] == pytest.approx(2 / 3)
    assert exported["q0"]["curata_annotators"] == 3 and exported["q0"]["response"] == "a0"
    with pytest.raises(ValidationError, match="'mode' is not one of majority, dawid-skene"):
        ws.releases.release("rel", aggregate="mode")


def test_dawid_skene_and_gold_weighted_releases_outvote_spammers(ws, tmp_path) -> None:
    """Three careful annotators split 2-1 on some items; two spammers always say "spam". A
    majority vote follows the spammers there; Dawid-Skene and gold-weighted voting do not."""
    rows = [{"text": f"item {i}"} for i in range(24)]
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", rows)], source="web", dataset="spam")
    people = ("c1", "c2", "c3", "s1", "s2")
    for name in people:
        ws.workforce.add_user(name)
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["ok", "bad", "spam"]}]}
    ws.projects.create(
        "vote", version="spam@1", schema=schema, overlap=5, members=list(people), gold_share=0.9
    )
    ids = {r.text: i for b in ws.datasets.iter_records("spam@1") for i, r in b}
    ws.projects.gold.add_items(
        "vote", [(ids[f"item {i}"], {"topic": "ok" if i % 2 else "bad"}) for i in range(4)]
    )

    def truth(text: str) -> str:
        return "ok" if int(text.split()[1]) % 2 else "bad"

    for name in people:
        while (view := ws.queue.next_task("vote", name)) is not None:
            text, n = view.record["text"], int(view.record["text"].split()[1])
            if name.startswith("s"):
                said = "spam"
            elif name == "c3" or (name == "c2" and n % 3 == 0):  # c2 slips on every third item
                said = "spam" if name == "c2" else truth(text)
            else:
                said = truth(text)
            ws.queue.submit(view.assignment_id, name, {"topic": said})

    def accuracy(method: str) -> float:
        result = ws.releases.release("vote", aggregate=method, dataset=f"vote-{method}")
        out = tmp_path / f"{method}.jsonl"
        ws.export(result.version.ref, format="jsonl", out=out)
        got = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        for r in got:  # soft labels: a distribution whose mode is the label, unless tied
            soft = r["curata_soft_labels"]["topic"]
            assert sum(soft.values()) == pytest.approx(1.0)
            assert max(soft.values()) == pytest.approx(r["curata_confidence"]["topic"])
            if r["curata_labels"]["topic"] is not None:
                assert max(soft, key=soft.get) == r["curata_labels"]["topic"]
        if method == "majority":  # vote shares: five votes per item
            assert all(
                round(p * 5, 9).is_integer()
                for r in got
                for p in r["curata_soft_labels"]["topic"].values()
            )
        return sum(r["curata_labels"]["topic"] == truth(r["text"]) for r in got) / len(got)

    majority, ds, gold = accuracy("majority"), accuracy("dawid-skene"), accuracy("gold-weighted")
    assert majority < 0.8  # the spammers win where c2 slipped
    assert ds == 1.0 and gold == 1.0


def test_calibration_gates_live_items(ws, tmp_path) -> None:
    rows = [{"prompt": f"c{i}", "response": f"r{i}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "cal.jsonl", rows)], source="web", dataset="cal")
    ws.workforce.add_user("good")
    ws.workforce.add_user("bad")
    ws.projects.create(
        "cal",
        version="cal@1",
        schema=SCHEMA,
        overlap=2,
        members=["good", "bad"],
        calibration={"size": 2, "threshold": 1.0, "retraining": "https://wiki/prefs-training"},
    )
    ids = {r.prompt: i for b in ws.datasets.iter_records("cal@1") for i, r in b}
    for prompt in ("c0", "c1"):
        ws.projects.gold.add("cal", ids[prompt], GOOD, kind="calibration")
    wrong = {**GOOD, "better": {"choice": "tie"}}

    def serve(user: str, answers: dict) -> str:
        view = ws.queue.next_task("cal", user)
        ws.queue.submit(view.assignment_id, user, answers)
        return view.record["prompt"]

    # Calibration first (same shape as live), then live items once passed.
    assert sorted([serve("good", GOOD), serve("good", GOOD)]) == ["c0", "c1"]
    # then a live item, never c0 or c1 again: the calibration answers count for those (#12)
    assert serve("good", GOOD) == "c2"
    assert sorted([serve("bad", GOOD), serve("bad", wrong)]) == ["c0", "c1"]
    with pytest.raises(
        ForbiddenError,
        # Wilson 95% for 1 of 2: [0.095, 0.905] (Newcombe 1998, method 3)
        match=r"calibration not passed \(1 of 2 correct, 50%, 95% Wilson interval 9%-91%; "
        r"100% needed\)",
    ):
        ws.queue.next_task("cal", "bad")
    with pytest.raises(ForbiddenError, match="retraining: https://wiki/prefs-training"):
        ws.queue.next_task("cal", "bad")
    assert ws.projects.get("cal").tasks == 6  # calibration items are extra, not live


def _calibration_project_of(
    ws, tmp_path: Path, size: int, policy: dict, user: str = "ann"
) -> None:
    """Project "cal" over size + 1 pairs, ``size`` of them calibration items answered GOOD."""
    rows = [{"prompt": f"c{i}", "response": f"r{i}"} for i in range(size + 1)]
    ws.ingest([write_jsonl(tmp_path / "cal.jsonl", rows)], source="web", dataset="cal")
    ws.workforce.add_user(user)
    ws.projects.create("cal", version="cal@1", schema=SCHEMA, members=[user],
                       calibration={"size": size, **policy})  # fmt: skip
    ids = {r.prompt: i for b in ws.datasets.iter_records("cal@1") for i, r in b}
    ws.projects.gold.add_items(
        "cal", [(ids[f"c{i}"], GOOD) for i in range(size)], kind="calibration"
    )


@pytest.mark.parametrize(
    ("rule", "size", "correct", "opens"),
    [("point", 2, 1, False), ("upper", 2, 1, True), ("point", 16, 15, True),
     ("lower", 16, 15, False), ("lower", 16, 16, True)],
)  # fmt: skip
def test_calibration_rules_judge_the_wilson_interval(
    ws, tmp_path, rule, size, correct, opens
) -> None:
    """Threshold 0.8. 1 of 2 has the interval [0.09, 0.91]: 'point' fails it, 'upper' passes it
    (not clearly below). 15 of 16 is 0.94 with [0.72, 0.99]: 'point' passes it, 'lower' fails it
    (not clearly above); 16 of 16 has the lower bound 0.806 and passes 'lower'."""
    _calibration_project_of(ws, tmp_path, size, {"threshold": 0.8, "rule": rule})
    wrong = {**GOOD, "better": {"choice": "tie"}}
    for i in range(size):
        view = ws.queue.next_task("cal", "ann")
        ws.queue.submit(view.assignment_id, "ann", GOOD if i < correct else wrong)
    if opens:
        assert ws.queue.next_task("cal", "ann") is not None
    else:
        with pytest.raises(ForbiddenError, match="calibration not passed"):
            ws.queue.next_task("cal", "ann")


def test_a_lower_rule_that_nobody_could_pass_is_refused(ws, tmp_path) -> None:
    ws.ingest([write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "response": "r"}])],
              source="web", dataset="lw")  # fmt: skip
    with pytest.raises(
        ValidationError, match=r"even 10 of 10 correct cannot pass 80% .*use at least 16 items"
    ):
        ws.projects.create("lw", version="lw@1", schema=SCHEMA,
                           calibration={"size": 10, "threshold": 0.8, "rule": "lower"})  # fmt: skip


def test_a_skipped_gold_question_is_not_right(ws, tmp_path) -> None:
    schema = {"questions": [
        {"type": "label", "name": "a", "labels": ["x", "y"]},
        {"type": "label", "name": "b", "labels": ["x", "y"], "required": False},
    ]}  # fmt: skip
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", [{"text": "one"}, {"text": "two"}])],
              source="web", dataset="sk")  # fmt: skip
    ws.workforce.add_user("ann")
    ws.projects.create("sk", version="sk@1", schema=schema, members=["ann"],
                       calibration={"size": 1, "threshold": 1.0})  # fmt: skip
    first = next(ws.datasets.iter_records("sk@1"))[0][0]
    ws.projects.gold.add("sk", first, {"a": "x", "b": "y"}, kind="calibration")
    view = ws.queue.next_task("sk", "ann")
    ws.queue.submit(view.assignment_id, "ann", {"a": "x"})  # b left blank
    with pytest.raises(ForbiddenError, match=r"calibration not passed \(0 of 1 correct"):
        ws.queue.next_task("sk", "ann")


def test_calibration_rule_must_be_known(ws, tmp_path) -> None:
    ws.ingest([write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "response": "r"}])],
              source="web", dataset="cr")  # fmt: skip
    with pytest.raises(ValidationError, match="calibration rule: 'mean' is not one of"):
        ws.projects.create("cr", version="cr@1", schema=SCHEMA, calibration={"rule": "mean"})


def test_a_lead_can_let_a_failed_annotator_recalibrate(ws, tmp_path) -> None:
    policy = {"threshold": 1.0, "retraining": "the refusal chapter"}
    _calibration_project_of(ws, tmp_path, 2, policy, user="bad")
    wrong = {**GOOD, "better": {"choice": "tie"}}
    for _ in range(2):
        view = ws.queue.next_task("cal", "bad")
        ws.queue.submit(view.assignment_id, "bad", wrong)
    with pytest.raises(ForbiddenError, match=r"calibration not passed \(0 of 2 correct"):
        ws.queue.next_task("cal", "bad")
    with pytest.raises(NotFoundError, match="'nobody'"):
        ws.projects.members.reset_calibration("cal", "nobody")
    assert ws.projects.members.reset_calibration("cal", "bad", reason="retrained 2026-11-25") == 2
    # the same two calibration items come back (same shape as live), and passing opens live
    served = []
    for _ in range(2):
        view = ws.queue.next_task("cal", "bad")
        served.append(view.record["prompt"])
        ws.queue.submit(view.assignment_id, "bad", GOOD)
    assert sorted(served) == ["c0", "c1"]
    live = ws.queue.next_task("cal", "bad")
    assert live is not None and live.record["prompt"] in {"c0", "c1", "c2"}
    with ws.engine.connect() as conn:
        history = conn.execute(
            sa.text(
                "SELECT a.status, count(*) FROM annotations a JOIN tasks t ON t.id = a.task_id "
                "WHERE t.kind = 'calibration' GROUP BY a.status ORDER BY a.status"
            )
        ).all()
    assert [tuple(r) for r in history] == [("submitted", 2), ("superseded", 2)]  # nothing lost
    [event] = ws.audit.list(action="project.recalibrate")
    assert event.details == {"user": "bad", "superseded": 2, "reason": "retrained 2026-11-25"}


def test_a_member_sent_back_to_calibration_owes_it_after_being_removed_and_added(
    ws, tmp_path
) -> None:
    _calibration_project_of(ws, tmp_path, 2, {"threshold": 1.0})
    for _ in range(3):  # two calibration items passed, then a live one: passing is remembered
        view = ws.queue.next_task("cal", "ann")
        ws.queue.submit(view.assignment_id, "ann", GOOD)
    ws.projects.members.reset_calibration("cal", "ann", reason="retrain")
    ws.projects.members.remove("cal", "ann")
    ws.projects.members.add("cal", ["ann"])  # back with the round they left in, not round 0
    wrong = {**GOOD, "better": {"choice": "tie"}}
    served = []
    for _ in range(2):
        view = ws.queue.next_task("cal", "ann")
        assert view is not None, "calibration skipped after remove and add"
        served.append(view.record["prompt"])
        ws.queue.submit(view.assignment_id, "ann", wrong)
    assert sorted(served) == ["c0", "c1"]
    with pytest.raises(ForbiddenError, match=r"calibration not passed \(0 of 2 correct"):
        ws.queue.next_task("cal", "ann")


def test_items_in_a_language_go_only_to_annotators_who_read_it(ws, tmp_path: Path) -> None:
    rows = [
        {"text": "Bonjour", "lang": "FR"},
        {"text": "Hello", "lang": "en"},
        {"text": "Hola", "lang": "es"},
        {"text": "no language given"},
    ]
    data = write_jsonl(tmp_path / "multi.jsonl", rows)
    ws.ingest([data], source="web", dataset="multi")
    ws.workforce.add_user("anglo", languages=["en"])
    ws.workforce.add_user("franco", languages=["fr", "en"])
    schema = {"questions": [{"type": "text", "name": "note", "required": True}]}
    ws.projects.create(
        "multi", version="multi@1", schema=schema, overlap=2, members=["anglo", "franco"],
        language_field="lang",
    )  # fmt: skip

    def drain(user: str) -> list[str]:
        texts = []
        while (view := ws.queue.next_task("multi", user)) is not None:
            texts.append(view.record["text"])
            ws.queue.submit(view.assignment_id, user, {"note": "ok"})
        return sorted(texts)

    assert drain("anglo") == ["Hello", "no language given"]
    assert drain("franco") == ["Bonjour", "Hello", "no language given"]  # "FR" matches "fr"
    assert ws.projects.get("multi").complete == 2  # nobody reads Spanish: Hola waits


def test_bad_language_field_values_are_named(ws, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "odd.jsonl", [{"text": "x", "lang": 7}])
    ws.ingest([data], source="web", dataset="odd")
    schema = {"questions": [{"type": "text", "name": "note"}]}
    with pytest.raises(ValidationError, match=r"language field 'lang': record \w+ has int 7"):
        ws.projects.create("odd", version="odd@1", schema=schema, language_field="lang")
    with pytest.raises(NotFoundError):
        ws.projects.get("odd")  # nothing half-made


def test_a_new_guideline_can_send_items_back(project) -> None:
    ws = project
    ws.projects.guidelines.publish("prefs", "v1")
    refuse = {"should_refuse": True, "category": "violence"}
    for user, answers in (("ann1", GOOD), ("ann2", {**GOOD, "refuse": refuse})):
        for _ in range(2):
            view = ws.queue.next_task("prefs", user)
            ws.queue.submit(view.assignment_id, user, answers)
    assert ws.projects.get("prefs").annotations == 4
    with pytest.raises(ValidationError, match="name the labels that changed"):
        ws.projects.guidelines.publish("prefs", "v2", reannotate="changed-labels")
    ws.projects.guidelines.publish("prefs", "v2", reannotate="changed-labels", labels=["violence"])
    assert ws.projects.get("prefs").annotations == 2  # ann2's two labels went back
    again = ws.queue.next_task("prefs", "ann2")  # the same annotator may redo them
    redone = ws.queue.submit(again.assignment_id, "ann2", GOOD)
    assert redone.guideline_version == 2
    with ws.engine.connect() as conn:
        statuses = sorted(
            tuple(r)
            for r in conn.execute(sa.text("SELECT status, revision FROM annotations")).all()
        )
    assert statuses == [
        ("submitted", 1),
        ("submitted", 1),
        ("submitted", 2),
        ("superseded", 1),
        ("superseded", 1),
    ]
    ws.projects.guidelines.publish("prefs", "v3", reannotate="all")
    assert ws.projects.get("prefs").annotations == 0


def test_a_failing_gate_blocks_release_until_the_owner_overrides(ws, tmp_path) -> None:
    rows = [{"text": f"item {i}"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="gated")
    for name in ("x1", "x2"):
        ws.workforce.add_user(name)
    ws.workforce.add_user("boss", role="lead")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
    ws.projects.create(
        "gated", version="gated@1", schema=schema, overlap=2, owner="boss", members=["x1", "x2"]
    )
    with pytest.raises(ValidationError, match=r"gates.alpha.colour: no such question"):
        ws.projects.set_gates("gated", {"alpha": {"colour": 0.5}})
    with pytest.raises(ValidationError, match=r"gates.gold_accuracy: must be in \[0, 1\]"):
        ws.projects.set_gates("gated", {"gold_accuracy": 2})
    ws.projects.set_gates("gated", {"alpha": {"topic": 0.67}, "min_annotations": 2})
    for name in ("x1", "x2"):
        while (view := ws.queue.next_task("gated", name)) is not None:
            n = int(view.record["text"].split()[1])
            said = "a" if (name == "x1" or n % 2) else "b"  # they disagree on half the items
            ws.queue.submit(view.assignment_id, name, {"topic": said})
    with pytest.raises(ValidationError, match="blocked by 1 quality gate") as blocked:
        ws.releases.release("gated")
    message = str(blocked.value)
    assert "alpha[topic] (nominal) >= 0.67: measured" in message and "FAILED, short by" in message
    assert "only its owner (boss) can override" in message
    with pytest.raises(NotFoundError):
        ws.datasets.get("gated-labels")  # nothing was released
    with pytest.raises(ForbiddenError, match=r"accountable owner \(boss\).*not 'x1'"):
        ws.releases.release("gated", override="ship it", by="x1")
    with pytest.raises(ValidationError, match="give a reason"):
        ws.releases.release("gated", override="  ", by="boss")
    released = ws.releases.release("gated", override="pilot batch, reviewed by hand", by="boss")
    assert released.version.ref == "gated-labels@1"
    assert [g.gate for g in released.gates if not g.passed] == ["alpha[topic]"]
    [event] = ws.audit.list(action="release.gate_override")
    assert event.actor == "boss" and event.details["reason"] == "pilot batch, reviewed by hand"
    assert event.details["failed"][0]["gate"] == "alpha[topic]"
