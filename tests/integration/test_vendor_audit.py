"""`curata quality audit`: a stratified sample of a vendor's delivered annotations goes to
internal reviewers only; the measured accuracy (Wilson interval) is set against the vendor's
claim, with a verdict; every audit is in the audit log."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.conftest import log_in, write_jsonl

from curata.core.errors import ForbiddenError, NotFoundError, ValidationError
from curata.quality.vendor_audit import allocate
from curata.stats.proportions import wilson_from_rate


@pytest.fixture
def delivered(ws, tmp_path: Path):
    """Vendor acme's two annotators label 30 items each; v1 is right on every item, v2 says
    "bad" on every item whose number is a multiple of 3 (10 of 30 wrong). An internal reviewer
    and a vendor-side reviewer exist."""
    rows = [{"text": f"item {i}"} for i in range(30)]
    ws.ingest([write_jsonl(tmp_path / "a.jsonl", rows)], source="web", dataset="va")
    for name in ("v1", "v2"):
        ws.workforce.add_user(name, vendor="acme")
    ws.workforce.add_user("qa", role="reviewer")
    ws.workforce.add_user("acme-qa", role="reviewer", vendor="acme")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["ok", "bad"]}]}
    ws.projects.create("va", version="va@1", schema=schema, overlap=2, members=["v1", "v2"])
    ws.projects.members.add("va", ["qa", "acme-qa"])  # the reviewers, on both sides
    for name in ("v1", "v2"):
        while (view := ws.queue.next_task("va", name)) is not None:
            n = int(view.record["text"].split()[1])
            said = "bad" if name == "v2" and n % 3 == 0 else "ok"
            ws.queue.submit(view.assignment_id, name, {"topic": said})
    return ws


def _review_all(ws, reviewer: str = "qa") -> int:
    """The internal reviewer accepts "ok" and rejects "bad" (the truth is "ok" everywhere)."""
    done = 0
    while (item := ws.reviews.next_review("va", reviewer)) is not None:
        for a in item.annotations:
            if a["review"] != "pending":
                continue
            if a["answers"]["topic"] == "ok":
                ws.reviews.decide(a["annotation_id"], reviewer, "accept")
            else:
                ws.reviews.decide(a["annotation_id"], reviewer, "reject", reason="it is ok")
            done += 1
    return done


def test_allocation_is_proportional_in_expectation() -> None:
    rng = random.Random(0)
    # whole quotas are given exactly (Hamilton's 10 seats over 6/3/1 thousand votes)
    assert allocate({"a": 6, "b": 3, "c": 1}, 10, rng) == {"a": 6, "b": 3, "c": 1}
    # five equal strata, three draws: quota 0.6 each; no stratum is left out by its name
    runs = [allocate({k: 20 for k in "abcde"}, 3, random.Random(seed)) for seed in range(2000)]
    assert all(sum(r.values()) == 3 and set(r.values()) <= {0, 1} for r in runs)
    for k in "abcde":
        share = sum(r[k] for r in runs) / len(runs)
        assert share == pytest.approx(0.6, abs=0.05), k
    # 5 of 10 over 6/3/1: quotas 3.0 / 1.5 / 0.5, each extra seat with probability 0.5
    runs = [allocate({"a": 6, "b": 3, "c": 1}, 5, random.Random(s)) for s in range(2000)]
    assert all(r["a"] == 3 and r["b"] in (1, 2) and r["c"] in (0, 1) for r in runs)
    assert sum(r["c"] for r in runs) / len(runs) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValidationError, match="between 1 and 10"):
        allocate({"a": 6, "b": 3, "c": 1}, 11, rng)


def test_an_audit_measures_the_vendor_against_its_claim(delivered) -> None:
    ws = delivered
    started = ws.vendor_audits.start("acme", "va", 20, claimed=0.95, seed=3)
    assert started["population"] == 60 and started["size"] == 20
    assert started["verdict"] == "not started" and started["reviewed"] == 0
    # strata: annotator x label, v1/ok 30, v2/ok 20, v2/bad 10 of 60: quotas 10, 6.67, 3.33
    sampled = {k: s["sampled"] for k, s in started["strata"].items()}
    assert sampled['v1 / topic="ok"'] == 10 and sum(sampled.values()) == 20
    assert sampled['v2 / topic="ok"'] in (6, 7) and sampled['v2 / topic="bad"'] in (3, 4)

    # the vendor's own reviewer never sees the audit sample, and may not decide on it
    assert ws.reviews.next_review("va", "acme-qa") is None
    report_id = ws.vendor_audits.report("acme", "va")["audit"]
    with pytest.raises(ValidationError, match="in progress \\(0 of 20 reviewed\\)"):
        ws.vendor_audits.start("acme", "va", 5)
    item = ws.reviews.next_review("va", "qa")
    assert item is not None
    pending = next(a for a in item.annotations if a["review"] == "pending")
    with pytest.raises(ForbiddenError, match="internal reviewers only"):
        ws.reviews.decide(pending["annotation_id"], "acme-qa", "accept")

    assert _review_all(ws) == 20
    report = ws.vendor_audits.report("acme", "va")
    assert report["audit"] == report_id and report["reviewed"] == 20
    bad = sampled['v2 / topic="bad"']
    assert report["decisions"] == {"accept": 20 - bad, "reject": bad}
    # the stratified estimate is the vendor's true accuracy, 50 of 60, whichever stratum drew
    # the extra seat (each stratum is all right or all wrong); the pooled share would be 17/20
    # or 16/20 depending on the seed
    assert report["accuracy"] == pytest.approx(50 / 60)
    # no within-stratum variance: the effective sample size is the 20 reviewed, and the
    # interval Wilson's for 0.833 on 20, [0.621, 0.939]: the claimed 0.95 lies above it
    low, high = wilson_from_rate(50 / 60, 20)
    assert report["low"] == pytest.approx(low) and report["high"] == pytest.approx(high)
    assert report["high"] == pytest.approx(0.939, abs=1e-3)
    assert report["verdict"] == "below claim"
    assert report["by_annotator"]["v1"]["accuracy"] == 1.0
    assert report["by_annotator"]["v2"]["accuracy"] == pytest.approx(20 / 30)  # stratified

    events = ws.audit.list(action="quality.vendor_audit")
    assert len(events) == 1 and events[0].details["size"] == 20


def test_a_claim_inside_the_interval_is_consistent(delivered) -> None:
    ws = delivered
    first = ws.vendor_audits.start("acme", "va", 20, claimed=0.85, seed=3)["audit"]
    _review_all(ws)
    assert ws.vendor_audits.report("acme", "va")["verdict"] == "consistent with claim"
    # a second audit samples only what was not audited yet
    second = ws.vendor_audits.start("acme", "va", 10, seed=4)
    assert second["population"] == 40 and second["audit"] != first


def test_audit_errors_name_what_is_wrong(delivered) -> None:
    ws = delivered
    with pytest.raises(NotFoundError, match="unknown vendor 'nobody'"):
        ws.vendor_audits.start("nobody", "va", 5)
    with pytest.raises(NotFoundError, match="unknown project 'nope'"):
        ws.vendor_audits.start("acme", "nope", 5)
    with pytest.raises(ValidationError, match="size: 61 is more than the 60"):
        ws.vendor_audits.start("acme", "va", 61)
    with pytest.raises(ValidationError, match="claimed"):
        ws.vendor_audits.start("acme", "va", 5, claimed=1.5)
    with pytest.raises(NotFoundError, match="no audit of acme on va"):
        ws.vendor_audits.report("acme", "va")
    assert ws.audit.list(action="quality.vendor_audit") == []


def test_the_audit_from_the_command_line(delivered, capsys, monkeypatch) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)
    log_in(delivered)  # quality audit needs an admin's or lead's token on PostgreSQL
    home = str(delivered.home)
    args = ["--home", home, "quality", "audit", "acme", "--project", "va"]
    assert main([*args, "--size", "12", "--claimed", "0.9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["size"] == 12
    _review_all(delivered)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "verdict:" in out and "claimed 90.0%" in out
    assert main([*args, "--claimed", "0.9"]) != 0
    assert "go with --size" in capsys.readouterr().err


def test_only_decisions_after_the_start_count_and_withdrawn_items_free_the_queue(
    delivered,
) -> None:
    """A review made before the audit began is not an audit outcome; only the first decision
    after it counts; a sampled annotation superseded by a re-annotation is withdrawn and does
    not jam the review queue."""
    ws = delivered
    started = ws.vendor_audits.start("acme", "va", 6, seed=1)
    with ws.projects.sessions() as session:
        from sqlalchemy import select

        from curata.store.tables import AnnotationRow, VendorAuditItemRow

        sampled = list(session.scalars(select(VendorAuditItemRow.annotation_id)))
        answers = dict(
            session.execute(
                select(AnnotationRow.id, AnnotationRow.answers).where(
                    AnnotationRow.id.in_(sampled)
                )
            ).all()
        )
    assert len(sampled) == 6 and started["reviewed"] == 0
    # a guideline change sends back every answer with the label "bad": those are withdrawn
    ws.projects.guidelines.publish("va", "# v2", reannotate="changed-labels", labels=["bad"])
    withdrawn = sum(a["topic"] == "bad" for a in answers.values())
    assert _review_all(ws) == 6 - withdrawn  # the queue ends: nothing superseded is served
    report = ws.vendor_audits.report("acme", "va")
    assert report["withdrawn"] == withdrawn and report["reviewed"] == 6 - withdrawn
    assert not report["verdict"].startswith("provisional")
    # a second decision on a reviewed annotation changes nothing
    first = next(iter(a for a in sampled if answers[a]["topic"] == "ok"))
    ws.reviews.decide(first, "qa", "reject", reason="second thoughts")
    again = ws.vendor_audits.report("acme", "va")
    assert again["correct"] == report["correct"] and again["reviewed"] == report["reviewed"]


def test_a_review_before_the_audit_is_not_an_outcome(delivered) -> None:
    ws = delivered
    with ws.projects.sessions() as session:
        from sqlalchemy import select

        from curata.store.tables import AnnotationRow

        every = list(session.scalars(select(AnnotationRow.id).order_by(AnnotationRow.id)))
    for annotation_id in every:  # reviewed (and accepted) before any audit
        with ws.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(
                text("UPDATE annotations SET review = 'pending' WHERE id = :i"),
                {"i": annotation_id},
            )
        ws.reviews.decide(annotation_id, "qa", "accept")
    started = ws.vendor_audits.start("acme", "va", 5, seed=2)
    assert started["reviewed"] == 0 and started["verdict"] == "not started"


def test_the_vendors_reviewer_sees_audited_annotations_as_internal(delivered) -> None:
    """An internal annotator's answer waits for ordinary review beside audited vendor answers:
    the vendor's reviewer gets the item, with the audited answers marked internal."""
    ws = delivered
    ws.workforce.add_user("in1")
    ws.projects.members.add("va", ["in1"])
    ws.projects.set_overlap("va", 3)
    while (view := ws.queue.next_task("va", "in1")) is not None:
        ws.queue.submit(view.assignment_id, "in1", {"topic": "ok"})
    ws.vendor_audits.start("acme", "va", 60)  # everything the vendor delivered
    with ws.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text(
                "UPDATE annotations SET review = 'pending' WHERE user_id = "
                "(SELECT id FROM users WHERE name = 'in1')"
            )
        )
    item = ws.reviews.next_review("va", "acme-qa")
    assert item is not None
    states = {a["annotator"]: a["review"] for a in item.annotations}
    assert states == {"in1": "pending", "v1": "internal", "v2": "internal"}
    inside = ws.reviews.next_review("va", "qa")
    assert inside is not None
    assert {a["review"] for a in inside.annotations} == {"pending"}


def test_a_gold_answer_copied_to_its_live_item_is_not_audited_again(ws, tmp_path: Path) -> None:
    """v1 and v2 each meet record 0 as hidden gold; the queue copies their answer to record 0's
    live item. The vendor delivered 4 live answers each (records 1-4) and 1 gold answer each:
    the audit's population is the 8 live answers, not 10 (a copy repeats a gold answer, which
    gold already checks)."""
    rows = [{"text": f"item {i}"} for i in range(5)]
    ws.ingest([write_jsonl(tmp_path / "g.jsonl", rows)], source="web", dataset="vg")
    for name in ("v1", "v2"):
        ws.workforce.add_user(name, vendor="acme")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["ok", "bad"]}]}
    ws.projects.create("vg", version="vg@1", schema=schema, overlap=2, members=["v1", "v2"],
                       gold_share=0.99)  # fmt: skip
    ws.queue.reseed(7)
    ids = {r.text: i for b in ws.datasets.iter_records("vg@1") for i, r in b}
    ws.projects.gold.add_items("vg", [(ids["item 0"], {"topic": "ok"})])
    served = {"v1": [], "v2": []}
    for name in ("v1", "v2"):
        while (view := ws.queue.next_task("vg", name)) is not None:
            served[name].append(view.record["text"])
            ws.queue.submit(view.assignment_id, name, {"topic": "ok"})
    assert all(sorted(texts) == [f"item {i}" for i in range(5)] for texts in served.values())
    started = ws.vendor_audits.start("acme", "vg", 4, seed=1)
    assert started["population"] == 8
