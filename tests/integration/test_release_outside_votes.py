"""A Dawid-Skene release never gives an item a label that none of its annotators chose without
saying so (issue #12): both cases observed on real projects, rebuilt here through the services,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import write_jsonl

from curata.core.errors import ValidationError
from curata.stats.aggregation import dawid_skene

Plan = list[dict[str, str]]
"""Per item, in the project's order: annotator -> answer."""


def _label_project(ws: Any, tmp_path: Path, name: str, labels: list[str], plan: Plan) -> dict:
    """A project over ``len(plan)`` records, overlap 3, every item labelled as planned (each
    item filled by its three annotators before the next, so the queue serves it to them).
    Returns record id -> (item index, annotation ids by annotator)."""
    rows = [{"text": f"{name} item {i}"} for i in range(len(plan))]
    ws.ingest([write_jsonl(tmp_path / f"{name}.jsonl", rows)], source="web", dataset=name)
    people = sorted({user for votes in plan for user in votes})
    for user in people:
        ws.workforce.add_user(user)
    ws.workforce.add_user(f"{name}-rev", role="reviewer")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": labels}]}
    ws.projects.create(
        name, version=f"{name}@1", schema=schema, overlap=3, members=[*people, f"{name}-rev"]
    )
    ids = {r.text: i for b in ws.datasets.iter_records(f"{name}@1") for i, r in b}
    out: dict[str, tuple[int, dict[str, int]]] = {}
    for i, votes in enumerate(plan):
        record_id = ids[f"{name} item {i}"]
        made: dict[str, int] = {}
        for user, said in votes.items():
            view = ws.queue.next_task(name, user)
            assert view is not None and view.record["text"] == f"{name} item {i}"
            made[user] = ws.queue.submit(view.assignment_id, user, {"topic": said}).annotation_id
        out[record_id] = (i, made)
    return out


def _released(ws: Any, ref: str) -> dict[str, dict[str, Any]]:
    """Record id -> the release's columns, parsed."""
    handle = ws.datasets.handle(ref)
    table = ws.store.manifest_table(handle.storage_key, handle.manifest_version).to_pylist()
    columns = ("labels", "confidence", "soft_labels", "outside_votes")
    return {
        row["record_id"]: {c: json.loads(row[c]) if row.get(c) else None for c in columns}
        for row in table
    }


def _plain_dawid_skene(plan: Plan, labels: list[str]) -> list[str]:
    """What Dawid-Skene said before issue #12 (no gold, 0.01 per confusion cell)."""
    users = {u: j for j, u in enumerate(sorted({u for votes in plan for u in votes}))}
    triples = [
        (i, users[u], labels.index(a)) for i, votes in enumerate(plan) for u, a in votes.items()
    ]
    arr = np.array(triples)
    result = dawid_skene(arr[:, 0], arr[:, 1], arr[:, 2], n_items=len(plan),
                         n_workers=len(users), n_classes=len(labels), smoothing=0.01)  # fmt: skip
    return [labels[c] for c in result.labels]


# Observed on man pages: three annotators who file most `system` pages under `other` answered
# `other` (one of them fixed by a reviewer to `io`) and the release said `system`, at 0.955, on
# 4 of 40 items, one of them a gold item whose known answer is `other`.
SECTIONS = ["system", "io", "other"]


def _sections_plan() -> Plan:
    plan: Plan = []
    sloppy = ["s1", "s2", "s3"]
    for i in range(24):  # `system` pages: a careful annotator says so, two sloppy ones `other`
        a, b = sloppy[i % 3], sloppy[(i + 1) % 3]
        said = {u: "io" if u == "s3" and i % 4 == 0 else "other" for u in (a, b)}
        plan.append({"g1" if i % 2 else "g2": "system", **said})
    for i in range(8):  # `io` pages: everyone agrees
        plan.append({"g1": "io", "g2": "io", sloppy[i % 3]: "io"})
    for i in range(4):  # `other` pages with the careful annotators
        plan.append({"g1": "other", "g2": "other", sloppy[i % 3]: "other"})
    for _ in range(4):  # `other` pages only the sloppy three label: items 36 to 39
        plan.append({"s1": "other", "s2": "other", "s3": "other"})
    return plan


def test_three_annotators_answering_other_never_become_system(ws, tmp_path) -> None:
    plan = _sections_plan()
    fixed_plan = [dict(votes) for votes in plan]
    fixed_plan[36]["s3"] = "io"  # the reviewer's fix below
    before = _plain_dawid_skene(fixed_plan, SECTIONS)
    outside = [i for i, label in enumerate(before) if label not in fixed_plan[i].values()]
    assert outside == [36, 37, 38, 39] and {before[i] for i in outside} == {"system"}
    items = _label_project(ws, tmp_path, "man", SECTIONS, plan)
    by_index = {i: (record_id, made) for record_id, (i, made) in items.items()}
    fixed_record, fixed = by_index[36]
    ws.reviews.decide(fixed["s3"], "man-rev", "fix", answers={"topic": "io"}, reason="I/O page")
    gold_record = by_index[39][0]
    ws.projects.gold.add("man", gold_record, {"topic": "other"})
    votes = {record_id: set(plan[i].values()) for record_id, (i, _) in items.items()}
    votes[fixed_record] = {"other", "io"}

    result = ws.releases.release("man", aggregate="dawid-skene")
    got = _released(ws, result.version.ref)
    assert got[gold_record]["labels"]["topic"] == "other"  # a gold item: its known answer
    assert got[gold_record]["confidence"]["topic"] == 1.0
    for record_id, row in got.items():  # nothing outside the votes goes out unmarked
        label = row["labels"]["topic"]
        assert label is None or label in votes[record_id] or record_id == gold_record
        if label is None:
            assert row["outside_votes"]["topic"]["action"] == "review"
    # the three unanimous `other` items and the one with the fix: what the annotators said, now
    # that gold anchors what their `other` means and the prior keeps the model from reading it
    # as `system` on the strength of 16 labels each
    for i in (36, 37, 38):
        assert got[by_index[i][0]]["labels"]["topic"] == "other"
    assert result.outside_votes == 0 and result.held == 0
    assert all(row["outside_votes"] is None for row in got.values())
    assert ws.reviews.next_review("man", "man-rev") is None  # nothing was sent to review
    datasets = pytest.importorskip("datasets")  # an all-null mark column still loads
    ws.export(result.version.ref, format="hf", out=tmp_path / "hf")
    train = datasets.load_from_disk(str(tmp_path / "hf"))["train"]
    assert train.num_rows == 40 and not any(train["curata_outside_votes"])


# Observed in a simulation over the API (10 annotators, overlap 3): three good annotators voted
# billing / other / shipping and the release said `refund`, at 0.985. Each of them files half of
# the refund requests they see under one other class, which the other annotators label refund.
TOPICS = ["billing", "other", "shipping", "refund"]


def _support_plan() -> Plan:
    plan: Plan = []
    good = ["g1", "g2", "g3"]
    habit = {"g1": "billing", "g2": "other", "g3": "shipping"}
    others = [f"r{i}" for i in range(1, 8)]
    for i in range(30):  # refund requests
        g = good[i % 3]
        plan.append(
            {g: habit[g] if i % 2 == 0 else "refund", others[i % 7]: "refund",
             others[(i + 3) % 7]: "refund"}
        )  # fmt: skip
    for i in range(36):  # the other topics: everyone right
        g, topic = good[(i // 3) % 3], TOPICS[i % 3]
        plan.append({g: topic, others[i % 7]: topic, others[(i + 2) % 7]: topic})
    plan.append({"g1": "billing", "g2": "other", "g3": "shipping"})  # item 66
    return plan


def test_billing_other_shipping_is_never_silently_refund(ws, tmp_path) -> None:
    plan = _support_plan()
    before = _plain_dawid_skene(plan, TOPICS)
    assert [i for i, label in enumerate(before) if label not in plan[i].values()] == [66]
    assert before[66] == "refund"
    items = _label_project(ws, tmp_path, "support", TOPICS, plan)
    target = next(r for r, (i, _) in items.items() if i == 66)

    # default policy: review: no label, the reason, the annotations in the review queue
    result = ws.releases.release("support", aggregate="dawid-skene")
    row = _released(ws, result.version.ref)[target]
    assert row["labels"]["topic"] is None and result.held == 1
    mark = row["outside_votes"]["topic"]
    assert mark["label"] == "refund" and mark["action"] == "review"
    assert sorted(mark["answers"]) == ["billing", "other", "shipping"]
    for who, said in (("g1", "billing"), ("g2", "other"), ("g3", "shipping")):
        assert f"{who} answers '{said}' for true 'refund'" in mark["reason"], mark["reason"]
    assert row["soft_labels"]["topic"] == pytest.approx({t: 1 / 3 for t in mark["answers"]})
    item = ws.reviews.next_review("support", "support-rev")
    assert item is not None and item.record["text"] == "support item 66"
    assert "refund" in item.notes[0] and "g1" in item.notes[0]
    from fastapi.testclient import TestClient

    from curata.api.app import create_app

    token = ws.workforce.issue_token("support-rev")
    with TestClient(create_app(ws)) as client:  # the API's reviewer sees the reason too
        r = client.post("/api/v1/projects/support/reviews/next",
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.status_code == 200 and r.json()["notes"] == item.notes

    # forbid: the most probable answer somebody gave, marked, nothing sent to review
    ws.projects.set_aggregation("support", {"outside_votes": "forbid"})
    forbid = ws.releases.release("support", aggregate="dawid-skene", dataset="support-forbid")
    row = _released(ws, forbid.version.ref)[target]
    assert row["labels"]["topic"] in ("billing", "other", "shipping") and forbid.held == 0
    assert row["outside_votes"]["topic"]["action"] == "forbid"

    # allow: released as inferred, still marked with its reason
    ws.projects.set_aggregation("support", {"outside_votes": "allow"})
    allow = ws.releases.release("support", aggregate="dawid-skene", dataset="support-allow")
    row = _released(ws, allow.version.ref)[target]
    assert row["labels"]["topic"] == "refund" and allow.held == 0
    assert row["outside_votes"]["topic"]["action"] == "allow"
    assert "g2 answers 'other' for true 'refund'" in row["outside_votes"]["topic"]["reason"]
    # every other record: a label somebody chose, nothing marked
    for record_id, (i, _) in items.items():
        if i != 66:
            assert _released(ws, allow.version.ref)[record_id]["outside_votes"] is None
    # the mark travels with the exports (curata_outside_votes), also in Arrow formats
    datasets = pytest.importorskip("datasets")
    ws.export(allow.version.ref, format="hf", out=tmp_path / "hf")
    train = datasets.load_from_disk(str(tmp_path / "hf"))["train"]
    marks = [m for m in train["curata_outside_votes"] if m]
    assert len(marks) == 1 and marks[0]["topic"]["label"] == "refund"

    # the review settles it: a reviewer's fix makes `refund` an answer given, released unmarked
    ws.projects.set_aggregation("support", {"outside_votes": "review"})
    ws.reviews.decide(items[target][1]["g1"], "support-rev", "fix", answers={"topic": "refund"},
                      reason="a refund request")  # fmt: skip
    settled = ws.releases.release("support", aggregate="dawid-skene", dataset="support-settled")
    row = _released(ws, settled.version.ref)[target]
    assert row["labels"]["topic"] == "refund" and row["outside_votes"] is None
    assert settled.held == 0 and settled.outside_votes == 0


def test_the_outside_votes_policy_is_validated(ws, tmp_path) -> None:
    _label_project(ws, tmp_path, "tiny", ["a", "b"], [{"x1": "a", "x2": "a", "x3": "b"}])
    with pytest.raises(ValidationError, match=r"aggregation.outside_votes: 'maybe' is not one"):
        ws.projects.set_aggregation("tiny", {"outside_votes": "maybe"})
    with pytest.raises(ValidationError, match=r"aggregation: unknown setting 'outside'"):
        ws.projects.set_aggregation("tiny", {"outside": "review"})
    assert ws.projects.set_aggregation("tiny", {}) == {"outside_votes": "review"}


def test_the_policy_from_the_command_line(cli, tmp_path) -> None:
    assert cli("init")[0] == 0
    cli("source", "add", "web", "--kind", "crawl", "--license", "MIT", "--origin", "x")
    cli("ingest", write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}]), "--source", "web",
        "--dataset", "t")  # fmt: skip
    schema = {"questions": [{"type": "label", "name": "topic", "labels": ["a", "b"]}]}
    (tmp_path / "schema.json").write_text(json.dumps(schema), "utf-8")
    code, _, err = cli("project", "create", "p", "--version", "t@1", "--schema",
                       tmp_path / "schema.json")  # fmt: skip
    assert code == 0, err
    code, out, err = cli("project", "set", "p", "--outside-votes", "forbid")
    assert code == 0 and "p: outside-votes forbid" in out, err
    code, out, _ = cli("project", "set", "p", "--outside-votes", "allow", "--overlap", "2")
    assert code == 0 and "outside-votes allow" in out and "overlap 2" in out
    assert cli("project", "set", "p", "--outside-votes", "maybe")[0] == 2
    code, _, err = cli("project", "set", "p")
    assert code == 1 and "give --overlap, --outside-votes or both" in err
