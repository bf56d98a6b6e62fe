"""Pairwise records (a prompt and candidate responses): shape, ids, ingest mapping, and
preference/ranking answers bound to the record's candidates."""

from __future__ import annotations

import pytest

from curata.annotation.schema import AnswerError, Schema, validate_answers
from curata.core.errors import InputError
from curata.core.records import Record, RecordShapeError
from curata.sourcing.mapping import FieldMap
from curata.sourcing.readers.base import RawItem

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]


def test_pairwise_record_letters_candidates_and_keeps_provenance() -> None:
    record = Record.from_pairwise(
        "Capital of France?",
        ["Paris.", {"text": "Lyon.", "model": "small-1", "temperature": 0.7}],
        {"lang": "en"},
    )
    assert record.kind == "pairwise"
    assert record.responses == [
        {"id": "A", "text": "Paris."},
        {"id": "B", "text": "Lyon.", "model": "small-1", "temperature": 0.7},
    ]
    assert record.response_ids() == ["A", "B"]
    assert record.to_flat() == {
        "lang": "en",
        "prompt": "Capital of France?",
        "responses": record.responses,
    }


def test_pairwise_record_round_trips_through_the_store_row_with_the_same_id() -> None:
    for prompt in ("Capital of France?", CHAT):
        record = Record.from_pairwise(prompt, ["4", {"content": "5", "model": "m"}])
        again = Record.from_row(record.to_row())
        assert again == record and again.id == record.id
        assert again.content() == record.content()


def test_pairwise_id_depends_on_candidates_and_their_order() -> None:
    ab = Record.from_pairwise("p", ["a", "b"])
    assert ab.id == Record.from_pairwise("p", ["a", "b"]).id
    assert ab.id != Record.from_pairwise("p", ["b", "a"]).id
    assert ab.id != Record.from_pairwise("p", ["a", {"text": "b", "model": "x"}]).id
    assert ab.id != Record.from_pair("p", "a").id


@pytest.mark.parametrize(
    ("responses", "path", "problem"),
    [
        (["only one"], "responses", "at least two responses, got 1"),
        ("not a list", "responses", "expected a list of candidate responses, got str"),
        (["a", 7], "responses[1]", "expected a string or an object with 'text', got int"),
        (["a", {"model": "m"}], "responses[1].text", "missing 'text'"),
        (["a", {"text": None}], "responses[1].text", "expected a string, got NoneType"),
        (["a", {"text": "b", "id": "A"}], "responses[1].id", "'A' is another response's id"),
        ([{"text": "a", "id": "x"}, {"text": "b", "id": "x"}], "responses[1].id", "'x'"),
        (["a", {"text": "b", "id": "tie"}], "responses[1].id", "'tie' is a preference answer"),
    ],
)
def test_malformed_candidates_name_the_field(responses: object, path: str, problem: str) -> None:
    with pytest.raises(RecordShapeError) as info:
        Record.from_pairwise("p", responses)  # type: ignore[arg-type]
    assert info.value.field_path == path and problem in info.value.problem


def test_a_chat_context_must_end_with_the_turn_the_responses_answer() -> None:
    with pytest.raises(RecordShapeError) as info:
        Record.from_pairwise([*CHAT, {"role": "assistant", "content": "4"}], ["a", "b"])
    assert info.value.field_path == "messages[2].role"


def _map(value: dict, previous: FieldMap | None = None) -> Record:
    item = RawItem(value, "prefs.jsonl:7")
    return FieldMap().detect(item, previous).to_record(item, max_record_bytes=1 << 20)


def test_mapping_detects_pairwise_with_a_prompt_or_a_chat_context() -> None:
    plain = _map({"prompt": "q", "responses": ["a", "b"], "topic": "math"})
    assert (plain.kind, plain.prompt, plain.metadata) == ("pairwise", "q", {"topic": "math"})
    chat = _map({"messages": CHAT, "responses": ["a", "b"]})
    assert chat.kind == "pairwise" and chat.messages == CHAT and chat.prompt is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"responses": ["a", "b"]}, "prefs.jsonl:7: field 'prompt': missing"),
        ({"prompt": "q", "responses": ["a"]}, "prefs.jsonl:7: field 'responses': a pairwise"),
        ({"prompt": "q", "responses": ["a", 3]}, "prefs.jsonl:7: field 'responses[1]': expected"),
        ({"prompt": 3, "responses": ["a", "b"]}, "prefs.jsonl:7: field 'prompt': expected a str"),
        ({"prompt": "q", "responses": "[1"}, "prefs.jsonl:7: field 'responses': not a JSON list"),
    ],
)
def test_malformed_pairwise_rows_name_file_line_and_field(row: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        _map(row)
    assert str(info.value).startswith(message)


def test_a_row_without_responses_in_a_pairwise_file_is_an_error_not_a_chat_record() -> None:
    previous = FieldMap(prompt="prompt", responses="responses")
    with pytest.raises(InputError) as info:
        _map({"messages": CHAT}, previous)
    assert str(info.value).startswith("prefs.jsonl:7: field 'responses': missing")


def test_field_map_accepts_responses_with_exactly_one_prompt_field() -> None:
    FieldMap(prompt="q", responses="cands").validate()
    FieldMap(messages="ctx", responses="cands").validate()
    for bad in (
        FieldMap(responses="cands"),
        FieldMap(prompt="q", messages="ctx", responses="cands"),
        FieldMap(text="t", prompt="q", responses="cands"),
    ):
        with pytest.raises(InputError, match="one prompt field"):
            bad.validate()


# -- answers bound to the candidates --------------------------------------------------------

PREFS = Schema.model_validate(
    {
        "questions": [
            {"type": "preference", "name": "better", "strength_levels": 2},
            {"type": "ranking", "name": "order", "responses": 3, "required": False},
        ]
    }
)


def test_preference_names_a_candidate_by_letter_or_id_and_is_stored_as_its_letter() -> None:
    ids = ["gpt", "llama"]
    by_id = validate_answers(PREFS, {"better": {"choice": "llama", "strength": 2}}, candidates=ids)
    assert by_id == {"better": {"choice": "B", "strength": 2}}
    by_letter = validate_answers(PREFS, {"better": {"choice": "A", "strength": 1}}, candidates=ids)
    assert by_letter == {"better": {"choice": "A", "strength": 1}}
    assert validate_answers(PREFS, {"better": "tie"}, candidates=ids) == {
        "better": {"choice": "tie"}
    }


def test_preference_over_a_candidate_the_record_lacks_names_the_question() -> None:
    with pytest.raises(AnswerError) as info:
        validate_answers(PREFS, {"better": {"choice": "C", "strength": 1}}, candidates=["A", "B"])
    assert str(info.value) == (
        "question 'better': choice 'C' is not a response of this record "
        "(allowed: A, B, tie, both_bad)"
    )


def test_preference_needs_a_record_of_two_candidates() -> None:
    with pytest.raises(AnswerError, match="question 'better': a preference compares two"):
        validate_answers(PREFS, {"better": "A"}, candidates=["A", "B", "C"])


def test_ranking_by_candidate_ids_becomes_ranks_in_candidate_order() -> None:
    schema = Schema.model_validate({"questions": [PREFS.questions[1].model_dump()]})
    ids = ["a", "B", "c"]
    assert validate_answers(schema, {"order": {"c": 1, "a": 2, "B": 3}}, candidates=ids) == {
        "order": [2, 3, 1]
    }
    assert validate_answers(schema, {"order": [1, 1, 2]}, candidates=ids) == {"order": [1, 1, 2]}
    with pytest.raises(AnswerError, match="question 'order': 'd' is not a response"):
        validate_answers(schema, {"order": {"a": 1, "B": 2, "d": 3}}, candidates=ids)
    with pytest.raises(AnswerError, match=r"question 'order': no rank for response\(s\) C"):
        validate_answers(schema, {"order": {"a": 1, "B": 2}}, candidates=ids)
    with pytest.raises(AnswerError, match="this record has 2 responses; the question ranks 3"):
        validate_answers(schema, {"order": [1, 2]}, candidates=["a", "b"])


def test_without_candidates_the_schema_behaves_as_before() -> None:
    assert validate_answers(PREFS, {"better": {"choice": "B", "strength": 1}}) == {
        "better": {"choice": "B", "strength": 1}
    }
    with pytest.raises(AnswerError, match="choice 'llama' is not allowed"):
        validate_answers(PREFS, {"better": {"choice": "llama", "strength": 1}})
