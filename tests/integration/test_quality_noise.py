"""Label noise: CROWDLAB ranks planted wrong majority labels first, confident learning finds
them in a model's predictions, and --review sends them to the review queue (audited, once)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.conftest import log_in, write_jsonl

from curata.core.errors import InputError, NotFoundError, ValidationError
from curata.quality.noise import (
    confident_learning,
    crowdlab,
    text_pred_probs,
    vote_pred_probs,
)
from curata.store.tables import AnnotationRow

CLASSES = ["billing", "bug", "praise"]
WORDS = {
    "billing": [
        "invoice",
        "refund",
        "charge",
        "payment",
        "card",
        "billed",
        "subscription",
        "price",
    ],
    "bug": ["crash", "error", "freeze", "broken", "exception", "button", "loading", "screen"],
    "praise": ["love", "great", "thanks", "awesome", "helpful", "wonderful", "fantastic", "happy"],
}
FILLER = ["the", "app", "today", "again", "please", "my", "account", "this", "week"]
ITEMS = 45
PLANTED = {3, 11, 19, 28, 40}
"""Items on which annotators a1 and a2 agree on the same wrong label (a3 gives the truth)."""
SLIPS = {7, 23, 35}
"""Items on which a3 alone slips (the majority stays right)."""


def truth(i: int) -> str:
    return CLASSES[i % 3]


def wrong(i: int) -> str:
    return CLASSES[(i + 1) % 3]


@pytest.fixture
def tickets(ws, tmp_path: Path):
    """45 support tickets whose words give their class away, labelled by three annotators
    (imported, as from a vendor)."""
    rng = random.Random(4)
    rows = []
    for i in range(ITEMS):
        words = rng.sample(WORDS[truth(i)], 4) + rng.sample(FILLER, 2)
        rng.shuffle(words)
        rows.append({"text": f"ticket {i}: {' '.join(words)}"})
    ws.ingest([write_jsonl(tmp_path / "t.jsonl", rows)], source="web", dataset="tix")
    people = ["a1", "a2", "a3"]
    for name in people:
        ws.workforce.add_user(name)
    ws.workforce.add_user("rev", role="reviewer")
    schema = {"questions": [{"type": "label", "name": "topic", "labels": CLASSES}]}
    ws.projects.create("tix", version="tix@1", schema=schema, overlap=3, members=people)
    ws.projects.members.add("tix", ["rev"])  # the reviewer the suspects go to
    ids = {int(r.text.split()[1].rstrip(":")): rid for b in ws.datasets.iter_records("tix@1")
           for rid, r in b}  # fmt: skip
    items = []  # as a vendor's Argilla export: one import instead of 135 queue round trips
    for i, rid in ids.items():
        said = [wrong(i) if i in PLANTED else truth(i)] * 2
        said.append(wrong(i) if i in SLIPS else truth(i))
        items.append({"curata_id": rid, "topic.responses": said, "topic.responses.users": people})
    ws.transfer.import_("tix", items, "argilla")
    ws.ids = ids
    return ws


def review_states(ws) -> dict[int, str]:
    from sqlalchemy import select

    with ws.projects.sessions() as session:
        return {a: r for a, r in session.execute(select(AnnotationRow.id, AnnotationRow.review))}


def write_predictions(ws, path: Path, *, confidence: float = 0.9) -> Path:
    rest = (1 - confidence) / 2
    rows = [
        {"record_id": rid, "probs": {c: confidence if c == truth(i) else rest for c in CLASSES}}
        for i, rid in ws.ids.items()
    ]
    return write_jsonl(path, rows)


def test_the_wrapper_gives_cleanlab_s_own_scores() -> None:
    from cleanlab.filter import find_label_issues
    from cleanlab.multiannotator import get_label_quality_multiannotator

    rng = np.random.default_rng(11)
    n, m, k = 40, 4, 3
    labels = rng.integers(0, k, size=(n, m)).astype(float)
    labels[rng.random((n, m)) < 0.25] = np.nan
    labels[:, 0] = rng.integers(0, k, size=n)  # every item keeps one label
    pred_probs = rng.dirichlet(np.ones(k), size=n)
    frame = pd.DataFrame(labels, columns=[f"ann{j}" for j in range(m)])
    ours = crowdlab(frame, pred_probs)
    theirs = get_label_quality_multiannotator(frame, pred_probs, verbose=False)
    quality = theirs["label_quality"]
    np.testing.assert_array_equal(ours.consensus, quality["consensus_label"].to_numpy())
    np.testing.assert_allclose(ours.quality, quality["consensus_quality_score"].to_numpy())
    np.testing.assert_allclose(ours.agreement, quality["annotator_agreement"].to_numpy())
    stats = theirs["annotator_stats"]
    assert {a.annotator: a.quality for a in ours.annotators} == pytest.approx(
        stats["annotator_quality"].to_dict()
    )
    assert [a.annotator for a in ours.annotators] == list(stats.index)  # worst first
    majority = ours.majority
    np.testing.assert_array_equal(
        confident_learning(majority, pred_probs),
        find_label_issues(labels=majority, pred_probs=pred_probs),
    )


def test_the_fallbacks_when_no_model_can_be_trained() -> None:
    votes = np.array([[0, 0, 1], [2, 2, np.nan]])
    probs = vote_pred_probs(votes, 3)
    np.testing.assert_allclose(probs, [[3 / 6, 2 / 6, 1 / 6], [1 / 5, 1 / 5, 3 / 5]])
    none, why = text_pred_probs(["a", "b", "c"], np.array([0, 1, 0]), 2)
    assert none is None and "only 3 items" in why
    texts = [f"word{i}" for i in range(12)]
    none, why = text_pred_probs(texts, np.array([0] * 11 + [1]), 2)
    assert none is None and "two classes with at least two items" in why


def test_crowdlab_ranks_the_planted_errors_first(tickets) -> None:
    ranked = tickets.quality.label_noise("tix", threshold=1.0)  # every item, worst first
    [q] = ranked["questions"]
    assert q["model"] == "text" and q["items"] == ITEMS and q["label_issues"] is None
    assert len(ranked["suspects"]) == ITEMS
    planted = {tickets.ids[i] for i in PLANTED}
    top = [s["record_id"] for s in ranked["suspects"][: len(PLANTED)]]
    assert len(planted & set(top)) / len(PLANTED) >= 0.8  # recall of the planted in the top 5
    slips = {tickets.ids[i] for i in SLIPS}
    quality = {s["record_id"]: s["quality"] for s in ranked["suspects"]}
    # a lone slip the text model contradicts scores better than a wrong majority it contradicts
    assert max(quality[r] for r in planted) < min(quality[r] for r in slips)
    found = tickets.quality.label_noise("tix", threshold=0.6)["suspects"]
    assert {s["record_id"] for s in found} == planted
    for s in found:
        assert sorted(s["votes"].values()) == [1, 2] and "consensus quality" in s["reason"]
    assert {a["annotator"] for a in q["annotators"]} == {"a1", "a2", "a3"}
    assert set(review_states(tickets).values()) == {"not_needed"}  # a report changes nothing


def test_confident_learning_finds_the_planted_errors_in_predictions(tickets, tmp_path) -> None:
    file = write_predictions(tickets, tmp_path / "preds.jsonl")
    result = tickets.quality.label_noise("tix", predictions=file)
    [q] = result["questions"]
    assert q["model"] == "predictions" and q["unpredicted"] == 0
    issues = {s["record_id"]: s for s in result["suspects"] if s["label_issue"]}
    planted = {tickets.ids[i]: i for i in PLANTED}
    assert set(issues) == set(planted)
    for rid, i in planted.items():
        assert issues[rid]["suggested"] == truth(i) and issues[rid]["majority"] == wrong(i)
        assert "confident learning" in issues[rid]["reason"]
    # the same predictions as CSV, for a subset of the records: the rest are not checked
    rows = ["record_id," + ",".join(CLASSES)]
    for i, rid in list(tickets.ids.items())[:30]:
        rows.append(rid + "," + ",".join("0.9" if c == truth(i) else "0.05" for c in CLASSES))
    csv_file = tmp_path / "preds.csv"
    csv_file.write_text("\n".join(rows) + "\n", "utf-8-sig")  # as Excel saves "CSV UTF-8"
    partial = tickets.quality.label_noise("tix", predictions=csv_file)
    assert partial["questions"][0]["unpredicted"] == ITEMS - 30
    found = {s["record_id"] for s in partial["suspects"] if s["label_issue"]}
    assert found == {tickets.ids[i] for i in PLANTED if i < 30}


def test_suspects_go_to_the_review_queue_once(tickets) -> None:
    ws = tickets
    assert ws.reviews.next_review("tix", "rev") is None
    result = ws.quality.label_noise("tix", threshold=0.6, send_to_review=True)
    suspects = {s["record_id"] for s in result["suspects"]}
    assert suspects == {ws.ids[i] for i in PLANTED}
    review = result["review"]
    assert review["items"] == len(suspects) and review["flagged"] == 3 * len(suspects)
    item = ws.reviews.next_review("tix", "rev")
    assert item is not None
    i = int(item.record["text"].split()[1].rstrip(":"))
    assert ws.ids[i] in suspects
    assert all(a["review"] == "pending" for a in item.annotations)
    [event] = ws.audit.list(action="quality.noise_flagged")
    assert event.object_ref == "tix" and event.actor == "tester"
    assert set(event.details["record_ids"]) == suspects
    assert event.details["flagged"] == review["flagged"]
    # a decision, then a rerun: nothing new is flagged and no second event is written
    ws.reviews.decide(item.annotations[0]["annotation_id"], "rev", "accept")
    again = ws.quality.label_noise("tix", threshold=0.6, send_to_review=True)["review"]
    assert again["flagged"] == 0
    assert again["already_reviewed"] == 1 and again["already_pending"] == review["flagged"] - 1
    assert len(ws.audit.list(action="quality.noise_flagged")) == 1


BAD_FILES = [
    ("a.jsonl", '{"record_id": "ID0", "probs": {"billing": 1.0}}\n{"record_id": "nope", "probs": '
     '{"bug": 1}}\n', r"a\.jsonl:2: field 'record_id': unknown record id 'nope'"),
    ("b.jsonl", '{"record_id": "ID0", "probs": {"refund": 1.0}}\n',
     r"b\.jsonl:1: field 'probs\.refund': unknown label 'refund'"),
    ("c.jsonl", '\n{"record_id": "ID0", "probs": {"bug": 0.5, "praise": 0.4}}\n',
     r"c\.jsonl:2: field 'probs': probabilities sum to 0\.9, not 1"),
    ("d.jsonl", '{"record_id": "ID0", "probs": {"bug": 1.5, "praise": -0.5}}\n',
     r"d\.jsonl:1: field 'probs\.bug': probability 1\.5 is not in \[0, 1\]"),
    ("e.jsonl", '{"record_id": "ID0", "probs": {"bug": 1}}\n{"record_id": "ID0", "probs": '
     '{"bug": 1}}\n', r"e\.jsonl:2: field 'record_id': record \w+ already has predictions on "
     r"line 1"),
    ("f.jsonl", "{oops\n", r"f\.jsonl:1: not valid JSON"),
    ("g.csv", "record_id,billing,bug,praise\nID0,0.2,0.3,0.5\nID1,0.2,x,0.8\n",
     r"g\.csv:3: field 'bug': expected a probability, got 'x'"),
    ("h.csv", "record_id,billing,refund\nID0,0.5,0.5\n",
     r"h\.csv:1: field 'refund': unknown label 'refund'"),
    ("i.csv", "id,billing\n", r"i\.csv:1: a record_id column is required"),
    ("j.txt", "", r"j\.txt: predictions must be a \.jsonl or \.csv file"),
]  # fmt: skip


def test_bad_input_is_refused_and_changes_nothing(tickets, tmp_path) -> None:
    before = review_states(tickets)
    ids = [tickets.ids[0], tickets.ids[1]]
    for name, content, message in BAD_FILES:
        path = tmp_path / name
        path.write_text(content.replace("ID0", ids[0]).replace("ID1", ids[1]), "utf-8")
        with pytest.raises(InputError, match=message):
            tickets.quality.label_noise("tix", predictions=path, send_to_review=True)
    with pytest.raises(ValidationError, match="threshold: must be in"):
        tickets.quality.label_noise("tix", threshold=1.5, send_to_review=True)
    with pytest.raises(ValidationError, match="no question 'mood'"):
        tickets.quality.label_noise("tix", question="mood", send_to_review=True)
    with pytest.raises(NotFoundError, match="unknown project 'nope'"):
        tickets.quality.label_noise("nope")
    assert review_states(tickets) == before
    assert tickets.audit.list(action="quality.noise_flagged") == []


def test_a_small_project_falls_back_to_the_votes(ws, tmp_path) -> None:
    rows = [{"text": f"short {i}"} for i in range(4)]
    ws.ingest([write_jsonl(tmp_path / "s.jsonl", rows)], source="web", dataset="small")
    for name in ("b1", "b2"):
        ws.workforce.add_user(name)
    schema = {
        "questions": [
            {"type": "rating", "name": "score", "points": 3},
            {"type": "label", "name": "tone", "labels": ["calm", "angry"], "required": False},
            {"type": "text", "name": "comment", "required": False},
        ]
    }
    ws.projects.create("small", version="small@1", schema=schema, overlap=2, members=["b1", "b2"])
    for name in ("b1", "b2"):
        while (view := ws.queue.next_task("small", name)) is not None:
            i = int(view.record["text"].split()[1])
            score = 3 if name == "b2" and i == 0 else 1 + i % 2
            ws.queue.submit(view.assignment_id, name, {"score": score})
    result = ws.quality.label_noise("small")
    q, tone = result["questions"]
    assert q["question"] == "score" and q["model"] == "votes" and q["items"] == 4
    assert tone["question"] == "tone" and "at least two annotators" in tone["skipped"]
    assert "only 4 items" in q["note"] and "only measure agreement" in q["note"]
    assert result["suspects"][0]["votes"] in ({"1": 1, "3": 1}, {"3": 1, "1": 1})
    with pytest.raises(ValidationError, match="'comment' is a text question"):
        ws.quality.label_noise("small", question="comment")
    preds = write_jsonl(tmp_path / "p.jsonl", [{"record_id": "x", "probs": {"1": 1.0}}])
    with pytest.raises(ValidationError, match="predictions are for one question; name it"):
        ws.quality.label_noise("small", predictions=preds)


def test_the_command_line(tickets, tmp_path, monkeypatch, capsys) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    log_in(tickets)  # quality noise --review needs a lead's or admin's token on PostgreSQL
    base = ["--home", str(tickets.home), "quality", "noise", "tix"]
    assert main([*base, "--threshold", "0.6", "--limit", "2"]) == 0
    shown = capsys.readouterr().out
    assert "suspects shown" in shown and "Report only" in shown
    preds = write_predictions(tickets, tmp_path / "p.jsonl")
    assert main([*base, "--predictions", str(preds), "--review", "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["review"]["flagged"] > 0 and data["suspects_total"] >= len(PLANTED)
    assert tickets.reviews.next_review("tix", "rev") is not None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"record_id": "zz", "probs": {"bug": 1}}\n', "utf-8")
    assert main([*base, "--predictions", str(bad)]) != 0
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert main(["quality", "noise", "--help"]) == 0
    helped = capsys.readouterr().out
    assert "CROWDLAB" in helped and "--predictions" in helped
