"""The ``span`` question: labelled character spans over one text field of the record."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from xml.sax.saxutils import quoteattr

from pydantic import Field

from curata.questions.base import BadAnswer, QuestionType, Texts, result_id, type_name
from curata.stats.questions import Bootstrap, Rows, span_statistics
from curata.stats.typed import Encode


class SpanQuestion(QuestionType):
    """Labelled character spans over one text field of the record."""

    summary = "Labelled character spans over the record's text, prompt or response."
    order = 6
    example: ClassVar[dict[str, Any]] = {"labels": ["PER", "ORG"]}
    record_bound = True
    agreement_reads_text = True
    json_interchange = False

    type: Literal["span"] = "span"
    labels: tuple[str, ...] = Field(min_length=1, description="The span labels.")
    field: Literal["text", "prompt", "response"] = Field(
        "text", description="The record field the offsets point into."
    )

    def check(self, value: Any, texts: Texts) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise BadAnswer(f"expected a list of spans, got {type_name(value)}")
        text = texts.get(self.field)
        out = []
        for i, span in enumerate(value):
            if not isinstance(span, dict) or set(span) != {"start", "end", "label"}:
                raise BadAnswer(f"span {i}: expected {{start, end, label}}, got {span!r}")
            start, end, label = span["start"], span["end"], span["label"]
            if label not in self.labels:
                raise BadAnswer(f"span {i}: label {label!r} is not allowed", ", ".join(self.labels))
            if any(isinstance(x, bool) or not isinstance(x, int) for x in (start, end)):
                raise BadAnswer(f"span {i}: start and end must be integers")
            limit = len(text) if text is not None else None
            if not 0 <= start < end or (limit is not None and end > limit):
                bounds = f"0 <= start < end <= {limit}" if limit is not None else "0 <= start < end"
                raise BadAnswer(
                    f"span {i}: [{start}, {end}) is not inside the {self.field}", bounds
                )
            out.append({"start": start, "end": end, "label": label})
        return sorted(out, key=lambda s: (s["start"], s["end"], s["label"]))

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        size = len((texts or {}).get(self.field) or "")
        if size == 0:
            return []
        start = rng.randrange(size)
        return [
            {"start": start, "end": rng.randint(start + 1, size), "label": rng.choice(self.labels)}
        ]

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        if truth:  # one span missed
            missed = rng.randrange(len(truth))
            return [s for k, s in enumerate(truth) if k != missed]
        return self.draw(rng, texts)

    def labelstudio_control(self, attrs: str, main: str) -> list[str]:
        span_attrs = attrs.replace(f"toName={quoteattr(main)}", f"toName={quoteattr(self.field)}")
        return [
            f"  <Labels {span_attrs}>",
            *(f"    <Label value={quoteattr(label)}/>" for label in self.labels),
            "  </Labels>",
        ]

    def to_labelstudio(
        self, value: Any, base: dict[str, Any], *, texts: Texts, annotation: object
    ) -> list[dict[str, Any]]:
        source = texts.get(self.field)
        results = []
        for k, span in enumerate(value):
            region = {"start": span["start"], "end": span["end"], "labels": [span["label"]]}
            if source is not None:
                region["text"] = source[span["start"] : span["end"]]
            results.append(
                {
                    **base,
                    "id": result_id(annotation, self.name, k),
                    "to_name": self.field,
                    "type": "labels",
                    "value": region,
                }
            )
        return results

    def from_labelstudio(self, item: Mapping[str, Any], given: Any) -> Any:
        value = item.get("value") or {}
        span = {
            "start": value.get("start"),
            "end": value.get("end"),
            "label": (value.get("labels") or [None])[0],
        }
        return [*(given or []), span]

    def argilla_settings(self) -> dict[str, Any]:
        return {
            "type": "span",
            "allow_overlapping": False,
            "field": self.field,
            "options": [{"text": label, "value": label} for label in self.labels],
            "visible_options": None,
        }

    @classmethod
    def to_argilla(cls, value: Any) -> Any:
        return value

    @classmethod
    def from_argilla(cls, value: Any) -> Any:
        if isinstance(value, list):  # Argilla may add keys (text)
            return [
                {k: s.get(k) for k in ("start", "end", "label")} if isinstance(s, dict) else s
                for s in value
            ]
        return value

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
        return span_statistics(question, rows, boot, texts)
