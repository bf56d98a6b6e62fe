"""The ``response`` question: write or edit an SFT answer."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from curata.questions.base import BadAnswer, QuestionType, Texts
from curata.stats.questions import Bootstrap, Rows, response_statistics
from curata.stats.typed import Encode


class ResponseQuestion(QuestionType):
    """Write or edit an SFT answer (the record may carry a reference)."""

    summary = "The written or edited answer text ({'text': ...} or a plain string)."
    order = 4
    json_interchange = False

    type: Literal["response"] = "response"
    min_chars: int = Field(default=1, ge=0, description="Fewest characters (spaces trimmed).")
    max_chars: int = Field(default=32_000, ge=1, description="Most characters (spaces trimmed).")

    def check(self, value: Any, texts: Texts) -> dict[str, str]:
        if isinstance(value, str):
            value = {"text": value}
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise BadAnswer("expected the response text (a string or {'text': ...})")
        text = value["text"]
        if not self.min_chars <= len(text.strip()) <= self.max_chars:
            raise BadAnswer(
                f"{len(text.strip())} characters", f"{self.min_chars}..{self.max_chars}"
            )
        return {"text": text}

    def _text(self, n: int) -> str:
        return f"answer {n}".ljust(self.min_chars, "x")[: self.max_chars]

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        return {"text": self._text(rng.randint(1, 999))}

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        said = truth.get("text", "") if isinstance(truth, dict) else str(truth)
        return {"text": self._text(len(said) + 1000)}

    def text_answer(self, text: str) -> Any:
        return {"text": text}

    @classmethod
    def to_argilla(cls, value: Any) -> Any:
        return value["text"] if isinstance(value, dict) else value

    @classmethod
    def from_argilla(cls, value: Any) -> Any:
        return {"text": value}

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
        return response_statistics(rows, boot, encode)
