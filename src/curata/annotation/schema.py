"""Annotation schemas: a project's questions, and validation of answers.

Pure: no I/O. A schema is a list of named questions, each of a registered question type
(:mod:`curata.questions`, one plugin per type: its configuration, and how its answers are
checked); an answer is a mapping from question name to value. :func:`validate_answers`
returns the normalised answers or raises :class:`AnswerError` listing every problem, each
naming the question and what is allowed.

Answer shapes, by question type:

=============  ==============================================================================
label          one label (``multiple=False``) or a list of distinct labels (``multiple=True``)
rating         an integer on the scale ``1..points``
preference     ``{"choice": "A"|"B"|"tie"|"both_bad", "strength": 1..levels, "rationale": str}``
ranking        one rank per response, ``1`` best; equal ranks are ties (``[1, 2, 2]``)
response       the written or edited answer text (``{"text": ...}`` or a plain string)
refusal        ``{"should_refuse": bool, "category": str, "rewritten": str}``
span           a list of ``{"start": int, "end": int, "label": str}`` over the record's text
text           a free comment
=============  ==============================================================================

On a ``pairwise`` record (a prompt and its candidate responses) the preference and ranking
questions bind to the record's candidates, given to :func:`validate_answers` as
``candidates`` (their ids, in order): a choice names a candidate by letter (``A``, ``B``) or by
its id and is stored as its letter; a preference needs a record of exactly two candidates; a
ranking has one rank per candidate, given as a list in candidate order or as ``{id or letter:
rank}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from curata.questions import BadAnswer, QuestionType, question_type, question_types

if TYPE_CHECKING:
    Question = QuestionType
else:
    Question = Annotated[
        Union[tuple(question_types().values())],  # noqa: UP007
        Field(discriminator="type"),
    ]
"""A schema's question: any registered question type, told apart by its ``type``."""
QUESTION_TYPES = tuple(question_types())
"""The registered question types' names."""


class Schema(BaseModel):
    """The questions of a project, in order; names are unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: tuple[Question, ...] = Field(min_length=1)

    @field_validator("questions")
    @classmethod
    def _unique(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        names = [q.name for q in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"question names must be unique (repeated: {', '.join(repeated)})")
        return value

    def question(self, name: str) -> Any:
        for q in self.questions:
            if q.name == name:
                return q
        raise KeyError(name)


SCHEMA_ADAPTER: TypeAdapter[Schema] = TypeAdapter(Schema)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an answer: which question, what, and what is allowed."""

    question: str
    message: str
    allowed: str | None = None

    def __str__(self) -> str:
        allowed = f" (allowed: {self.allowed})" if self.allowed else ""
        return f"question '{self.question}': {self.message}{allowed}"


class AnswerError(ValueError):
    """Answers that do not fit the schema; ``problems`` names every one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def categorical_questions(schema: dict[str, Any]) -> set[str]:
    """Names of the questions whose answer is one of a few values (a schema in JSON form;
    multi-label questions excepted): the ones agreement and aggregation models apply to."""
    return {
        q["name"]
        for q in schema.get("questions", [])
        if question_type(q.get("type")).categorical_in(q)
    }


def validate_answers(
    schema: Schema,
    answers: Any,
    *,
    texts: dict[str, str] | None = None,
    candidates: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Check ``answers`` against ``schema``; return them normalised, or raise :class:`AnswerError`.

    ``texts`` gives the record's text fields (``text``, ``prompt``, ``response``) so span
    offsets can be checked against the text they point into; ``candidates`` gives a pairwise
    record's response ids, which preference and ranking answers must refer to.
    """
    if not isinstance(answers, dict):
        raise AnswerError([Problem("*", f"expected an object, got {type(answers).__name__}")])
    problems: list[Problem] = []
    known = {q.name for q in schema.questions}
    for name in answers:
        if name not in known:
            problems.append(Problem(str(name), "no such question", ", ".join(sorted(known))))
    normalised: dict[str, Any] = {}
    for question in schema.questions:
        value = answers.get(question.name)
        if value is None:
            if question.required:
                problems.append(Problem(question.name, "an answer is required"))
            continue
        surrogate = _lone_surrogate(value)
        if surrogate:
            problems.append(Problem(question.name, surrogate))
            continue
        try:
            if candidates and question.binds_candidates:
                value = question.bind(value, candidates)
            normalised[question.name] = question.check(value, texts or {})
        except BadAnswer as bad:
            problems.append(Problem(question.name, bad.message, bad.allowed))
    if problems:
        raise AnswerError(problems)
    return normalised


def _lone_surrogate(value: Any) -> str | None:
    """Where a string inside ``value`` holds a lone surrogate (valid JSON, not valid text: no
    encoder can write it), or ``None``."""
    if isinstance(value, str):
        bad = next((c for c in value if 0xD800 <= ord(c) <= 0xDFFF), None)
        return None if bad is None else f"contains a lone surrogate (U+{ord(bad):04X})"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()  # fmt: skip
    for key, item in items:
        inner = _lone_surrogate(key) or _lone_surrogate(item)
        if inner:
            return f"{key!r}: {inner}" if isinstance(key, str) else f"[{key}]: {inner}"
    return None
