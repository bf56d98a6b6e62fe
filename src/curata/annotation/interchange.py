"""Converting a project to and from Label Studio's and Argilla's (v2) own formats.

Pure functions. Label Studio: a task holds ``data`` and ``annotations[]``, each with
``completed_by`` (a user id) and ``result`` items ``{"id", "from_name", "to_name", "type",
"value"}``, checked against a labeling config (XML) made from the schema by
:func:`labelstudio_config`. Argilla: the folder ``rg.Dataset.to_disk`` writes, with
``.argilla/settings.json`` (:func:`argilla_settings`), ``.argilla/dataset.json`` and
``records.json``, records ``{"id", "fields", "metadata", "responses": {question: [{"value",
"user_id"}]}, "suggestions", ...}``.

Each question type says how its questions and answers map (:mod:`curata.questions`: the
``labelstudio_*``, ``*_labelstudio``, ``argilla_settings`` and ``*_argilla`` methods); this
module holds the file-level shapes. Types with a native counterpart use it (label: Choices /
label_selection or multi_label_selection; rating: Rating / rating; text and response: TextArea
/ text; span: Labels / span); preference, ranking and refusal, which neither tool has, travel as
their Curata JSON in a text answer, so that a round trip is exact.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import quoteattr

from curata.annotation.schema import Schema
from curata.questions import QuestionType, question_type
from curata.questions.base import result_id

CURATA_JSON = "curata_json"
"""The result type older Curata exports used for answers kept as JSON (still read)."""
CONTENT_FIELDS = ("text", "prompt", "messages", "response", "responses")
"""Record content fields, in the order tools show them."""
USER_NAMESPACE = uuid.UUID("6f0c1d2e-5a4b-4c3d-9e8f-7a6b5c4d3e2f")


def argilla_user_id(name: str) -> str:
    """The Argilla user id (a UUID) standing for a Curata user: the same name, the same id."""
    return str(uuid.uuid5(USER_NAMESPACE, name))


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
        lines += q.labelstudio_control(attrs, main)
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
        results += q.to_labelstudio(value, base, texts=texts or {}, annotation=annotation)
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
        answers[q.name] = q.from_labelstudio(item, answers.get(q.name))
    return answers


# -- Argilla ---------------------------------------------------------------------------------


def _argilla_question(q: QuestionType) -> dict[str, Any]:
    """One question of Argilla's settings (the shape ``Settings.serialize`` writes)."""
    settings = q.argilla_settings()
    kind = settings["type"]
    description = f"Curata {q.type} answer as JSON" if q.json_interchange else (q.title or None)
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


def to_argilla_value(question_type_name: str, value: Any) -> Any:
    """An answer as an Argilla response value (Curata JSON text for types it lacks)."""
    return question_type(question_type_name).to_argilla(value)


def from_argilla_value(question_type_name: str, value: Any) -> Any:
    """The inverse of :func:`to_argilla_value`."""
    return question_type(question_type_name).from_argilla(value)
