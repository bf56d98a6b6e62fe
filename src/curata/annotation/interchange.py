"""Converting answers to and from Label Studio results and Argilla (v2, HF datasets) columns.

Pure functions. Label Studio's export format holds, per task, ``annotations[].result`` items
``{"from_name", "to_name", "type", "value"}``; Argilla's Hugging Face export holds, per record,
``<question>.responses`` and ``<question>.responses.users`` lists. Question types with a native
counterpart use it (choices, rating, textarea, labels; Argilla label_selection,
multi_label_selection, rating, text, span); preference, ranking and refusal, which neither tool
has, travel as their Curata JSON so that a round trip is exact.
"""

from __future__ import annotations

import json
from typing import Any

from curata.annotation.schema import Schema

CURATA_JSON = "curata_json"


def to_labelstudio_results(
    schema: Schema, answers: dict[str, Any], to_name: str
) -> list[dict[str, Any]]:
    """Label Studio ``result`` items for one annotation."""
    results: list[dict[str, Any]] = []
    for q in schema.questions:
        if q.name not in answers:
            continue
        value = answers[q.name]
        base = {"from_name": q.name, "to_name": to_name}
        if q.type == "label":
            labels = value if isinstance(value, list) else [value]
            results.append({**base, "type": "choices", "value": {"choices": labels}})
        elif q.type == "rating":
            results.append({**base, "type": "rating", "value": {"rating": value}})
        elif q.type in ("text", "response"):
            text = value["text"] if isinstance(value, dict) else value
            results.append({**base, "type": "textarea", "value": {"text": [text]}})
        elif q.type == "span":
            for span in value:
                results.append(
                    {
                        **base,
                        "type": "labels",
                        "value": {
                            "start": span["start"],
                            "end": span["end"],
                            "labels": [span["label"]],
                        },
                    }
                )
        else:  # preference, ranking, refusal: no Label Studio counterpart
            results.append({**base, "type": CURATA_JSON, "value": {"json": json.dumps(value)}})
    return results


def from_labelstudio_results(schema: Schema, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers from Label Studio ``result`` items (the inverse of the function above)."""
    answers: dict[str, Any] = {}
    questions = {q.name: q for q in schema.questions}
    for item in results:
        name = item.get("from_name")
        q = questions.get(name)  # type: ignore[arg-type]
        if q is None:
            raise ValueError(f"result for unknown question {name!r}")
        value = item.get("value") or {}
        if q.type == "label":
            choices = value.get("choices") or []
            answers[q.name] = choices if q.multiple else (choices[0] if choices else None)
        elif q.type == "rating":
            answers[q.name] = value.get("rating")
        elif q.type in ("text", "response"):
            texts = value.get("text") or [""]
            text = texts[0] if isinstance(texts, list) else texts
            answers[q.name] = {"text": text} if q.type == "response" else text
        elif q.type == "span":
            answers.setdefault(q.name, []).append(
                {
                    "start": value.get("start"),
                    "end": value.get("end"),
                    "label": (value.get("labels") or [None])[0],
                }
            )
        elif "json" in value:
            answers[q.name] = json.loads(value["json"])
        else:
            raise ValueError(f"question {q.name!r}: unsupported result type {item.get('type')!r}")
    return answers


def to_argilla_value(question_type: str, value: Any) -> Any:
    """An answer as Argilla's HF export holds it (Curata JSON text for types it lacks)."""
    if question_type in ("label", "rating", "text", "span"):
        return value
    if question_type == "response":
        return value["text"] if isinstance(value, dict) else value
    return json.dumps(value)


def from_argilla_value(question_type: str, value: Any) -> Any:
    """The inverse of :func:`to_argilla_value`."""
    if question_type in ("label", "rating", "text", "span"):
        return value
    if question_type == "response":
        return {"text": value}
    return json.loads(value) if isinstance(value, str) else value
