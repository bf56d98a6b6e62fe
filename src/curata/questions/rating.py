"""The ``rating`` question: a Likert rating on ``1..points``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from curata.questions.base import BadAnswer, QuestionType, Texts
from curata.stats.questions import (
    Rows,
    numeric_rows,
    rating_statistics,
    reliability_alpha,
)


class RatingQuestion(QuestionType):
    """A Likert rating on ``1..points`` with optional labelled anchors."""

    summary = "An integer on the scale 1..points, with optional labelled anchors."
    statistics = staticmethod(rating_statistics)
    order = 1
    example: ClassVar[dict[str, Any]] = {"points": 5}
    categorical = True
    answer_is_class = True
    json_interchange = False

    type: Literal["rating"] = "rating"
    points: int = Field(ge=2, le=11, description="The top of the scale 1..points (2-11).")
    anchors: dict[int, str] = Field(
        default_factory=dict, description="Labels of points of the scale ({1: 'bad', ...})."
    )

    @model_validator(mode="after")
    def _anchors_on_scale(self) -> RatingQuestion:
        outside = [k for k in self.anchors if not 1 <= k <= self.points]
        if outside:
            raise ValueError(f"anchors {outside} are outside the scale 1..{self.points}")
        return self

    def check(self, value: Any, texts: Texts) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.points:
            raise BadAnswer(f"{value!r} is not on the scale", f"integers 1..{self.points}")
        return value

    def classes(self) -> list[Any] | None:
        return list(range(1, self.points + 1))

    @classmethod
    def gate_alpha(cls, question: Mapping[str, Any], rows: Rows) -> tuple[float | None, str]:
        return reliability_alpha(numeric_rows(rows), "interval"), "interval"

    def labelstudio_control(self, attrs: str, main: str) -> list[str]:
        return [f'  <Rating {attrs} maxRating="{self.points}"/>']

    def to_labelstudio(
        self, value: Any, base: dict[str, Any], *, texts: Texts, annotation: object
    ) -> list[dict[str, Any]]:
        return [{**base, "type": "rating", "value": {"rating": value}}]

    def from_labelstudio(self, item: Mapping[str, Any], given: Any) -> Any:
        return (item.get("value") or {}).get("rating")

    def argilla_settings(self) -> dict[str, Any]:
        return {"type": "rating", "options": [{"value": v} for v in range(1, self.points + 1)]}

