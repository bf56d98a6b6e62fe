"""Question types and answer validation: every problem names the question and what is allowed."""

from __future__ import annotations

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curata.annotation.schema import AnswerError, Schema, validate_answers


def schema(*questions: dict) -> Schema:
    return Schema.model_validate({"questions": list(questions)})


RLHF = schema(
    {"type": "preference", "name": "better", "strength_levels": 3, "rationale": "optional"},
    {"type": "refusal", "name": "refuse", "categories": ["violence", "self_harm"]},
    {"type": "label", "name": "topic", "labels": ["billing", "shipping", "other"]},
    {
        "type": "label",
        "name": "flags",
        "labels": ["toxic", "pii", "off_topic"],
        "multiple": True,
        "required": False,
    },
    {"type": "rating", "name": "quality", "points": 5, "anchors": {"1": "bad", "5": "great"}},
    {"type": "ranking", "name": "order", "responses": 3, "required": False},
    {"type": "response", "name": "rewrite", "required": False, "max_chars": 50},
    {"type": "span", "name": "pii", "labels": ["EMAIL", "PHONE"], "required": False},
    {"type": "text", "name": "comment"},
)
GOOD = {
    "better": {"choice": "A", "strength": 2, "rationale": "more accurate"},
    "refuse": {"should_refuse": False},
    "topic": "billing",
    "flags": ["pii", "toxic"],
    "quality": 4,
    "order": [1, 2, 2],
    "rewrite": "Sure, here is how.",
    "pii": [{"start": 6, "end": 17, "label": "EMAIL"}],
    "comment": "<script>alert(1)</script>",
}
TEXTS = {"text": "Mail: bob@example.org now"}


def problems(answers: dict, s: Schema = RLHF) -> list[str]:
    with pytest.raises(AnswerError) as info:
        validate_answers(s, answers, texts=TEXTS)
    return [str(p) for p in info.value.problems]


def test_a_full_answer_is_accepted_and_normalised() -> None:
    out = validate_answers(RLHF, GOOD, texts=TEXTS)
    assert out["flags"] == ["toxic", "pii"]  # ontology order
    assert out["rewrite"] == {"text": "Sure, here is how."}
    assert out["comment"] == "<script>alert(1)</script>"  # data, verbatim
    assert out["refuse"] == {"should_refuse": False}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"topic": "weather"},
            "question 'topic': 'weather' is not a label of this question "
            "(allowed: billing, shipping, other)",
        ),
        ({"quality": 7}, "question 'quality': 7 is not on the scale (allowed: integers 1..5)"),
        ({"quality": True}, "question 'quality': True is not on the scale"),
        (
            {"better": {"choice": "C"}},
            "question 'better': choice 'C' is not allowed (allowed: A, B, tie, both_bad)",
        ),
        ({"better": {"choice": "A"}}, "question 'better': a strength is required"),
        ({"better": {"choice": "tie", "strength": 1}}, "no strength with choice 'tie'"),
        (
            {"refuse": {"should_refuse": True, "category": "spam"}},
            "question 'refuse': category 'spam' is not a policy category "
            "(allowed: violence, self_harm)",
        ),
        ({"refuse": {"should_refuse": "yes"}}, "should_refuse must be true or false"),
        ({"flags": ["pii", "nsfw"]}, "question 'flags': ['nsfw'] not in the ontology"),
        ({"flags": []}, "expected a non-empty list of labels"),
        ({"order": [1, 3, 3]}, "question 'order': ranks [1, 3, 3] skip a place"),
        ({"order": [1, 2]}, "expected 3 ranks"),
        ({"rewrite": "x" * 51}, "question 'rewrite': 51 characters (allowed: 1..50)"),
        (
            {"pii": [{"start": 6, "end": 99, "label": "EMAIL"}]},
            "question 'pii': span 0: [6, 99) is not inside the text "
            "(allowed: 0 <= start < end <= 25)",
        ),
        ({"pii": [{"start": 0, "end": 4, "label": "NAME"}]}, "label 'NAME' is not allowed"),
        ({"comment": 42}, "question 'comment': expected text, got int"),
    ],
)
def test_each_bad_value_names_question_and_allowed_values(change: dict, expected: str) -> None:
    found = problems({**GOOD, **change})
    assert len(found) == 1 and expected in found[0]


def test_all_problems_are_reported_together() -> None:
    answers = {**GOOD, "topic": "weather", "quality": 0, "nonsense": 1}
    del answers["refuse"]
    found = problems(answers)
    assert len(found) == 4
    assert any("question 'nonsense': no such question" in p for p in found)
    assert any("question 'refuse': an answer is required" in p for p in found)


def test_answers_must_be_an_object() -> None:
    assert problems(["A"]) == ["question '*': expected an object, got list"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("questions", "message"),
    [
        (
            [{"type": "label", "name": "a", "labels": ["x"]}, {"type": "text", "name": "a"}],
            "question names must be unique (repeated: a)",
        ),
        ([{"type": "label", "name": "Bad Name", "labels": ["x"]}], "lowercase letters"),
        ([{"type": "label", "name": "a", "labels": ["x", "x"]}], "labels must be distinct"),
        (
            [{"type": "rating", "name": "r", "points": 5, "anchors": {"9": "?"}}],
            "outside the scale",
        ),
        ([{"type": "poll", "name": "p"}], "label', 'rating'"),
        ([], "at least 1"),
    ],
)
def test_bad_schemas_are_refused(questions: list, message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Schema.model_validate({"questions": questions})
    assert message in str(info.value)


RATING = schema({"type": "rating", "name": "q", "points": 7})


@given(st.integers())
def test_rating_accepts_exactly_the_scale(value: int) -> None:
    if 1 <= value <= 7:
        assert validate_answers(RATING, {"q": value}) == {"q": value}
    else:
        with pytest.raises(AnswerError):
            validate_answers(RATING, {"q": value})


RANK = schema({"type": "ranking", "name": "r", "responses": 4})


@given(st.lists(st.integers(1, 4), min_size=4, max_size=4))
def test_ranking_accepts_dense_ranks_with_ties(ranks: list[int]) -> None:
    dense = sorted(set(ranks)) == list(range(1, len(set(ranks)) + 1))
    if dense:
        assert validate_answers(RANK, {"r": ranks}) == {"r": ranks}
    else:
        with pytest.raises(AnswerError, match="skip a place"):
            validate_answers(RANK, {"r": ranks})
