"""Remediation briefs (#16) on SQLite and PostgreSQL: annotation briefs re-open the named items
(they are served first), sourcing briefs store the coverage gap, red-team briefs create a
campaign; closing compares pass rates with Newcombe's interval (published numbers), refuses
without significance, records the numbers when closed ineffective; bad input stores nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import write_jsonl

from curata.core.errors import NotFoundError, ValidationError
from curata.curation.coverage_service import save_report
from curata.store.tables import AssignmentRow, BriefRow, BriefTaskRow, TaskRow

FIXTURES = Path(__file__).parents[1] / "fixtures" / "redteam"
SCHEMA = {"questions": [{"type": "label", "name": "topic", "labels": ["billing", "shipping"]}]}
HOSTILE = "<script>alert('x')</script>"
SOON = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()


def _results(path: Path, category: str, passed: int, total: int) -> Path:
    rows = [
        {
            "id": f"{category}-{i}",
            "input": "q",
            "output": "a",
            "passed": i < passed,
            "category": category,
        }
        for i in range(total)
    ] + [{"id": "m-1", "input": "1+1", "output": "2", "passed": True, "category": "math"}]
    return write_jsonl(path, rows)


@pytest.fixture
def loop(ws: Any, tmp_path: Path) -> dict[str, Any]:
    """tickets@1 (6 records, lang en/de), labelled in project triage by ann (cohort wave-1, in
    house) and bob (cohort acme-wave, vendor acme), 3 each; llama:v1 trained on it, with a
    baseline evaluation whose refusal category passed 48 of 80."""
    rows = [{"text": f"ticket {i}", "lang": "de" if i % 2 else "en"} for i in range(6)]
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tickets")
    ws.workforce.add_user("ann", role="annotator", cohorts=["wave-1"])
    ws.workforce.add_user("bob", role="annotator", vendor="acme", cohorts=["acme-wave"])
    ws.workforce.add_user("cy", role="annotator")
    ws.workforce.add_user("boss", role="lead")
    ws.projects.create("triage", version="tickets@1", schema=SCHEMA, overlap=1,
                       members=["ann", "bob", "cy", "boss"])  # fmt: skip
    labelled: dict[str, list[str]] = {"ann": [], "bob": []}
    for user in ("ann", "bob", "ann", "bob", "ann", "bob"):
        view = ws.queue.next_task("triage", user)
        labelled[user].append(_record_of(ws, view.assignment_id))
        ws.queue.submit(view.assignment_id, user, {"topic": "billing"})
    ws.evaluation.register("llama", "v1", ["tickets@1"])
    base = ws.evaluation.ingest("llama:v1", _results(tmp_path / "base.jsonl", "refusal", 48, 80))
    return {"ws": ws, "baseline": base.run.id, "labelled": labelled, "tmp": tmp_path}


def _record_of(ws: Any, assignment_id: int) -> str:
    with ws._sessions() as session:
        return str(session.scalar(
            select(TaskRow.record_id).join(AssignmentRow, AssignmentRow.task_id == TaskRow.id)
            .where(AssignmentRow.id == assignment_id)))  # fmt: skip


def _follow_up(loop: dict[str, Any], passed: int, total: int) -> int:
    path = _results(loop["tmp"] / f"after-{passed}-{total}.jsonl", "refusal", passed, total)
    return int(loop["ws"].evaluation.ingest("llama:v1", path).run.id)


def _annotation_brief(loop: dict[str, Any], **over: Any) -> Any:
    args: dict[str, Any] = {
        "target": {"category": "refusal", "project": "triage",
                   "labelled_by": {"cohort": "acme-wave"}},
        "volume": 50, "reason": "refusals regressed; acme-wave's labels drifted",
        "owner": "boss", "due": SOON, "evidence": {"eval_run": loop["baseline"]},
    }  # fmt: skip
    args.update(over)
    return loop["ws"].briefs.create("annotation", **args)


def _brief_actions(ws: Any) -> list[str]:
    return [e.action for e in reversed(ws.audit.list(limit=1000)) if e.action.startswith("brief.")]


def test_an_annotation_brief_reopens_the_cohorts_items_and_the_queue_serves_them(loop) -> None:
    ws = loop["ws"]
    brief = _annotation_brief(loop)
    assert (brief.status, brief.kind, brief.project, brief.owner) == (
        "in_progress",
        "annotation",
        "triage",
        "boss",
    )
    # bob's 3 items (acme-wave) and only those: their labels superseded, their slots open again
    assert brief.work["tasks"] == 3 and brief.work["superseded"] == 3
    assert brief.progress == {"tasks": 3, "done": 0, "leased": 0, "share": 0.0}
    with ws._sessions() as session:
        records = set(session.scalars(
            select(TaskRow.record_id).join(BriefTaskRow, BriefTaskRow.task_id == TaskRow.id)
            .where(BriefTaskRow.brief_id == brief.id)))  # fmt: skip
    assert records == set(loop["labelled"]["bob"])
    assert ws.projects.get("triage").complete == 3  # ann's 3 stay complete
    # cy (who labelled nothing) is served exactly the brief's items, then nothing
    served = []
    while (view := ws.queue.next_task("triage", "cy")) is not None:
        served.append(_record_of(ws, view.assignment_id))
        ws.queue.submit(view.assignment_id, "cy", {"topic": "shipping"})
        if len(served) == 1:
            assert ws.briefs.show(brief.id).progress["done"] == 1
    assert sorted(served) == sorted(loop["labelled"]["bob"])
    assert ws.briefs.show(brief.id).progress == {"tasks": 3, "done": 3, "leased": 0,
                                                 "share": 1.0}  # fmt: skip
    assert _brief_actions(ws) == ["brief.create", "brief.materialize"]
    assert [b.id for b in ws.briefs.list(status="active")] == [brief.id]
    assert [b.id for b in ws.briefs.list(project="triage")] == [brief.id]


def test_an_annotation_brief_takes_at_most_its_volume_and_filters_by_metadata(loop) -> None:
    ws = loop["ws"]
    german = ws.briefs.create(
        "annotation", target={"project": "triage", "filter": {"lang": "de"}}, volume=10,
        reason="German tickets", owner="boss", due=SOON)  # fmt: skip
    assert german.work["tasks"] == german.work["matched"] == german.work["superseded"] == 3
    english = ws.briefs.create(
        "annotation", target={"project": "triage", "filter": {"lang": "en"}}, volume=2,
        reason="English tickets", owner="boss", due=SOON)  # fmt: skip
    assert english.work["tasks"] == 2 and english.work["matched"] == 3
    assert ws.projects.get("triage").complete == 1  # 6 labelled, 5 sent back
    with pytest.raises(ValidationError, match="records: 1 are not items of project 'triage'"):
        ws.briefs.create("annotation", target={"project": "triage", "records": ["nope"]},
                         volume=1, reason="r", owner="boss", due=SOON)  # fmt: skip


def test_closing_needs_a_significant_improvement_or_says_ineffective(loop) -> None:
    ws = loop["ws"]
    brief = _annotation_brief(loop)
    flat = _follow_up(loop, 50, 80)
    with pytest.raises(ValidationError, match=r"not closed: refusal pass rate 60\.0% \(48/80"):
        ws.briefs.close(brief.id, eval_run=flat)
    assert ws.briefs.show(brief.id).status == "in_progress"
    with pytest.raises(ValidationError, match="is the baseline"):
        ws.briefs.close(brief.id, eval_run=loop["baseline"], ineffective=True)
    closed = ws.briefs.close(brief.id, eval_run=flat, ineffective=True, by="boss")
    assert closed.status == "closed_ineffective" and closed.closed_by == "boss"
    o = closed.outcome
    assert o["baseline"] == {"run": loop["baseline"], "passed": 48, "judged": 80, "rate": 0.6}
    assert o["follow_up"] == {"run": flat, "passed": 50, "judged": 80, "rate": 0.625}
    assert o["difference"] == pytest.approx(0.025) and o["low"] < 0 < o["high"]
    assert o["significant"] is False
    assert _brief_actions(ws) == ["brief.create", "brief.materialize", "brief.close"]
    with pytest.raises(ValidationError, match="already closed_ineffective"):
        ws.briefs.close(brief.id, eval_run=flat, ineffective=True)
    assert ws.briefs.list(status="active") == []


def test_closing_effective_on_newcombes_published_example(loop) -> None:
    """Newcombe (1998), Statistics in Medicine 17:873-890, Table II example (a): 56/70 - 48/80
    = 0.2, method 10 interval 0.0524 to 0.3339."""
    ws = loop["ws"]
    brief = _annotation_brief(loop)
    better = _follow_up(loop, 56, 70)
    with pytest.raises(ValidationError, match="not closed as ineffective"):
        ws.briefs.close(brief.id, eval_run=better, ineffective=True)
    closed = ws.briefs.close(brief.id, eval_run=better)
    assert closed.status == "closed_effective"
    o = closed.outcome
    assert o["difference"] == pytest.approx(0.2)
    assert (round(o["low"], 4), round(o["high"], 4)) == (0.0524, 0.3339)
    assert o["significant"] is True


def test_a_follow_up_run_must_have_the_category_and_come_after_the_brief(loop) -> None:
    ws = loop["ws"]
    early = _follow_up(loop, 70, 80)  # ingested before the brief
    brief = _annotation_brief(loop)
    with pytest.raises(ValidationError, match="before the brief was made"):
        ws.briefs.close(brief.id, eval_run=early)
    other = ws.evaluation.ingest(
        "llama:v1",
        write_jsonl(
            loop["tmp"] / "o.jsonl",
            [{"id": "x", "input": "q", "output": "a", "passed": True, "category": "math"}],
        ),
    ).run.id
    with pytest.raises(ValidationError, match="has no category 'refusal'"):
        ws.briefs.close(brief.id, eval_run=other)
    with pytest.raises(NotFoundError, match="no evaluation run 999"):
        ws.briefs.close(brief.id, eval_run=999)
    with pytest.raises(ValidationError, match="--eval RUN_ID"):
        ws.briefs.close(brief.id)


def _stored(ws: Any) -> int:
    with ws._sessions() as session:
        return int(session.scalar(select(func.count()).select_from(BriefRow)) or 0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"owner": "nobody"}, NotFoundError, "owner: unknown user 'nobody'"),
        ({"due": "2020-01-01"}, ValidationError, "due: 2020-01-01 is in the past"),
        ({"due": "next week"}, ValidationError, "due: 'next week' is not a date"),
        ({"volume": 0}, ValidationError, "volume: must be between 1 and 1,000,000, got 0"),
        ({"volume": -5}, ValidationError, "volume: must be between 1"),
        ({"volume": 10**12}, ValidationError, "volume: must be between 1"),
        ({"volume": True}, ValidationError, "volume: True is not a whole number"),
        ({"reason": "  "}, ValidationError, "reason: say why"),
        (
            {"target": {"category": "nope", "project": "triage", "records": ["a"]}},
            ValidationError,
            "has no category 'nope' \\(its categories: math, refusal\\)",
        ),
        (
            {"target": {"project": "triage", "colour": "red", "records": ["a"]}},
            ValidationError,
            "slice: unknown field\\(s\\) colour",
        ),
        (
            {"target": {"category": "refusal", "records": ["a"]}},
            ValidationError,
            "slice: a annotation brief needs project",
        ),
        (
            {"target": {"category": "refusal", "project": "triage"}},
            ValidationError,
            "names its items",
        ),
        (
            {"target": {"category": "refusal", "project": "ghost", "records": ["a"]}},
            NotFoundError,
            "unknown project 'ghost'",
        ),
        (
            {
                "target": {
                    "category": "refusal",
                    "project": "triage",
                    "labelled_by": {"cohort": "ghosts"},
                }
            },
            NotFoundError,
            "labelled_by: unknown cohort 'ghosts'",
        ),
        ({"evidence": {"eval_run": 999}}, NotFoundError, "no evaluation run 999"),
        ({"evidence": {"eval_run": "1"}}, ValidationError, "eval_run must be a run id"),
    ],
)
def test_bad_input_is_named_and_stores_nothing(loop, change, error, message) -> None:
    ws = loop["ws"]
    with pytest.raises(error, match=message):
        _annotation_brief(loop, **change)
    assert _stored(ws) == 0 and _brief_actions(ws) == []
    with pytest.raises(ValidationError, match="type: 'fix' is not one of"):
        ws.briefs.create("fix", target={}, volume=1, reason="r", owner="boss", due=SOON)


def test_a_brief_without_a_baseline_closes_only_as_ineffective(loop) -> None:
    ws = loop["ws"]
    brief = ws.briefs.create("annotation", target={"project": "triage", "filter": {"lang": "en"}},
                             volume=5, reason="spot check", owner="boss", due=SOON,
                             materialize=False)  # fmt: skip
    assert brief.status == "open" and brief.progress is None and brief.work == {}
    assert _brief_actions(ws) == ["brief.create"]
    later = ws.briefs.materialize(brief.id)
    assert later.status == "in_progress" and later.progress["tasks"] == 3
    with pytest.raises(ValidationError, match="only an open brief"):
        ws.briefs.materialize(brief.id)
    with pytest.raises(ValidationError, match="names no baseline evaluation"):
        ws.briefs.close(brief.id, eval_run=loop["baseline"])
    closed = ws.briefs.close(brief.id, ineffective=True)
    assert closed.status == "closed_ineffective" and closed.outcome == {"evaluated": False}


def test_overdue_briefs_are_marked(loop) -> None:
    ws = loop["ws"]
    brief = _annotation_brief(loop, due="2020-06-01", today=date(2020, 1, 1))
    assert ws.briefs.show(brief.id).overdue is True
    assert ws.briefs.show(brief.id, today=date(2020, 5, 1)).overdue is False


def test_a_sourcing_brief_stores_the_coverage_gap(loop) -> None:
    ws = loop["ws"]
    target = {"category": "refusal", "dataset": "tickets@1", "field": "lang", "slice": "fr"}
    args = {"volume": 300, "reason": "no French", "owner": "boss", "due": SOON,
            "evidence": {"eval_run": loop["baseline"]}}  # fmt: skip
    with pytest.raises(NotFoundError, match=r"no saved coverage report for tickets@1.*--save"):
        ws.briefs.create("sourcing", target=target, **args)
    gaps = [
        {"field": "lang", "slice": "fr", "label": "lang=fr", "records": 340,
         "data_share": 0.0, "target_share": 0.3, "gap": 0.3},
        {"field": "lang", "slice": "es", "label": "lang=es", "records": 120,
         "data_share": 0.0, "target_share": 0.1, "gap": 0.1},
    ]  # fmt: skip
    save_report(ws.home, {"version": "tickets@1", "target": "traffic.jsonl", "data_records": 6,
                          "target_records": 10, "fields": [], "brief": gaps})  # fmt: skip
    with pytest.raises(ValidationError, match=r"shows no gap for lang=de.*lang=fr, lang=es"):
        ws.briefs.create("sourcing", target={**target, "slice": "de"}, **args)
    assert _stored(ws) == 0
    brief = ws.briefs.create("sourcing", target=target, **args)
    request = brief.work["request"]
    assert request["dataset"] == "tickets@1" and request["volume"] == 300
    assert request["gaps"] == gaps[:1] and request["target_file"] == "traffic.jsonl"
    assert brief.progress == {"latest": "tickets@1", "records_added": 0, "wanted": 300}
    write_jsonl(loop["tmp"] / "fr.jsonl", [{"text": "bonjour", "lang": "fr"}])
    ws.ingest([loop["tmp"] / "fr.jsonl"], source="web", dataset="tickets", append=True)
    assert ws.briefs.show(brief.id).progress["records_added"] == 1
    assert brief.project is None and ws.briefs.list(project="triage") == []


def test_a_redteam_brief_creates_its_campaign(loop) -> None:
    ws = loop["ws"]
    ws.redteam.import_attacks(FIXTURES / "curata_attacks.jsonl", dataset="mixed", source="web")
    brief = ws.briefs.create(
        "redteam", target={"attacks": "mixed", "target": "scripted",
                           "attack_category": "harmful_content"},
        volume=3, reason="check the patch", owner="boss", due=SOON)  # fmt: skip
    campaign = ws.campaigns.get(brief.work["campaign"])
    assert campaign.filters == {"category": "harmful_content"} and campaign.planned == 4
    assert campaign.runner["max_attempts"] == 3 and campaign.status == "created"
    assert brief.progress["status"] == "created" and brief.progress["attempts"] == 0
    ws.campaigns.run(campaign.id)
    progress = ws.briefs.show(brief.id).progress
    assert progress["attempts"] == 3 and progress["status"] == "stopped"
    before = len(ws.campaigns.list())
    with pytest.raises(ValidationError, match="no attack of mixed@1 matches"):
        ws.briefs.create("redteam", target={"attacks": "mixed", "target": "scripted",
                                            "attack_category": "nothing"},
                         volume=3, reason="r", owner="boss", due=SOON)  # fmt: skip
    with pytest.raises(NotFoundError, match="owner: unknown user"):
        ws.briefs.create("redteam", target={"attacks": "mixed", "target": "scripted"},
                         volume=3, reason="r", owner="ghost", due=SOON)  # fmt: skip
    assert len(ws.campaigns.list()) == before and _stored(ws) == 1


def test_hostile_text_is_stored_as_written(loop) -> None:
    ws = loop["ws"]
    brief = _annotation_brief(loop, reason=HOSTILE)
    assert ws.briefs.show(brief.id).reason == HOSTILE
    assert json.loads(json.dumps(brief.to_dict()))["reason"] == HOSTILE
