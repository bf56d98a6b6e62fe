"""Annotation schemas: the question types of LLM data work, and validation of answers.

Pure: no I/O. A schema is a list of named questions; an answer is a mapping from question
name to value. :func:`validate_answers` returns the normalised answers or raises
:class:`AnswerError` listing every problem, each naming the question and what is allowed.

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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from curata.core.answers import PREFERENCE_CHOICES

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Identifier (lowercase letters, digits, underscores).")
    title: str = ""
    required: bool = True
    languages: tuple[str, ...] = ()
    """Annotators must have one of these languages (routing; empty: anyone)."""
    domains: tuple[str, ...] = ()
    """Annotators must have one of these domain skills (routing; empty: anyone)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("use 1-64 lowercase letters, digits or '_', starting with a letter")
        return value


class LabelQuestion(_Question):
    """Classification with an ontology that can grow (add labels in a new schema version)."""

    type: Literal["label"] = "label"
    labels: tuple[str, ...] = Field(min_length=1)
    multiple: bool = False

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("labels must be distinct")
        return value


class RatingQuestion(_Question):
    """A Likert rating on ``1..points`` with optional labelled anchors."""

    type: Literal["rating"] = "rating"
    points: int = Field(ge=2, le=11)
    anchors: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _anchors_on_scale(self) -> RatingQuestion:
        outside = [k for k in self.anchors if not 1 <= k <= self.points]
        if outside:
            raise ValueError(f"anchors {outside} are outside the scale 1..{self.points}")
        return self


class PreferenceQuestion(_Question):
    """Pairwise preference between responses A and B (tie and both-bad allowed)."""

    type: Literal["preference"] = "preference"
    strength_levels: int = Field(default=0, ge=0, le=5)
    """0: no strength asked; else the strength is ``1..strength_levels``."""
    rationale: Literal["none", "optional", "required"] = "optional"


class RankingQuestion(_Question):
    """Order ``responses`` responses from best (1) to worst; ties allowed."""

    type: Literal["ranking"] = "ranking"
    responses: int = Field(ge=2, le=20)


class ResponseQuestion(_Question):
    """Write or edit an SFT answer (the record may carry a reference)."""

    type: Literal["response"] = "response"
    min_chars: int = Field(default=1, ge=0)
    max_chars: int = Field(default=32_000, ge=1)


class RefusalQuestion(_Question):
    """Should the model refuse? If so, under which policy category; optionally a rewrite."""

    type: Literal["refusal"] = "refusal"
    categories: tuple[str, ...] = Field(min_length=1)
    rewrite: Literal["none", "optional", "required"] = "optional"


class SpanQuestion(_Question):
    """Labelled character spans over one text field of the record."""

    type: Literal["span"] = "span"
    labels: tuple[str, ...] = Field(min_length=1)
    field: Literal["text", "prompt", "response"] = "text"


class TextQuestion(_Question):
    """A free comment."""

    type: Literal["text"] = "text"
    required: bool = False
    max_chars: int = Field(default=8_000, ge=1)


Question = Annotated[
    LabelQuestion
    | RatingQuestion
    | PreferenceQuestion
    | RankingQuestion
    | ResponseQuestion
    | RefusalQuestion
    | SpanQuestion
    | TextQuestion,
    Field(discriminator="type"),
]
QUESTION_TYPES = (
    "label",
    "rating",
    "preference",
    "ranking",
    "response",
    "refusal",
    "span",
    "text",
)


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


CATEGORICAL_TYPES = ("label", "rating", "preference", "ranking", "refusal")


def categorical_questions(schema: dict[str, Any]) -> set[str]:
    """Names of the questions whose answer is one of a few values (a schema in JSON form;
    multi-label questions excepted): the ones agreement and aggregation models apply to."""
    return {
        q["name"]
        for q in schema.get("questions", [])
        if q.get("type") in CATEGORICAL_TYPES and not q.get("multiple")
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
            if candidates and isinstance(question, PreferenceQuestion | RankingQuestion):
                value = _bind(question, value, list(candidates))
            normalised[question.name] = _CHECKS[question.type](question, value, texts or {})
        except _Bad as bad:
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


class _Bad(Exception):
    def __init__(self, message: str, allowed: str | None = None) -> None:
        self.message, self.allowed = message, allowed


CANDIDATE_TYPES = ("preference", "ranking")
"""Question types whose answers refer to a pairwise record's candidate responses."""
RECORD_BOUND = ("span", *CANDIDATE_TYPES)
"""Question types whose answers are checked against the record they answer."""


def _bind(q: PreferenceQuestion | RankingQuestion, value: Any, candidates: list[str]) -> Any:
    """Rewrite an answer naming candidates by id into letters (preference) or ranks in
    candidate order (ranking), checking every candidate it names exists."""
    letters = [chr(ord("A") + i) for i in range(len(candidates))]
    by_name = {**dict(zip(candidates, letters, strict=True)), **{x: x for x in letters}}
    named = ", ".join(dict.fromkeys([*letters, *candidates]))
    if isinstance(q, PreferenceQuestion):
        if len(candidates) != 2:
            raise _Bad(
                f"a preference compares two responses; this record has {len(candidates)} "
                "(use a ranking question)"
            )
        answer = {"choice": value} if isinstance(value, str) else value
        if not isinstance(answer, dict):
            return value
        choice = answer.get("choice")
        if choice in PREFERENCE_CHOICES[2:]:
            return answer
        if not isinstance(choice, str) or choice not in by_name:
            raise _Bad(
                f"choice {choice!r} is not a response of this record",
                f"{named}, {', '.join(PREFERENCE_CHOICES[2:])}",
            )
        return {**answer, "choice": by_name[choice]}
    if len(candidates) != q.responses:
        raise _Bad(f"this record has {len(candidates)} responses; the question ranks {q.responses}")
    if not isinstance(value, dict):
        return value
    ranks: dict[str, Any] = {}
    for key, rank in value.items():
        if key not in by_name:
            raise _Bad(f"{key!r} is not a response of this record", named)
        if by_name[key] in ranks:
            raise _Bad(f"response {by_name[key]} is ranked twice")
        ranks[by_name[key]] = rank
    missing = [x for x in letters if x not in ranks]
    if missing:
        raise _Bad(f"no rank for response(s) {', '.join(missing)}", named)
    return [ranks[x] for x in letters]


def _type_name(value: Any) -> str:
    return type(value).__name__


def _label(q: LabelQuestion, value: Any, _texts: dict[str, str]) -> Any:
    allowed = ", ".join(q.labels)
    if q.multiple:
        if not isinstance(value, list) or not value:
            raise _Bad(f"expected a non-empty list of labels, got {value!r}", allowed)
        wrong = [v for v in value if v not in q.labels]
        if wrong:
            raise _Bad(f"{wrong!r} not in the ontology", allowed)
        if len(set(value)) != len(value):
            raise _Bad("a label is given twice")
        return [label for label in q.labels if label in value]  # ontology order
    if not isinstance(value, str) or value not in q.labels:
        raise _Bad(f"{value!r} is not a label of this question", allowed)
    return value


def _rating(q: RatingQuestion, value: Any, _texts: dict[str, str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= q.points:
        raise _Bad(f"{value!r} is not on the scale", f"integers 1..{q.points}")
    return value


def _preference(q: PreferenceQuestion, value: Any, _texts: dict[str, str]) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"choice": value}
    if not isinstance(value, dict):
        raise _Bad(f"expected an object with 'choice', got {_type_name(value)}")
    extra = set(value) - {"choice", "strength", "rationale"}
    if extra:
        raise _Bad(f"unknown fields {sorted(extra)}", "choice, strength, rationale")
    choice = value.get("choice")
    if choice not in PREFERENCE_CHOICES:
        raise _Bad(f"choice {choice!r} is not allowed", ", ".join(PREFERENCE_CHOICES))
    out: dict[str, Any] = {"choice": choice}
    strength = value.get("strength")
    if q.strength_levels:
        if choice in ("A", "B"):
            if isinstance(strength, bool) or not isinstance(strength, int):
                raise _Bad("a strength is required", f"integers 1..{q.strength_levels}")
            if not 1 <= strength <= q.strength_levels:
                raise _Bad(f"strength {strength} is out of range", f"1..{q.strength_levels}")
            out["strength"] = strength
        elif strength is not None:
            raise _Bad(f"no strength with choice {choice!r}")
    elif strength is not None:
        raise _Bad("this question asks no strength")
    rationale = value.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise _Bad(f"rationale must be text, got {_type_name(rationale)}")
    if q.rationale == "required" and not (rationale or "").strip():
        raise _Bad("a rationale is required")
    if q.rationale == "none" and rationale:
        raise _Bad("this question takes no rationale")
    if rationale:
        out["rationale"] = rationale
    return out


def _ranking(q: RankingQuestion, value: Any, _texts: dict[str, str]) -> list[int]:
    allowed = f"{q.responses} integers from 1 (best); equal numbers are ties"
    if not isinstance(value, list) or len(value) != q.responses:
        raise _Bad(f"expected {q.responses} ranks, got {value!r}", allowed)
    if any(isinstance(r, bool) or not isinstance(r, int) for r in value):
        raise _Bad("ranks must be integers", allowed)
    ranks = sorted(set(value))
    if ranks != list(range(1, len(ranks) + 1)):
        raise _Bad(f"ranks {value} skip a place (use 1..k with no gaps)", allowed)
    return list(value)


def _response(q: ResponseQuestion, value: Any, _texts: dict[str, str]) -> dict[str, str]:
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise _Bad("expected the response text (a string or {'text': ...})")
    text = value["text"]
    if not q.min_chars <= len(text.strip()) <= q.max_chars:
        raise _Bad(f"{len(text.strip())} characters", f"{q.min_chars}..{q.max_chars}")
    return {"text": text}


def _refusal(q: RefusalQuestion, value: Any, _texts: dict[str, str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"expected an object with 'should_refuse', got {_type_name(value)}")
    extra = set(value) - {"should_refuse", "category", "rewritten"}
    if extra:
        raise _Bad(f"unknown fields {sorted(extra)}", "should_refuse, category, rewritten")
    should = value.get("should_refuse")
    if not isinstance(should, bool):
        raise _Bad(f"should_refuse must be true or false, got {should!r}")
    out: dict[str, Any] = {"should_refuse": should}
    category = value.get("category")
    if should:
        if category not in q.categories:
            raise _Bad(f"category {category!r} is not a policy category", ", ".join(q.categories))
        out["category"] = category
    elif category is not None:
        raise _Bad("a category goes only with should_refuse: true")
    rewritten = value.get("rewritten")
    if rewritten is not None and not isinstance(rewritten, str):
        raise _Bad(f"rewritten must be text, got {_type_name(rewritten)}")
    if q.rewrite == "required" and not (rewritten or "").strip():
        raise _Bad("a rewritten response is required")
    if q.rewrite == "none" and rewritten:
        raise _Bad("this question takes no rewritten response")
    if rewritten:
        out["rewritten"] = rewritten
    return out


def _span(q: SpanQuestion, value: Any, texts: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _Bad(f"expected a list of spans, got {_type_name(value)}")
    text = texts.get(q.field)
    out = []
    for i, span in enumerate(value):
        if not isinstance(span, dict) or set(span) != {"start", "end", "label"}:
            raise _Bad(f"span {i}: expected {{start, end, label}}, got {span!r}")
        start, end, label = span["start"], span["end"], span["label"]
        if label not in q.labels:
            raise _Bad(f"span {i}: label {label!r} is not allowed", ", ".join(q.labels))
        if any(isinstance(x, bool) or not isinstance(x, int) for x in (start, end)):
            raise _Bad(f"span {i}: start and end must be integers")
        limit = len(text) if text is not None else None
        if not 0 <= start < end or (limit is not None and end > limit):
            bounds = f"0 <= start < end <= {limit}" if limit is not None else "0 <= start < end"
            raise _Bad(f"span {i}: [{start}, {end}) is not inside the {q.field}", bounds)
        out.append({"start": start, "end": end, "label": label})
    return sorted(out, key=lambda s: (s["start"], s["end"], s["label"]))


def _text(q: TextQuestion, value: Any, _texts: dict[str, str]) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected text, got {_type_name(value)}")
    if len(value) > q.max_chars:
        raise _Bad(f"{len(value)} characters", f"at most {q.max_chars}")
    return value


_CHECKS: dict[str, Any] = {
    "label": _label,
    "rating": _rating,
    "preference": _preference,
    "ranking": _ranking,
    "response": _response,
    "refusal": _refusal,
    "span": _span,
    "text": _text,
}
