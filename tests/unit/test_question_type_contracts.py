"""Contract tests over every registered question type (the pattern of test_plugin_contracts.py):
each type declares valid metadata and documented configuration, checks answers the same way
twice, behaves on empty input, round-trips through Label Studio, Argilla and blind judging, and
simulates answers its own check accepts; a type with bad metadata fails when it is defined."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from typing import Any, Literal, get_args

import pytest

from curata.annotation.interchange import (
    argilla_settings,
    from_argilla_value,
    from_labelstudio_results,
    labelstudio_config,
    to_argilla_value,
    to_labelstudio_results,
)
from curata.annotation.schema import (
    QUESTION_TYPES,
    AnswerError,
    Schema,
    categorical_questions,
    validate_answers,
)
from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.core.plugins import NAME, metadata_problem
from curata.questions import QuestionType, parse_question, question_type, question_types
from curata.questions.agreement import gate_alpha, question_agreement

TYPES = list(question_types())
TEXTS = {
    "text": "Jane Doe works at Acme in Berlin and writes to jane@example.com.",
    "prompt": "Write a haiku about the sea.",
    "response": "Waves fold into foam / the gulls argue with the wind / salt on every stone",
}
SEEDS = range(12)


def example(name: str) -> QuestionType:
    """A small valid question of the type, from its declared example."""
    cls = question_types()[name]
    return cls.model_validate({"name": "q", "type": name, **cls.example})


def answers(name: str) -> list[Any]:
    """Normalised answers of the example question: drawn truths and simulated mistakes."""
    q = example(name)
    out = []
    for seed in SEEDS:
        rng = random.Random(seed)
        truth = q.simulate(None, rng, texts=TEXTS)
        out += [truth, q.simulate(truth, rng, accuracy=0.0, texts=TEXTS)]
    return [q.check(a, TEXTS) for a in out]


# -- metadata and configuration ------------------------------------------------------------------


def test_the_built_in_types_are_registered_in_their_order() -> None:
    assert TYPES[:8] == [
        "label", "rating", "preference", "ranking", "response", "refusal", "span", "text"
    ]  # fmt: skip
    assert tuple(TYPES) == QUESTION_TYPES
    assert question_type("no-such-type") is QuestionType


@pytest.mark.parametrize("name", TYPES)
def test_declared_metadata_is_present_and_valid(name: str) -> None:
    cls = question_types()[name]
    assert metadata_problem(cls) is None and cls.kind == "question type"
    assert NAME.fullmatch(cls.name) and cls.name == name
    assert cls.summary.strip() and "\n" not in cls.summary, "a summary is one line"
    field = cls.model_fields["type"]
    assert get_args(field.annotation) == (name,) and field.default == name
    assert not (cls.binds_candidates and not cls.record_bound), "candidates are in the record"


@pytest.mark.parametrize("name", TYPES)
def test_every_configuration_field_is_documented(name: str) -> None:
    for field, info in question_types()[name].model_fields.items():
        if field != "type":  # the discriminator: the type's summary says what it is
            assert info.description and info.description.strip(), f"{name}.{field}"


@pytest.mark.parametrize("name", TYPES)
def test_the_example_is_a_schema_question_and_round_trips_as_json(name: str) -> None:
    q = example(name)
    schema = Schema.model_validate({"questions": [q.model_dump(mode="json")]})
    assert schema.questions[0] == q and type(schema.questions[0]) is type(q)
    assert parse_question(q.model_dump(mode="json")) == q
    assert q.name == "q" and type(q).name == name  # the question's name, the type's name


@pytest.mark.parametrize("name", TYPES)
def test_categorical_questions_and_classes_agree(name: str) -> None:
    q = example(name)
    schema = {"questions": [q.model_dump(mode="json")]}
    assert ("q" in categorical_questions(schema)) == q.is_categorical()
    classes = q.classes()
    if classes is None:
        return
    assert q.is_categorical() and len(classes) >= 2
    keys = [canonical_json(c) for c in classes]
    assert len(set(keys)) == len(keys), "classes are distinct"
    for c in classes:  # every class is an answer, voted on as itself
        assert q.vote_key(q.check(c, TEXTS)) == c


def test_a_multi_label_question_is_not_categorical() -> None:
    multi = {"name": "tags", "type": "label", "labels": ["a", "b"], "multiple": True}
    single = {**multi, "name": "topic", "multiple": False}
    assert categorical_questions({"questions": [multi, single]}) == {"topic"}
    assert parse_question(multi).classes() is None and not parse_question(multi).is_categorical()
    assert parse_question(single).classes() == ["a", "b"]


# -- answers: determinism and empty input ------------------------------------------------------


@pytest.mark.parametrize("name", TYPES)
def test_check_is_deterministic_and_normalises_once(name: str) -> None:
    q = example(name)
    for answer in answers(name):
        again = q.check(answer, TEXTS)
        assert again == answer and q.check(answer, TEXTS) == again
    assert answers(name) == answers(name), "the same seeds simulate the same answers"


@pytest.mark.parametrize("name", TYPES)
def test_a_missing_answer_is_required_or_left_out(name: str) -> None:
    q = example(name)
    schema = Schema(questions=(q,))
    for given in ({}, {"q": None}):
        if q.required:
            with pytest.raises(AnswerError, match="question 'q': an answer is required"):
                validate_answers(schema, given, texts=TEXTS)
        else:
            assert validate_answers(schema, given, texts=TEXTS) == {}
    optional = Schema(questions=(q.model_copy(update={"required": False}),))
    assert validate_answers(optional, {}, texts=TEXTS) == {}


@pytest.mark.parametrize("name", TYPES)
def test_a_wrong_shape_is_a_problem_naming_the_question(name: str) -> None:
    schema = Schema(questions=(example(name),))
    with pytest.raises(AnswerError) as info:
        validate_answers(schema, {"q": {"no": "such shape"}}, texts=TEXTS)
    assert [p.question for p in info.value.problems] == ["q"]


@pytest.mark.parametrize("name", TYPES)
def test_agreement_on_no_ratings_lists_no_statistic(name: str) -> None:
    question = example(name).model_dump(mode="json")
    result = question_agreement(question, [], texts={}, n_boot=10)
    assert result["statistics"] == [] and result["ratings"] == 0 and result["items"] == 0
    assert result["question"] == "q" and result["type"] == name
    assert gate_alpha(question, []) == (None, gate_alpha(question, [])[1])


@pytest.mark.parametrize("name", TYPES)
def test_agreement_is_deterministic_on_simulated_answers(name: str) -> None:
    q = example(name)
    ratings = [
        (item, who, q.simulate(truth, random.Random(item * 7 + k), accuracy=0.7, texts=TEXTS))
        for item, truth in enumerate(answers(name)[::2])
        for k, who in enumerate(("ann", "bob", "cy"))
    ]
    texts = {item: TEXTS[getattr(q, "field", "text")] for item, _, _ in ratings}

    def run() -> dict[str, Any]:
        return question_agreement(
            q.model_dump(mode="json"), ratings, texts=texts, encode=_letters, n_boot=20
        )

    first = run()
    assert first == run() and first["ratings"] == len(ratings)
    assert gate_alpha(q.model_dump(mode="json"), ratings) == gate_alpha(
        q.model_dump(mode="json"), ratings
    )


def _letters(texts: list[str]) -> Any:
    """A tiny deterministic embedding (letter counts), so response agreement needs no model."""
    import numpy as np

    return np.asarray([[t.count(c) + 1.0 for c in "aeiou x"] for t in texts])


# -- simulation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TYPES)
def test_simulated_answers_pass_the_check(name: str) -> None:
    q = example(name)
    for seed in SEEDS:
        rng = random.Random(seed)
        truth = q.check(q.simulate(None, rng, texts=TEXTS), TEXTS)
        assert q.simulate(truth, rng, accuracy=1.0, texts=TEXTS) == truth
        wrong = q.simulate(truth, rng, accuracy=0.0, texts=TEXTS)
        assert q.check(wrong, TEXTS) is not None
        assert canonical_json(q.check(wrong, TEXTS)) != canonical_json(truth), seed


def test_a_categorical_simulation_draws_as_the_quality_simulator_did() -> None:
    """One ``rng.random()`` then ``rng.choice`` of the other classes: the same answers for the
    same seed as :func:`curata.quality.simulate.answer` gives for a label question."""
    q = example("label")
    labels = list(q.labels)  # type: ignore[attr-defined]
    for seed in SEEDS:
        mine, theirs = random.Random(seed), random.Random(seed)
        for truth in labels * 3:
            said = q.simulate(truth, mine, accuracy=0.4)
            expected = truth if theirs.random() < 0.4 else theirs.choice(
                [c for c in labels if c != truth]
            )  # fmt: skip
            assert said == expected


# -- interchange and blind judging -----------------------------------------------------------


@pytest.mark.parametrize("name", TYPES)
def test_label_studio_round_trip_gives_back_the_answer(name: str) -> None:
    schema = Schema(questions=(example(name),))
    config = ET.fromstring(labelstudio_config(schema, list(TEXTS)))
    assert [e.get("name") for e in config if e.get("name") == "q"] == ["q"]
    for answer in answers(name):
        results = to_labelstudio_results(schema, {"q": answer}, "text", texts=TEXTS, annotation=1)
        assert all(r["from_name"] == "q" for r in results)
        back = from_labelstudio_results(schema, json.loads(json.dumps(results)))
        if answer == []:  # an empty span list has no result: nothing comes back
            assert back == {}
            continue
        assert validate_answers(schema, back, texts=TEXTS) == {"q": answer}


@pytest.mark.parametrize("name", TYPES)
def test_argilla_round_trip_gives_back_the_answer(name: str) -> None:
    q = example(name)
    schema = Schema(questions=(q,))
    [settings] = argilla_settings(schema, {"text": True}, guidelines=None, overlap=1)["questions"]
    assert settings["name"] == "q" and settings["type"] == settings["settings"]["type"]
    for answer in answers(name):
        stored = json.loads(json.dumps(to_argilla_value(name, answer)))
        assert q.check(from_argilla_value(name, stored), TEXTS) == answer


@pytest.mark.parametrize("name", TYPES)
def test_blind_order_round_trips(name: str) -> None:
    q = example(name)
    order = [2, 0, 1]
    for answer in answers(name):
        assert q.to_record(q.to_shown(answer, order), order) == answer


# -- bad question types are named ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "annotations", "problem"),
    [
        ({"type": "poll"}, {"type": Literal["poll"]}, r"'poll' .*declares no summary"),
        (
            {"type": "Bad Name", "summary": "s"},
            {"type": Literal["Bad Name"]},
            r"'Bad Name' .*name 'Bad Name' must match",
        ),
        ({"type": "poll", "summary": "s"}, {"type": str}, r"'poll' .*type must be Literal"),
        ({"summary": "s"}, {}, r"None .*name None must match"),
    ],
)
def test_a_question_type_with_bad_metadata_fails_when_defined(
    body: dict[str, Any], annotations: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=rf"^question type {problem}"):
        type("Broken", (QuestionType,), {"__annotations__": annotations, **body})


def test_a_third_party_type_is_checked_and_behaves_by_default() -> None:
    """A type that declares only its name and summary: whole answers as JSON everywhere."""

    class Poll(QuestionType):
        summary = "A free-form poll answer."
        type: Literal["poll"] = "poll"

        def check(self, value: Any, texts: Any) -> Any:
            return value

    q = Poll(name="p")
    assert Poll.name == "poll" and q.name == "p" and q.classes() is None
    assert from_argilla_value("poll", to_argilla_value("poll", {"x": [1]})) == {"x": [1]}
    assert question_type("poll") is QuestionType  # not registered: the default behaviour
