"""The ``refusal`` question: should the model refuse, under which policy, with what rewrite."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from curata.questions.base import BadAnswer, QuestionType, Texts, policed_text, type_name
from curata.stats.questions import Rows, refusal_statistics, reliability_alpha


class RefusalQuestion(QuestionType):
    """Should the model refuse? If so, under which policy category; optionally a rewrite."""

    summary = "Whether the model should refuse, the policy category if so, and a rewrite."
    statistics = staticmethod(refusal_statistics)
    order = 5
    example: ClassVar[dict[str, Any]] = {"categories": ["harm", "privacy"]}
    categorical = True

    type: Literal["refusal"] = "refusal"
    categories: tuple[str, ...] = Field(min_length=1, description="The policy categories.")
    rewrite: Literal["none", "optional", "required"] = Field(
        "optional", description="Whether a rewritten response is refused, optional or required."
    )

    def check(self, value: Any, texts: Texts) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadAnswer(f"expected an object with 'should_refuse', got {type_name(value)}")
        extra = set(value) - {"should_refuse", "category", "rewritten"}
        if extra:
            raise BadAnswer(f"unknown fields {sorted(extra)}", "should_refuse, category, rewritten")
        should = value.get("should_refuse")
        if not isinstance(should, bool):
            raise BadAnswer(f"should_refuse must be true or false, got {should!r}")
        out: dict[str, Any] = {"should_refuse": should}
        category = value.get("category")
        if should:
            if category not in self.categories:
                raise BadAnswer(
                    f"category {category!r} is not a policy category", ", ".join(self.categories)
                )
            out["category"] = category
        elif category is not None:
            raise BadAnswer("a category goes only with should_refuse: true")
        rewritten = policed_text(
            value.get("rewritten"), self.rewrite, field="rewritten", noun="rewritten response"
        )
        if rewritten:
            out["rewritten"] = rewritten
        return out

    def classes(self) -> list[Any] | None:
        """The decisions (comply, or refuse under each category), without a rewrite."""
        return [
            {"should_refuse": False},
            *({"should_refuse": True, "category": c} for c in self.categories),
        ]

    def _rewritten(self, answer: Any) -> Any:
        if self.rewrite == "required" and isinstance(answer, dict):
            return {**answer, "rewritten": "simulated rewrite"}
        return answer

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        return self._rewritten(super().draw(rng, texts))

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        decided = {k: v for k, v in truth.items() if k != "rewritten"}
        return self._rewritten(super().mistake(decided, rng, texts))

    @classmethod
    def gate_alpha(cls, question: Mapping[str, Any], rows: Rows) -> tuple[float | None, str]:
        decisions = [(i, a, v["should_refuse"]) for i, a, v in rows if isinstance(v, Mapping)]
        return reliability_alpha(decisions, "nominal"), "nominal"
