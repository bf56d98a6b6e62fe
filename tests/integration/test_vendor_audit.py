"""`curata quality audit`: a stratified sample of a vendor's delivered annotations goes to
internal reviewers only; the measured accuracy (Wilson interval) is set against the vendor's
claim, with a verdict; every audit is in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write_jsonl

from curata.core.errors import ForbiddenError, NotFoundError, ValidationError
from curata.quality.stats import wilson_interval
from curata.quality.vendor_audit import allocate


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


def test_allocation_is_proportional_with_largest_remainders() -> None:
    # Hamilton's method on a textbook apportionment: 10 seats over 6/3/1 (thousands of votes)
    assert allocate({"a": 6, "b": 3, "c": 1}, 10) == {"a": 6, "b": 3, "c": 1}
    # 5 of 10: quotas 3.0 / 1.5 / 0.5 -> b and c tie on 0.5, broken by name
    assert allocate({"a": 6, "b": 3, "c": 1}, 5) == {"a": 3, "b": 2, "c": 0}
    with pytest.raises(ValidationError, match="between 1 and 10"):
        allocate({"a": 6, "b": 3, "c": 1}, 11)


def test_an_audit_measures_the_vendor_against_its_claim(delivered) -> None:
    ws = delivered
    started = ws.vendor_audits.start("acme", "va", 20, claimed=0.95, seed=3)
    assert started["population"] == 60 and started["size"] == 20
    assert started["verdict"] == "not started" and started["reviewed"] == 0
    # strata: annotator x label, proportional: v1/ok 30, v2/ok 20, v2/bad 10 of 60 -> 10/7/3
    sampled = {k: s["sampled"] for k, s in started["strata"].items()}
    assert sampled == {'v1 / topic="ok"': 10, 'v2 / topic="bad"': 3, 'v2 / topic="ok"': 7}

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
    assert report["correct"] == 17 and report["decisions"] == {"accept": 17, "reject": 3}
    low, high = wilson_interval(17, 20)
    assert report["low"] == pytest.approx(low) and report["high"] == pytest.approx(high)
    # Wilson 95% for 17/20 is [0.640, 0.948] (Newcombe 1998, method 3): 0.95 lies above it
    assert report["high"] == pytest.approx(0.948, abs=5e-4)
    assert report["verdict"] == "below claim"
    assert report["by_annotator"]["v1"]["accuracy"] == 1.0
    assert report["by_annotator"]["v2"]["accuracy"] == pytest.approx(0.7)

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
