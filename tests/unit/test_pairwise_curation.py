"""Curation reads and rewrites pairwise records (a prompt and candidate responses): every step
sees the plain prompt, the chat context and each candidate's text, and a changed record stays
pairwise with the same candidates, ids and provenance; previews show the prompt and the
candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_jsonl

from curata.core.records import Record
from curata.curation.pipeline import parse_pipeline
from curata.curation.steps.base import Item, replace_texts, text_fields
from curata.curation.steps.decontaminate import Decontaminate, DecontaminateParams
from curata.curation.steps.exact_dedup import ExactDedup, ExactDedupParams
from curata.curation.steps.field_filter import FieldFilter, FieldFilterParams
from curata.curation.steps.language import Language, LanguageParams
from curata.curation.steps.length import Length, LengthParams
from curata.curation.steps.near_dedup import NearDedup, NearDedupParams
from curata.curation.steps.normalize import Normalize, NormalizeParams
from curata.curation.steps.pii import Pii, PiiParams
from curata.versioning.diff import change_preview, flat_text, preview

CONTEXT = [
    {"role": "system", "content": "Answer   briefly."},
    {"role": "user", "content": "Who should I write to about the refund?"},
]
LEAKY = {"text": "Write to anna.smith@example.com today.", "model": "large-2", "id": "big"}
PLAIN = {"text": "Ask the shop that sold it.", "model": "small-1", "temperature": 0.7}


def items(*records: Record) -> list[Item]:
    return [(r.id, r) for r in records]


def test_text_fields_reads_the_prompt_the_context_and_every_candidate() -> None:
    plain = Record.from_pairwise("Capital of France?", ["Paris.", "Lyon."])
    assert text_fields(plain, "auto") == [
        ("prompt", "Capital of France?"),
        ("responses[0].text", "Paris."),
        ("responses[1].text", "Lyon."),
    ]
    chat = Record.from_pairwise(CONTEXT, [LEAKY, PLAIN])
    assert text_fields(chat, "auto") == [
        ("messages[0].content", "Answer   briefly."),
        ("messages[1].content", "Who should I write to about the refund?"),
        ("responses[0].text", LEAKY["text"]),
        ("responses[1].text", PLAIN["text"]),
    ]
    # a list selects as for the other kinds: response = the candidates
    assert [p for p, _ in text_fields(chat, ["response"])] == [
        "responses[0].text",
        "responses[1].text",
    ]
    assert text_fields(chat, ["messages.user"]) == [("messages[1].content", CONTEXT[1]["content"])]
    assert text_fields(plain, ["prompt"]) == [("prompt", "Capital of France?")]
    assert text_fields(plain, ["text"]) == []


def test_replace_texts_keeps_a_pairwise_record_with_its_candidates_ids_and_provenance() -> None:
    record = Record.from_pairwise(CONTEXT, [LEAKY, PLAIN], {"topic": "shop"})
    new = replace_texts(
        record, {"messages[0].content": "Answer briefly.", "responses[0].text": "Write to me."}
    )
    assert new.kind == "pairwise" and new.metadata == {"topic": "shop"}
    assert new.messages == [{"role": "system", "content": "Answer briefly."}, CONTEXT[1]]
    assert new.responses == [
        {"id": "big", "text": "Write to me.", "model": "large-2"},
        {"id": "B", "text": "Ask the shop that sold it.", "model": "small-1", "temperature": 0.7},
    ]
    assert new.id != record.id
    # the record is unchanged; a plain prompt is replaced as a prompt
    assert record.responses is not None and record.responses[0]["text"] == LEAKY["text"]
    plain = Record.from_pairwise("Capital  of France?", ["Paris.", "Lyon."])
    again = replace_texts(plain, {"prompt": "Capital of France?"})
    assert again == Record.from_pairwise("Capital of France?", ["Paris.", "Lyon."])


def test_pii_redacts_a_candidate_and_keeps_the_record_pairwise() -> None:
    record = Record.from_pairwise("Who should I write to?", [LEAKY, PLAIN])
    [decision] = Pii(PiiParams()).apply(items(record))
    assert decision.action == "change" and decision.record is not None
    assert decision.details["found"] == {"EMAIL_ADDRESS": 1}
    assert decision.details["fields"] == ["responses[0].text"]
    new = decision.record
    assert new.kind == "pairwise" and new.prompt == "Who should I write to?"
    assert new.responses == [
        {"id": "big", "text": "Write to <EMAIL_ADDRESS_1> today.", "model": "large-2"},
        {"id": "B", "text": PLAIN["text"], "model": "small-1", "temperature": 0.7},
    ]


def test_normalize_reaches_the_context_and_the_candidates() -> None:
    record = Record.from_pairwise(CONTEXT, ["Paris  is the capital.  ", "caf\u00c3\u00a9"])
    [decision] = Normalize(NormalizeParams()).apply(items(record))
    assert decision.action == "change" and decision.record is not None
    assert decision.details["fields"] == [
        "messages[0].content",
        "responses[0].text",
        "responses[1].text",
    ]
    assert decision.record.messages == [
        {"role": "system", "content": "Answer briefly."},
        CONTEXT[1],
    ]
    assert decision.record.responses == [
        {"id": "A", "text": "Paris is the capital."},
        {"id": "B", "text": "café"},
    ]
    clean = Record.from_pairwise("Capital of France?", ["Paris.", "Lyon."])
    assert Normalize(NormalizeParams()).apply(items(clean))[0].action == "keep"


def test_length_counts_the_prompt_and_the_candidates() -> None:
    record = Record.from_pairwise("Capital?", ["Paris.", "Lyon is not."])  # 1 + 1 + 3 words
    keep, drop = (Length(LengthParams(min_words=w)).apply(items(record))[0] for w in (5, 6))
    assert keep.action == "keep"
    assert drop.action == "drop" and drop.reason == "too short: 5 words < min_words 6"
    only = Length(LengthParams(min_words=2, fields=("response",))).apply(items(record))[0]
    assert only.action == "keep"  # "Paris. Lyon is not.": 4 words, the prompt not counted


def test_exact_dedup_compares_prompt_and_candidates_in_order() -> None:
    a = Record.from_pairwise("Capital of France?", ["Paris.", "Lyon."], {"n": 1})
    same = Record.from_pairwise("Capital of  France?", ["Paris.", "Lyon."], {"n": 2})
    swapped = Record.from_pairwise("Capital of France?", ["Lyon.", "Paris."])
    other = Record.from_pairwise("Capital of France?", ["Paris.", "Marseille."])
    pair = Record.from_pair("Capital of France?", "Paris.")
    step = ExactDedup(ExactDedupParams())
    batch = items(a, same, swapped, other, pair)
    step.prepare(iter([step.summarize(batch)]))
    actions = [d.action for d in step.apply(batch)]
    assert actions == ["keep", "drop", "keep", "keep", "keep"]
    # by prompt alone, every pairwise record with that prompt is one
    by_prompt = ExactDedup(ExactDedupParams(fields=("prompt",)))
    by_prompt.prepare(iter([by_prompt.summarize(batch)]))
    assert [d.action for d in by_prompt.apply(batch)] == ["keep", "drop", "drop", "drop", "keep"]


def test_field_filter_and_decontaminate_see_pairwise_records(tmp_path: Path) -> None:
    record = Record.from_pairwise(
        "Tell me a fact.",
        ["The quick brown fox jumps over the lazy dog every single morning.", "No."],
        {"lang": "en"},
    )
    kept = FieldFilter(
        FieldFilterParams.parse({"conditions": [{"field": "lang", "op": "eq", "value": "en"}]})
    ).apply(items(record))[0]
    assert kept.action == "keep"
    evals = write_jsonl(
        tmp_path / "eval.jsonl",
        [{"text": "the quick brown fox jumps over the lazy dog every single morning"}],
    )
    step = Decontaminate(DecontaminateParams.parse({"eval_file": str(evals), "ngram": 8}))
    [decision] = step.apply(items(record))
    assert decision.action == "drop" and "eval set eval.jsonl" in decision.reason


def test_language_and_near_dedup_read_the_prompt_and_the_candidates() -> None:
    question = "Quelle est la capitale de la France, s'il vous plaît ?"
    first = Record.from_pairwise(
        question, ["La capitale de la France est Paris.", "Je pense que c'est Lyon, pas sûr."]
    )
    twin = Record.from_pairwise(
        question, ["La capitale de la France est Paris.", "Je pense que c'est Lyon, pas sûr!"]
    )
    batch = items(first, twin)
    english = Language(LanguageParams.parse({"allow": ["en"]})).apply(batch)
    assert [d.reason for d in english] == ["language 'fr' (1.00) not in allowed [en]"] * 2
    step = NearDedup(NearDedupParams.parse({"ngram": 3, "threshold": 0.7}))
    step.prepare(iter([step.summarize(batch)]))
    keep, drop = step.apply(batch)
    assert keep.action == "keep" and drop.action == "drop" and drop.related == first.id


def test_flat_text_previews_the_prompt_and_the_candidates() -> None:
    plain = Record.from_pairwise("Capital of France?", ["Paris.", {"text": "Lyon.", "model": "m"}])
    assert flat_text(plain) == "Capital of France? → A: Paris. | B: Lyon."
    chat = Record.from_pairwise(CONTEXT, [LEAKY, PLAIN])
    assert flat_text(chat) == (
        "system: Answer briefly. | user: Who should I write to about the refund? → "
        "A: Write to anna.smith@example.com today. | B: Ask the shop that sold it."
    )
    assert preview(plain, 20) == "Capital of France? …"
    redacted = replace_texts(chat, {"responses[0].text": "Write to <EMAIL_ADDRESS_1> today."})
    old, new = change_preview(chat, redacted)
    assert old == "…fund? → A: Write to anna.smith@example.com today. | B: Ask the shop that sold …"
    assert new == "…fund? → A: Write to <EMAIL_ADDRESS_1> today. | B: Ask the shop that sold it."


PIPELINE: dict[str, Any] = {"steps": ["normalize", "pii", {"length": {"min_words": 4}}]}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_pipeline_redacts_and_keeps_pairwise_records_on_both_executor_paths(
    ws, tmp_path: Path, workers: int
) -> None:
    """The reported run: pii then length over a pairwise record left the e-mail address and
    dropped the record as "too short: 0 words"."""
    rain = [CONTEXT[0], {"role": "user", "content": "Is it raining?"}]
    rows = [
        {"prompt": "Who should I write to about the refund?", "responses": [LEAKY, PLAIN]},
        {"messages": rain, "responses": ["Nobody knows.", "Ask  the sky."], "topic": "sky"},
        {"prompt": "Capital of France?", "responses": ["Paris.", "Lyon."]},  # kept as it is
        {"prompt": "Hi", "responses": ["Yo", "Hey"]},  # 3 words: too short
    ]
    ws.ingest([write_jsonl(tmp_path / "prefs.jsonl", rows)], source="web", dataset="prefs")
    result = ws.curation.curate(
        "prefs@1", parse_pipeline(PIPELINE), "clean", batch_size=2, workers=workers
    )
    steps = {s["name"]: s for s in result.steps}
    assert (steps["normalize"]["changed"], steps["pii"]["changed"]) == (1, 1)
    assert steps["length"]["dropped"] == 1 and result.records_out == 3
    out = {
        (r.prompt or r.messages[-1]["content"]): r  # type: ignore[index]
        for batch in ws.datasets.iter_records("clean@1")
        for _, r in batch
    }
    assert set(out) == {
        "Who should I write to about the refund?",
        "Is it raining?",
        "Capital of France?",
    }
    assert {r.kind for r in out.values()} == {"pairwise"}
    refund = out["Who should I write to about the refund?"]
    assert refund.responses == [
        {"id": "big", "text": "Write to <EMAIL_ADDRESS_1> today.", "model": "large-2"},
        {"id": "B", "text": PLAIN["text"], "model": "small-1", "temperature": 0.7},
    ]
    sky = out["Is it raining?"]
    assert sky.messages == [{"role": "system", "content": "Answer briefly."}, rain[1]]
    assert [c["text"] for c in sky.responses or []] == ["Nobody knows.", "Ask the sky."]
    assert sky.metadata == {"topic": "sky"}
    [event] = ws.curation.why(refund.id)["came_from"]
    assert event["step"] == "pii" and event["reason"].startswith("pii: redacted 1 EMAIL_ADDRESS")
