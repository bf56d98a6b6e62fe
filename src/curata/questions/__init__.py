"""Question types as plugins: one class per type, found through ``curata.question_types``.

Each type (:mod:`curata.questions.label`, ``rating``, ``preference``, ``ranking``,
``response``, ``refusal``, ``span``, ``text``) is a pydantic model of a question's
configuration and a :class:`~curata.core.plugins.Plugin` (:class:`QuestionType`): adding a type
is one module and one entry point. A schema's questions are the registered types
(:mod:`curata.annotation.schema`); agreement dispatches through them
(:mod:`curata.questions.agreement`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from curata.core.errors import ValidationError
from curata.core.plugins import Registry
from curata.questions.base import BadAnswer, QuestionType
from curata.questions.label import LabelQuestion
from curata.questions.preference import PreferenceQuestion
from curata.questions.ranking import RankingQuestion
from curata.questions.rating import RatingQuestion
from curata.questions.refusal import RefusalQuestion
from curata.questions.response import ResponseQuestion
from curata.questions.span import SpanQuestion
from curata.questions.text import TextQuestion

QUESTION_TYPES: Registry[type[QuestionType]] = Registry(
    "curata.question_types", QuestionType, "question type"
)


def question_types() -> dict[str, type[QuestionType]]:
    """Every registered question type by name, in listing order (built-ins first)."""
    return _ordered()


@cache
def _ordered() -> dict[str, type[QuestionType]]:
    return dict(sorted(QUESTION_TYPES.load().items(), key=lambda kv: (kv[1].order, kv[0])))


def question_type(name: str | None) -> type[QuestionType]:
    """The type called ``name``; unknown (or no) name: the base, whose behaviour is the
    default one (whole answers, no agreement statistic)."""
    return QUESTION_TYPES.load().get(name or "", QuestionType)


def parse_question(question: Mapping[str, Any]) -> QuestionType:
    """A question in its JSON form (a schema's entry) as its type's model."""
    kind = question.get("type")
    if not isinstance(kind, str):
        raise ValidationError(f"question {question.get('name')!r}: no type")
    return QUESTION_TYPES.get(kind).model_validate(question)


__all__ = [
    "QUESTION_TYPES",
    "BadAnswer",
    "LabelQuestion",
    "PreferenceQuestion",
    "QuestionType",
    "RankingQuestion",
    "RatingQuestion",
    "RefusalQuestion",
    "ResponseQuestion",
    "SpanQuestion",
    "TextQuestion",
    "parse_question",
    "question_type",
    "question_types",
]
