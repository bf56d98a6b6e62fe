"""The ``label`` question: classification with an ontology that can grow."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from xml.sax.saxutils import quoteattr

from pydantic import Field, field_validator

from curata.questions.base import BadAnswer, QuestionType, Texts
from curata.stats.questions import Rows, label_statistics, reliability_alpha


class LabelQuestion(QuestionType):
    """Classification with an ontology that can grow (add labels in a new schema version)."""

    summary = "One label from an ontology, or a list of distinct labels (multiple)."
    statistics = staticmethod(label_statistics)
    order = 0
    example: ClassVar[dict[str, Any]] = {"labels": ["billing", "shipping", "other"]}
    categorical = True
    answer_is_class = True  # a single label; a multi-label question has no classes()
    json_interchange = False

    type: Literal["label"] = "label"
    labels: tuple[str, ...] = Field(min_length=1, description="The ontology, in order.")
    multiple: bool = Field(False, description="Whether an answer is a list of distinct labels.")

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("labels must be distinct")
        return value

    def check(self, value: Any, texts: Texts) -> Any:
        allowed = ", ".join(self.labels)
        if self.multiple:
            if not isinstance(value, list) or not value:
                raise BadAnswer(f"expected a non-empty list of labels, got {value!r}", allowed)
            wrong = [v for v in value if v not in self.labels]
            if wrong:
                raise BadAnswer(f"{wrong!r} not in the ontology", allowed)
            if len(set(value)) != len(value):
                raise BadAnswer("a label is given twice")
            return [label for label in self.labels if label in value]  # ontology order
        if not isinstance(value, str) or value not in self.labels:
            raise BadAnswer(f"{value!r} is not a label of this question", allowed)
        return value

    @classmethod
    def categorical_in(cls, question: Mapping[str, Any]) -> bool:
        return not question.get("multiple")  # a set of labels is not one of a few values

    def classes(self) -> list[Any] | None:
        return None if self.multiple else list(self.labels)

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        if not self.multiple:
            return rng.choice(self.labels)
        chosen = {label for label in self.labels if rng.random() < 0.5} or {rng.choice(self.labels)}
        return [label for label in self.labels if label in chosen]

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        if not self.multiple:
            return super().mistake(truth, rng, texts)
        flip = rng.choice(self.labels)
        chosen = set(truth) ^ {flip}
        if not chosen:  # the only label chosen was dropped: choose another instead
            others = [label for label in self.labels if label != flip]
            if not others:
                return truth
            chosen = {rng.choice(others)}
        return [label for label in self.labels if label in chosen]

    @classmethod
    def gate_alpha(cls, question: Mapping[str, Any], rows: Rows) -> tuple[float | None, str]:
        if question.get("multiple"):
            return super().gate_alpha(question, rows)
        return reliability_alpha(rows, "nominal"), "nominal"

    def labelstudio_control(self, attrs: str, main: str) -> list[str]:
        choice = "multiple" if self.multiple else "single"
        return [
            f'  <Choices {attrs} choice="{choice}">',
            *(f"    <Choice value={quoteattr(label)}/>" for label in self.labels),
            "  </Choices>",
        ]

    def to_labelstudio(
        self, value: Any, base: dict[str, Any], *, texts: Texts, annotation: object
    ) -> list[dict[str, Any]]:
        labels = value if isinstance(value, list) else [value]
        return [{**base, "type": "choices", "value": {"choices": labels}}]

    def from_labelstudio(self, item: Mapping[str, Any], given: Any) -> Any:
        choices = (item.get("value") or {}).get("choices") or []
        return choices if self.multiple else (choices[0] if choices else None)

    def argilla_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "type": "multi_label_selection" if self.multiple else "label_selection",
            "options": [{"text": label, "value": label} for label in self.labels],
            "visible_options": None,
        }
        if self.multiple:
            settings["options_order"] = "natural"
        return settings

