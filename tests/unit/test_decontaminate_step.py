"""The decontaminate step: planted eval overlaps dropped or flagged, paraphrases kept, eval
files read as JSONL, CSV or text, and bad eval files named with their line."""

from __future__ import annotations

import hashlib
import random
import re
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
from tests.conftest import write_jsonl
from tests.helpers import decide

from curata.core.errors import InputError, ValidationError
from curata.core.records import Record
from curata.curation import pipeline as pipeline_module
from curata.curation.steps.decontaminate import Decontaminate, DecontaminateParams

FARMER = (
    "A farmer has three fields of wheat, and each field produces twice as much grain as the "
    "previous one; if the first yields forty bushels, how many bushels do all three produce?"
)
VENUS = (
    "Which planet in our solar system has the longest day measured in Earth hours, and why "
    "does it rotate so slowly compared with the others?"
)
REVOLUTION = (
    "Summarize the causes of the French Revolution in two sentences, mentioning the fiscal "
    "crisis and the role of the Estates-General."
)
EVAL = [
    {"question": VENUS, "answer": "Venus"},
    {"question": FARMER, "answer": 280},
    {"prompt": REVOLUTION, "response": "Royal debt from wars met a rigid society of orders."},
]
PLANTED = (
    "Notes from class. A farmer has three fields of wheat and each field produces twice as "
    "much grain as the previous one. We solved it on the board."
)
PARAPHRASE = (
    "Suppose a grower owns three wheat plots, every plot yielding double the grain of the one "
    "before; with forty bushels from the first, what is the total harvest?"
)


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "bench.jsonl", EVAL)


def step(eval_file: Path, **params: Any) -> Decontaminate:
    return Decontaminate(
        DecontaminateParams.model_validate({"eval_file": str(eval_file), **params})
    )


def text(t: str) -> Record:
    return Record.from_text(t)


def test_planted_overlap_is_dropped_with_a_short_reason(bench: Path) -> None:
    [d] = decide(step(bench), text(PLANTED))
    assert d.action == "drop"
    # 19 words copied from eval line 2 ("a farmer ... previous one") give 7 distinct 13-grams
    assert re.fullmatch(
        r"contaminated: 7 of its 13-grams appear in eval set bench\.jsonl "
        r"\(first at 'a farmer has three fields of wheat and each field \.\.\.' "
        r"from eval line 2\)",
        d.reason,
    ), d.reason
    assert d.details["matches"] == 7 and d.details["eval_line"] == 2
    assert d.details["eval_sha256"] == hashlib.sha256(bench.read_bytes()).hexdigest()


def test_paraphrase_and_unrelated_text_are_kept(bench: Path) -> None:
    s = step(bench)
    unrelated = text("The committee met on Tuesday to discuss the new library opening hours.")
    assert [d.action for d in decide(s, text(PARAPHRASE), unrelated)] == ["keep", "keep"]


def test_twelve_copied_words_are_kept_thirteen_dropped(bench: Path) -> None:
    s = step(bench)
    words = s.words(VENUS)
    twelve = text("Lorem " + " ".join(words[:12]) + " ipsum")
    thirteen = text("Lorem " + " ".join(words[:13]) + " ipsum")
    assert [d.action for d in decide(s, twelve, thirteen)] == ["keep", "drop"]


def test_min_overlap_counts_distinct_grams(bench: Path) -> None:
    words = step(bench).words(VENUS)
    fourteen = text("x " + " ".join(words[:14]) + " y " + " ".join(words[:14]))  # 2 distinct
    assert decide(step(bench, min_overlap=2), fourteen)[0].reason.startswith("contaminated: 2 ")
    assert decide(step(bench, min_overlap=3), fourteen)[0].action == "keep"


def test_lines_of_several_matches_after_the_line_map_is_built(bench: Path) -> None:
    s = step(bench)
    records = [text(PLANTED), text("Q: " + VENUS), text(PARAPHRASE), text(REVOLUTION)]
    decisions = decide(s, *records)
    assert [d.details.get("eval_line") for d in decisions] == [2, 1, None, 3]


def test_flag_keeps_the_record_and_writes_metadata(bench: Path) -> None:
    record = Record.from_text(PLANTED, {"source": "web"})
    [d] = decide(step(bench, action="flag"), record)
    assert d.action == "change" and d.record is not None
    assert d.reason.startswith("flagged as contaminated: 7 of its 13-grams")
    assert d.record.text == record.text and d.record.id != record.id
    assert d.record.metadata == {
        "source": "web",
        "contaminated": {
            "eval_file": "bench.jsonl",
            "eval_sha256": hashlib.sha256(bench.read_bytes()).hexdigest(),
            "matches": 7,
            "example": "a farmer has three fields of wheat and each field ...",
            "eval_line": 2,
        },
    }


def test_example_is_truncated(tmp_path: Path) -> None:
    long_words = " ".join(f"supercalifragilistic{i}" for i in range(13))
    [d] = decide(step(write_jsonl(tmp_path / "e.jsonl", [{"text": long_words}])), text(long_words))
    example = d.details["example"]
    assert example == "supercalifragilistic0 supercalifragilistic1 ..."  # whole words


# -- records of every kind -------------------------------------------------------------------


def test_chat_records_by_role(bench: Path) -> None:
    record = Record.from_messages(
        [{"role": "user", "content": "Help me."}, {"role": "assistant", "content": PLANTED}]
    )
    assert decide(step(bench), record)[0].action == "drop"
    assert decide(step(bench, fields=["messages.user"]), record)[0].action == "keep"


def test_pair_records_by_field(bench: Path) -> None:
    record = Record.from_pair("Tell me a story.", "Once upon a time. " + REVOLUTION)
    assert decide(step(bench), record)[0].details["eval_line"] == 3
    assert decide(step(bench, fields=["prompt"]), record)[0].action == "keep"


def test_grams_do_not_span_two_texts(bench: Path) -> None:
    words = step(bench).words(VENUS)
    record = Record.from_pair(" ".join(words[:7]), " ".join(words[7:14]))
    assert decide(step(bench), record)[0].action == "keep"


# -- eval file formats -----------------------------------------------------------------------


def test_jsonl_messages_and_eval_fields(tmp_path: Path) -> None:
    chat = {
        "messages": [{"role": "user", "content": VENUS}, {"role": "assistant", "content": "Venus"}]
    }
    path = write_jsonl(tmp_path / "chat.jsonl", [chat, {"context": FARMER, "answer": 1}])
    assert decide(step(path), text(VENUS))[0].action == "drop"
    assert decide(step(path), text(FARMER))[0].action == "keep"  # context is not read
    only_context = step(path, eval_fields=["context", "messages"])
    assert decide(only_context, text(FARMER))[0].details["eval_line"] == 2


def test_csv_columns_and_row_lines(tmp_path: Path) -> None:
    path = tmp_path / "bench.csv"
    path.write_text(
        'id,question,answer\n1,"A question\nthat spans two lines",B\n2,"' + FARMER + '",C\n',
        "utf-8",
    )
    [d] = decide(step(path), text(PLANTED))
    assert d.details["eval_line"] == 4  # the row starts on line 4 (row 1 spans lines 2-3)
    assert decide(step(path, eval_fields=["answer"], min_words=1, ngram=1), text("C"))[0].reason


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "bench.tsv"
    path.write_text(f"prompt\tlabel\n{FARMER}\t1\n", "utf-8")
    assert decide(step(path), text(PLANTED))[0].details["eval_line"] == 2


def test_plain_text_one_example_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bench.txt"
    path.write_text(f"{VENUS}\n\n{FARMER}\n", "utf-8")
    assert decide(step(path), text(PLANTED))[0].details["eval_line"] == 3


def test_eval_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bench.data", EVAL)
    assert decide(step(path, eval_format="jsonl"), text(PLANTED))[0].details["eval_line"] == 2


# -- short texts -----------------------------------------------------------------------------

SHORT = "The mitochondria is the powerhouse of the cell"  # 8 words


def test_short_eval_text_is_one_gram_matched_inside_records(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"text": SHORT}, {"text": "Paris"}])
    s = step(path)
    inside = text("Remember: the mitochondria is the powerhouse of the cell, always.")
    equal, partial = text(SHORT), text("The mitochondria is the powerhouse of it")
    decisions = decide(s, inside, equal, partial, text("Paris is lovely"))
    assert [d.action for d in decisions] == ["drop", "drop", "keep", "keep"]
    assert "1 of its 8-grams" in decisions[0].reason


def test_short_skip_and_min_words(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"text": SHORT}, {"text": FARMER}])
    assert decide(step(path, short="skip"), text(SHORT))[0].action == "keep"
    assert decide(step(path, min_words=9), text(SHORT))[0].action == "keep"
    assert decide(step(path, min_words=9), text(PLANTED))[0].action == "drop"


def test_mixed_gram_sizes_are_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"text": SHORT}, {"text": FARMER}])
    [d] = decide(step(path), text(PLANTED + " " + SHORT))
    assert "8 of its 13/8-grams" in d.reason


def test_ngram_below_min_words_lowers_the_floor(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"text": "red green blue yellow"}])
    assert decide(step(path, ngram=3), text("I like green blue yellow"))[0].action == "drop"


# -- normalisation ---------------------------------------------------------------------------


def test_words_are_lowercased_without_punctuation(bench: Path) -> None:
    s = step(bench)
    assert s.words("Don't STOP -- well-known: 2+2=4; na\u00efve caf\u00e9_au_lait!") == [
        "dont", "stop", "wellknown", "224", "na\u00efve", "caf\u00e9_au_lait"
    ]  # fmt: skip
    assert step(bench, lowercase=False).words("Don't STOP") == ["Dont", "STOP"]
    assert step(bench, strip_punctuation=False).words("Don't STOP") == ["don't", "stop"]


def test_case_and_punctuation_do_not_hide_a_copy(bench: Path) -> None:
    shouted = text(
        "A FARMER HAS THREE FIELDS OF WHEAT... AND EACH FIELD PRODUCES TWICE (!) AS MUCH GRAIN"
    )
    assert decide(step(bench), shouted)[0].action == "drop"
    assert decide(step(bench, lowercase=False), shouted)[0].action == "keep"
    punctuated = text("A farmer has three fields of wheat, and each field produces twice as much")
    assert decide(step(bench), punctuated)[0].action == "drop"
    assert decide(step(bench, strip_punctuation=False), text(PLANTED))[0].action == "keep"


# -- bad eval files --------------------------------------------------------------------------


def test_missing_eval_file_fails_validation(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="no such file"):
        DecontaminateParams(eval_file=str(tmp_path / "nope.jsonl"))
    with pytest.raises(pydantic.ValidationError, match="not a file"):
        DecontaminateParams(eval_file=str(tmp_path))
    with pytest.raises(pydantic.ValidationError, match="eval_file"):
        DecontaminateParams.model_validate({})


def test_missing_eval_file_is_named_when_the_pipeline_is_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "registry", lambda: {"decontaminate": Decontaminate})
    missing = str(tmp_path / "mmlu.jsonl")
    with pytest.raises(ValidationError, match=r"steps\[0\]\.decontaminate\.eval_file: .*no such"):
        pipeline_module.parse_pipeline([{"decontaminate": {"eval_file": missing}}])


@pytest.mark.parametrize(
    ("name", "content", "line", "problem"),
    [
        ("e.jsonl", '{"text": "fine"}\n\n{"text": oops}\n', 3, "malformed JSON"),
        ("e.jsonl", '{"text": "fine"}\n["a list"]\n', 2, "a JSONL line must be an object"),
        ("e.jsonl", '{"text": "fine"}\n{"id": 7}\n', 2, "none of the eval_fields"),
        ("e.json", '[\n{"text": "an array"}\n]\n', 1, "malformed JSON"),
        ("e.csv", "id,label\n1,2\n", 1, "the header has none of the eval_fields"),
        ("e.csv", "id,text\n1,fine\n2,too,many\n", 3, "3 columns, the header has 2"),
        ("e.csv", 'id,text\n1,"bad"quote\n', 2, "malformed CSV"),
    ],
)
def test_malformed_eval_files_name_the_line(
    tmp_path: Path, name: str, content: str, line: int, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    with pytest.raises(InputError) as info:
        step(path)
    assert info.value.path == str(path) and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: {problem}"), str(info.value)


def test_undecodable_eval_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(b"fine line\nbad \xff byte\n")
    with pytest.raises(InputError, match=r"e\.txt:2: not UTF-8"):
        step(path)


@pytest.mark.parametrize("content", ["", "\n\n", "Paris\nLondon\n", "id,text\n"])
def test_eval_file_without_usable_text_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / ("e.csv" if content.startswith("id") else "e.txt")
    path.write_text(content, "utf-8")
    with pytest.raises(InputError, match=r"no eval text of 8 or more words"):
        step(path)


def test_eval_file_changed_during_the_run_is_an_error(bench: Path) -> None:
    s = step(bench)
    bench.write_text(bench.read_text("utf-8") + '{"text": "more"}\n', "utf-8")
    with pytest.raises(InputError, match="changed during the run"):
        decide(s, text(PLANTED))


# -- performance -----------------------------------------------------------------------------


def test_ten_thousand_records_against_a_thousand_eval_items(tmp_path: Path) -> None:
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(5_000)]
    eval_items = [" ".join(rng.choices(vocabulary, k=40)) for _ in range(1_000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(eval_items) + "\n", "utf-8")
    records = [text(" ".join(rng.choices(vocabulary, k=60))) for _ in range(10_000)]
    planted = {i * 500: eval_items[i].split()[10:23] for i in range(20)}
    for i, words in planted.items():
        records[i] = text("lead in " + " ".join(words) + " trailing words")
    started = time.perf_counter()
    s = step(path)
    decisions = [d for k in range(0, 10_000, 2_000) for d in decide(s, *records[k : k + 2_000])]
    elapsed = time.perf_counter() - started
    assert {i for i, d in enumerate(decisions) if d.action == "drop"} == set(planted)
    assert elapsed < 5, f"{elapsed:.2f}s"
