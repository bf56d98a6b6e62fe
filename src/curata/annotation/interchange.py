"""Converting a project to and from Label Studio's and Argilla's (v2) own formats.

Pure functions. Label Studio: a task holds ``data`` and ``annotations[]``, each with
``completed_by`` (a user id) and ``result`` items ``{"id", "from_name", "to_name", "type",
"value"}``, checked against a labeling config (XML) made from the schema by
:func:`labelstudio_config`. Argilla: the folder ``rg.Dataset.to_disk`` writes, with
``.argilla/settings.json`` (:func:`argilla_settings`), ``.argilla/dataset.json`` and
``records.json``, records ``{"id", "fields", "metadata", "responses": {question: [{"value",
"user_id"}]}, "suggestions", ...}``.

Question types with a native counterpart use it (label: Choices / label_selection or
multi_label_selection; rating: Rating / rating; text and response: TextArea / text; span:
Labels / span); preference, ranking and refusal, which neither tool has, travel as their Curata
JSON in a text answer, so that a round trip is exact.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from xml.sax.saxutils import quoteattr

from curata.annotation.schema import Schema

CURATA_JSON = "curata_json"
"""The result type older Curata exports used for answers kept as JSON (still read)."""
JSON_TYPES = ("preference", "ranking", "refusal")
"""Question types without a counterpart in either tool: their answers travel as JSON text."""
CONTENT_FIELDS = ("text", "prompt", "messages", "response", "responses")
"""Record content fields, in the order tools show them."""
USER_NAMESPACE = uuid.UUID("6f0c1d2e-5a4b-4c3d-9e8f-7a6b5c4d3e2f")


def argilla_user_id(name: str) -> str:
    """The Argilla user id (a UUID) standing for a Curata user: the same name, the same id."""
    return str(uuid.uuid5(USER_NAMESPACE, name))


def result_id(*parts: object) -> str:
    """A Label Studio result id: ten characters, the same for the same annotation and place."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:10]


def primary_field(fields: list[str]) -> str:
    """The content field whole-item questions point at (Label Studio's ``toName``)."""
    return next((f for f in CONTENT_FIELDS if f in fields and f != "responses"), "text")


# -- Label Studio ----------------------------------------------------------------------------


def labelstudio_config(schema: Schema, fields: list[str]) -> str:
    """The labeling config (XML) for a project: one object tag per content field present in
    ``fields``, one control tag per question."""
    present = [f for f in CONTENT_FIELDS if f in fields] or ["text"]
    main = primary_field(present)
    lines = ["<View>"]
    for name in present:
        if name == "messages":
            lines.append(
                '  <Paragraphs name="messages" value="$messages" layout="dialogue" '
                'nameKey="role" textKey="content"/>'
            )
        elif name == "responses":
            lines.append(
                '  <Paragraphs name="responses" value="$responses" nameKey="id" textKey="text"/>'
            )
        else:
            lines.append(f'  <Text name="{name}" value="${name}"/>')
    for q in schema.questions:
        attrs = f"name={quoteattr(q.name)} toName={quoteattr(main)}"
        if q.required:
            attrs += ' required="true"'
        if q.type == "label":
            choice = "multiple" if q.multiple else "single"
            lines.append(f'  <Choices {attrs} choice="{choice}">')
            lines += [f"    <Choice value={quoteattr(label)}/>" for label in q.labels]
            lines.append("  </Choices>")
        elif q.type == "rating":
            lines.append(f'  <Rating {attrs} maxRating="{q.points}"/>')
        elif q.type == "span":
            span_attrs = attrs.replace(f"toName={quoteattr(main)}", f"toName={quoteattr(q.field)}")
            lines.append(f"  <Labels {span_attrs}>")
            lines += [f"    <Label value={quoteattr(label)}/>" for label in q.labels]
            lines.append("  </Labels>")
        else:  # text, response, and the JSON types
            lines.append(f'  <TextArea {attrs} maxSubmissions="1"/>')
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def to_labelstudio_results(
    schema: Schema,
    answers: dict[str, Any],
    to_name: str,
    *,
    texts: dict[str, str] | None = None,
    annotation: object = "",
) -> list[dict[str, Any]]:
    """Label Studio ``result`` items for one annotation (``annotation`` seeds the result ids;
    ``texts`` gives a span its ``text``)."""
    results: list[dict[str, Any]] = []
    for q in schema.questions:
        if q.name not in answers:
            continue
        value = answers[q.name]
        base = {"id": result_id(annotation, q.name), "from_name": q.name, "to_name": to_name}
        if q.type == "label":
            labels = value if isinstance(value, list) else [value]
            results.append({**base, "type": "choices", "value": {"choices": labels}})
        elif q.type == "rating":
            results.append({**base, "type": "rating", "value": {"rating": value}})
        elif q.type in ("text", "response"):
            text = value["text"] if isinstance(value, dict) else value
            results.append({**base, "type": "textarea", "value": {"text": [text]}})
        elif q.type == "span":
            source = (texts or {}).get(q.field)
            for k, span in enumerate(value):
                region = {"start": span["start"], "end": span["end"], "labels": [span["label"]]}
                if source is not None:
                    region["text"] = source[span["start"] : span["end"]]
                results.append(
                    {
                        **base,
                        "id": result_id(annotation, q.name, k),
                        "to_name": q.field,
                        "type": "labels",
                        "value": region,
                    }
                )
        else:  # preference, ranking, refusal: their Curata JSON as text
            results.append({**base, "type": "textarea", "value": {"text": [json.dumps(value)]}})
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
        elif "text" in value:
            texts = value.get("text") or [""]
            text = texts[0] if isinstance(texts, list) else texts
            if q.type in JSON_TYPES:
                try:
                    answers[q.name] = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"question {q.name!r}: not Curata JSON ({exc.msg})") from None
            else:
                answers[q.name] = {"text": text} if q.type == "response" else text
        else:
            raise ValueError(f"question {q.name!r}: unsupported result type {item.get('type')!r}")
    return answers


# -- Argilla ---------------------------------------------------------------------------------


def _argilla_question(q: Any) -> dict[str, Any]:
    """One question of Argilla's settings (the shape ``Settings.serialize`` writes)."""
    if q.type == "label":
        kind = "multi_label_selection" if q.multiple else "label_selection"
        settings: dict[str, Any] = {
            "type": kind,
            "options": [{"text": label, "value": label} for label in q.labels],
            "visible_options": None,
        }
        if q.multiple:
            settings["options_order"] = "natural"
    elif q.type == "rating":
        kind = "rating"
        settings = {"type": kind, "options": [{"value": v} for v in range(1, q.points + 1)]}
    elif q.type == "span":
        kind = "span"
        settings = {
            "type": kind,
            "allow_overlapping": False,
            "field": q.field,
            "options": [{"text": label, "value": label} for label in q.labels],
            "visible_options": None,
        }
    else:
        kind = "text"
        settings = {"type": kind, "use_markdown": False}
    description = f"Curata {q.type} answer as JSON" if q.type in JSON_TYPES else (q.title or None)
    return {
        "id": None,
        "inserted_at": None,
        "updated_at": None,
        "name": q.name,
        "settings": settings,
        "title": q.title or q.name,
        "description": description,
        "required": q.required,
        "dataset_id": None,
        "type": kind,
    }


def _argilla_field(name: str, required: bool) -> dict[str, Any]:
    kind = "chat" if name == "messages" else "text"
    return {
        "id": None,
        "inserted_at": None,
        "updated_at": None,
        "name": name,
        "settings": {"type": kind, "use_markdown": kind == "chat"},
        "title": name,
        "required": required,
        "description": "candidate responses as JSON" if name == "responses" else None,
        "dataset_id": None,
        "type": kind,
    }


def argilla_settings(
    schema: Schema, fields: dict[str, bool], *, guidelines: str | None, overlap: int
) -> dict[str, Any]:
    """Argilla's ``.argilla/settings.json`` for a project: ``fields`` maps each content field
    present to whether every record has it."""
    return {
        "guidelines": guidelines or None,
        "questions": [_argilla_question(q) for q in schema.questions],
        "fields": [_argilla_field(name, fields[name]) for name in CONTENT_FIELDS if name in fields],
        "vectors": [],
        "metadata": [],
        "allow_extra_metadata": True,
        "distribution": {"strategy": "overlap", "min_submitted": overlap},
        "mapping": None,
    }


def argilla_dataset(name: str, *, guidelines: str | None) -> dict[str, Any]:
    """Argilla's ``.argilla/dataset.json`` (its ``DatasetModel``) for a project."""
    return {
        "id": None,
        "inserted_at": None,
        "updated_at": None,
        "name": name,
        "status": "ready",
        "guidelines": guidelines or None,
        "allow_extra_metadata": True,
        "distribution": None,
        "workspace_id": None,
        "last_activity_at": None,
    }


def argilla_fields(content: dict[str, Any]) -> dict[str, Any]:
    """A record's content as Argilla fields (candidates as JSON text)."""
    return {
        name: json.dumps(value, ensure_ascii=False) if name == "responses" else value
        for name, value in content.items()
        if value is not None
    }


def to_argilla_value(question_type: str, value: Any) -> Any:
    """An answer as an Argilla response value (Curata JSON text for types it lacks)."""
    if question_type in ("label", "rating", "text", "span"):
        return value
    if question_type == "response":
        return value["text"] if isinstance(value, dict) else value
    return json.dumps(value)


def from_argilla_value(question_type: str, value: Any) -> Any:
    """The inverse of :func:`to_argilla_value`."""
    if question_type in ("label", "rating", "text"):
        return value
    if question_type == "span" and isinstance(value, list):  # Argilla may add keys (text)
        return [
            {k: s.get(k) for k in ("start", "end", "label")} if isinstance(s, dict) else s
            for s in value
        ]
    if question_type == "span":
        return value
    if question_type == "response":
        return {"text": value}
    return json.loads(value) if isinstance(value, str) else value
