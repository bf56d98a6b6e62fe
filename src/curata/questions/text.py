"""The ``text`` question: a free comment."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from curata.questions.base import BadAnswer, QuestionType, Texts, type_name
from curata.stats.questions import NO_STATISTIC, Bootstrap, Rows
from curata.stats.typed import Encode


class TextQuestion(QuestionType):
    """A free comment."""

    summary = "A free comment (optional by default); it has no agreement statistic."
    order = 7
    json_interchange = False

    type: Literal["text"] = "text"
    required: bool = Field(False, description="Whether every answer set must answer it.")
    max_chars: int = Field(default=8_000, ge=1, description="Most characters.")

    def check(self, value: Any, texts: Texts) -> str:
        if not isinstance(value, str):
            raise BadAnswer(f"expected text, got {type_name(value)}")
        if len(value) > self.max_chars:
            raise BadAnswer(f"{len(value)} characters", f"at most {self.max_chars}")
        return value

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        return f"comment {rng.randint(1, 999)}"[: self.max_chars]

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        other = self.draw(rng, texts)
        return other if other != truth else ""

    @classmethod
    def agreement(
        cls,
        question: Mapping[str, Any],
        rows: Rows,
        boot: Bootstrap,
        *,
        texts: Mapping[str, str] | None = None,
        encode: Encode | None = None,
    ) -> dict[str, Any]:
        return {"statistics": [], "skipped": NO_STATISTIC}
