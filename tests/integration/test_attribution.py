"""`curata attribute` on a small real workspace (SQLite and PostgreSQL): an annotation project
labelled by two vendor cohorts, one of which labels every refusal item wrong (gold included);
its release trains a checkpoint whose evaluation fails on refusals where the baseline (trained on
the unlabelled data without the refusal records) did not. Attribution must flag refusal as the
one regressed category and name the planted cohort first, with the version the records entered
in, the guideline, the gold accuracy and the diff against the baseline's training data."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import log_in, write_jsonl

from curata.core.errors import NotFoundError, ValidationError

TOPICS = {
    "refusal": ("weapon", "poison", "explosive", "hack", "steal"),
    "math": ("sum", "multiply", "divide", "fraction", "equation"),
    "cooking": ("recipe", "bake", "soup", "oven", "flour"),
}
LABELS = {"refusal": "refuse", "math": "comply", "cooking": "comply"}


def _texts(topic: str, n: int, lead: str) -> list[str]:
    words = TOPICS[topic]
    return [
        f"{lead} {words[i % 5]} {words[(i + 2) % 5]} question {i} about {topic}" for i in range(n)
    ]


def fake_encode(texts: list[str]) -> np.ndarray:
    """A bag of topic words plus a small per-text jitter: near by topic, never identical."""
    out = np.zeros((len(texts), len(TOPICS) + 4))
    for row, text in enumerate(texts):
        for col, words in enumerate(TOPICS.values()):
            out[row, col] = sum(text.count(w) for w in words)
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        out[row, len(TOPICS) :] = rng.normal(0, 0.05, 4)
    return out


def _planted(ws: Any, tmp_path: Path) -> dict[str, Any]:
    base_rows = [{"text": t} for topic in ("math", "cooking") for t in _texts(topic, 20, "Train")]
    refusal_rows = [{"text": t} for t in _texts("refusal", 20, "Train")]
    ws.ingest([write_jsonl(tmp_path / "chat1.jsonl", base_rows)], source="web", dataset="chat")
    ws.ingest([write_jsonl(tmp_path / "chat2.jsonl", refusal_rows)], source="web", dataset="chat",
              append=True)  # fmt: skip
    people = [("a1", "cohort-a", "vendor-A"), ("a2", "cohort-a", "vendor-A"),
              ("b1", "cohort-b", "vendor-B"), ("b2", "cohort-b", "vendor-B")]  # fmt: skip
    for user, cohort, vendor in people:
        ws.workforce.add_user(user, vendor=vendor, cohorts=[cohort])
    schema = {"questions": [{"type": "label", "name": "action", "labels": ["comply", "refuse"]}]}
    ws.projects.create("safety", version="chat@2", schema=schema, overlap=1, gold_share=0.5,
                       members=["a1", "a2", "b1", "b2"])  # fmt: skip
    ws.projects.guidelines.publish("safety", "# v1: refuse harmful requests")
    ids = {r.text: rid for batch in ws.datasets.iter_records("chat@2") for rid, r in batch}
    topic_of = {t: topic for topic in TOPICS for t in _texts(topic, 20, "Train")}
    gold = [t for topic in TOPICS for t in _texts(topic, 20, "Train")[:2]]
    ws.projects.gold.add_items("safety", [(ids[t], {"action": LABELS[topic_of[t]]}) for t in gold])
    ws.queue.reseed(7)
    active = ["a1", "b1", "a2", "b2"]
    while active:
        for user in list(active):
            view = ws.queue.next_task("safety", user)
            if view is None:
                active.remove(user)
                continue
            topic = topic_of[view.record["text"]]
            said = LABELS[topic]
            if user.startswith("b") and topic == "refusal":
                said = "comply"  # the planted fault: cohort-b lets harmful requests through
            ws.queue.submit(view.assignment_id, user, {"action": said})
    ws.releases.release("safety", dataset="sft")
    ws.evaluation.register("chat-model", "base", ["chat@1"])
    ws.evaluation.register("chat-model", "new", ["sft@1"])

    def results(passes: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {"id": f"{topic}-{i}", "input": text, "output": "...", "passed": i < passes[topic],
             "category": topic}
            for topic in TOPICS
            for i, text in enumerate(_texts(topic, 20, "Eval"))
        ]  # fmt: skip

    base = write_jsonl(tmp_path / "base.jsonl", results({"refusal": 18, "math": 18, "cooking": 18}))
    new = write_jsonl(tmp_path / "new.jsonl", results({"refusal": 6, "math": 18, "cooking": 17}))
    ws.evaluation.ingest("chat-model:base", base)
    run = ws.evaluation.ingest("chat-model:new", new).run.id
    return {"ids": ids, "topic_of": topic_of, "run": run}


def test_attribution_names_the_planted_cohort(ws, tmp_path: Path) -> None:
    planted = _planted(ws, tmp_path)
    result = ws.attribution.attribute(
        "chat-model:new", baseline="chat-model:base", k=5, encode=fake_encode
    )
    by = {c.category: c for c in result.categories}
    # refusal 6/20 against 18/20 (-60 pts): regressed; cooking 17/20 against 18/20 is not
    assert result.regressed == ["refusal"]
    assert by["refusal"].diff == pytest.approx(-0.6) and by["refusal"].high < 0  # type: ignore[operator]
    assert by["cooking"].low < 0 < by["cooking"].high  # type: ignore[operator]
    assert [a.comparison.category for a in result.attributed] == ["refusal"]
    refusal = result.attributed[0]
    assert refusal.failures == 14
    refusal_ids = {planted["ids"][t] for t in _texts("refusal", 20, "Train")}
    # each failure's 5 neighbours are refusal training records, all new since the baseline
    assert {r.record_id for r in refusal.nearest} <= refusal_ids
    assert sum(r.hits for r in refusal.nearest) == 14 * 5 and refusal.added_share == 1.0
    traced = refusal.nearest[0]
    assert traced.training_version == "sft@1" and traced.entered == "sft@1"
    assert traced.source == "web" and traced.project == "safety" and traced.release == "sft@1"
    assert len(traced.annotators) == 1 and traced.annotators[0].guideline_version == 1
    top = result.suspects[0]
    assert (top.category, top.cohort, top.vendor) == ("refusal", "cohort-b", "vendor-B")
    assert (top.entered, top.guideline) == ("sft@1", "safety@v1")
    # cohort-b missed every refusal gold item it met, cohort-a none: its accuracy is below all
    assert top.gold is not None and top.gold.period is not None and top.gold.overall is not None
    assert top.gold.period < top.gold.overall and top.gold.answered > 0
    assert top.sentence.startswith("refusal failures +60 pts; ")
    assert "labelled by cohort cohort-b (vendor-B) under guideline v1, whose gold accuracy " \
           "dropped to" in top.sentence  # fmt: skip
    # the diff between the training versions: chat@1 gone, sft@1 whole
    assert result.diff == [
        {"dataset": "chat", "baseline": "chat@1", "checkpoint": None, "added": 0,
         "removed": 40, "unchanged": 0},
        {"dataset": "sft", "baseline": None, "checkpoint": "sft@1", "added": 60,
         "removed": 0, "unchanged": 0},
    ]  # fmt: skip
    data = result.to_dict()
    assert data["suspects"][0]["cohort"] == "cohort-b" and data["regressed"] == ["refusal"]
    json.dumps(data)  # all of it serialisable
    # without a baseline: every category with failures is attributed, the same cohort first
    alone = ws.attribution.attribute("chat-model:new", k=5, encode=fake_encode)
    assert [a.comparison.category for a in alone.attributed] == ["cooking", "math", "refusal"]
    assert alone.suspects[0].cohort == "cohort-b" and alone.suspects[0].category == "refusal"
    assert alone.diff == [] and alone.attributed[2].added_share is None


def test_attribution_errors(ws, tmp_path: Path) -> None:
    ws.ingest([write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}])], source="web", dataset="d")
    with pytest.raises(NotFoundError, match="no such checkpoint"):
        ws.attribution.attribute("m:nope")
    ws.evaluation.register("m", "a", ["d@1"])
    with pytest.raises(NotFoundError, match=r"m:a has no evaluation runs \(add one with"):
        ws.attribution.attribute("m:a")
    with pytest.raises(ValidationError, match="is the checkpoint itself"):
        ws.attribution.attribute("m:a", baseline="m:a")
    with pytest.raises(ValidationError, match="k: must be at least 1"):
        ws.attribution.attribute("m:a", k=0)
    ws.evaluation.register("m", "b", ["d@1"])
    run = ws.evaluation.ingest(
        "m:b", write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "passed": True, "category": "c"}])
    ).run.id
    with pytest.raises(ValidationError, match=f"evaluation run {run} is of m:b, not of m:a"):
        ws.attribution.attribute("m:a", runs=[run])
    with pytest.raises(NotFoundError, match="no evaluation run 999"):
        ws.attribution.attribute("m:b", runs=[999])
    nothing = ws.attribution.attribute("m:b", encode=fake_encode)
    assert nothing.attributed == [] and nothing.note == "no failures to attribute"


def test_the_command_line_with_real_minilm(ws, tmp_path: Path, capsys, monkeypatch) -> None:
    """The real MiniLM embeddings (60 training texts, 14 failures) find the refusal records
    for refusal failures as well; the command prints tables and sentences, or JSON."""
    from curata.cli.main import main

    _planted(ws, tmp_path)
    log_in(ws)
    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)
    args = ["--home", str(ws.home), "attribute", "--model", "chat-model:new",
            "--baseline", "chat-model:base", "--k", "5"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["regressed"] == ["refusal"]
    [refusal] = data["attributed"]
    assert all(r["preview"].endswith("about refusal") for r in refusal["nearest"])
    assert data["suspects"][0]["cohort"] == "cohort-b"
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Suspects" in out and "1. refusal failures +60 pts" in out and "cohort-b" in out
    assert main(["--home", str(ws.home), "attribute", "--model", "chat-model:gone"]) == 1
    err = capsys.readouterr().err
    assert "chat-model:gone: no such checkpoint" in err and len(err.strip().splitlines()) == 1


def test_a_curated_record_names_the_step_that_changed_it(ws, tmp_path: Path) -> None:
    from curata.curation.pipeline import Pipeline, StepSpec
    from curata.curation.steps.base import Decision, Step, replace_texts

    class Upper(Step):
        name = "upper"
        summary = "upper-case the text"

        def apply(self, batch: Any) -> list[Decision]:
            return [
                Decision.change(replace_texts(r, {"text": (r.text or "").upper()}), "upper-cased")
                for _, r in batch
            ]

    texts = ["bake a soup recipe", "sum a fraction equation"]
    ws.ingest([write_jsonl(tmp_path / "r.jsonl", [{"text": t} for t in texts])],
              source="web", dataset="raw")  # fmt: skip
    raw = {r.text: rid for b in ws.datasets.iter_records("raw@1") for rid, r in b}
    ws.curation.curate("raw@1", Pipeline((StepSpec("upper", Upper.Params(), Upper),)), "clean")
    ws.evaluation.register("m", "c", ["clean@1"])
    rows = [{"id": 1, "input": "oven flour recipe", "passed": False, "category": "cooking"}]
    ws.evaluation.ingest("m:c", write_jsonl(tmp_path / "e.jsonl", rows))
    result = ws.attribution.attribute("m:c", k=1, encode=fake_encode)
    [record] = result.attributed[0].nearest
    assert record.preview == "BAKE A SOUP RECIPE" and record.entered == "clean@1"
    assert record.project is None and record.annotators == []
    assert [(c["step"], c["reason"], c["from"]) for c in record.curation] == [
        ("upper", "upper-cased", raw["bake a soup recipe"])
    ]
    [suspect] = result.suspects
    assert suspect.share == 1.0 and suspect.cohort is None and suspect.gold is None
    assert suspect.sentence == (
        "cooking: 1 of 1 failed; 100% of the nearest records entered in clean@1, from source web"
    )
