"""Checking the answers of a task: the one function every way in goes through.

An annotator's submit, a reviewer's fix, an adjudication, a gold or calibration import and a
label import all check answers by :func:`check_answers`, against the schema *and* the item's
record: span offsets must lie inside the text they point into, and a preference or ranking
must name candidates the record has. A caller that forgot the record used to check spans
against no text at all and preferences against no candidates; here the record is required.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from curata.annotation import blind
from curata.annotation.schema import Schema, validate_answers
from curata.core.records import Record, response_letter

RecordView = Mapping[str, Any]
"""A record as the queue serves it: ``kind``, the content fields (``text``, ``prompt``,
``response``, ``messages``, ``responses``) and ``metadata``."""


class Checked(NamedTuple):
    """Answers that fit the schema and the record, in the record's terms (the record's
    letters for candidates), and ``shown``: the blind order they were given in, or None."""

    answers: dict[str, Any]
    shown: list[int] | None


def record_view(record: Record) -> dict[str, Any]:
    """A stored record as :func:`check_answers` (and the queue) read it."""
    return {"kind": record.kind, **record.content(), "metadata": record.metadata}


def needs_record(schema: Schema) -> bool:
    """Whether any answer of ``schema`` is checked against the record (spans, preferences,
    rankings): where it is not, the record need not be read at all."""
    return any(q.record_bound for q in schema.questions)


def check_answers(
    schema: Schema,
    answers: Any,
    record: RecordView | Callable[[], RecordView],
    *,
    blind_for: int | None = None,
) -> Checked:
    """Check ``answers`` against ``schema`` and the item's ``record``; raise
    :class:`~curata.annotation.schema.AnswerError` naming every problem.

    ``record`` is the record's view, or a function giving it: called only where the schema
    has a question bound to the record, so a caller whose record costs a read pays it only
    then. With ``blind_for`` (an assignment id) the answers are an annotator's, naming a
    pairwise record's candidates by the letters shown to that assignment
    (:mod:`curata.annotation.blind`): they are mapped to the record's letters before the
    check, and only letters are accepted (an annotator never sees the candidates' ids)."""
    if not needs_record(schema):
        return Checked(validate_answers(schema, answers), None)
    view = record() if callable(record) else record
    texts = {k: v for k, v in view.items() if k != "kind" and isinstance(v, str)}
    responses = view.get("responses")
    candidates = [r["id"] for r in responses] if isinstance(responses, list) else []
    shown = None if blind_for is None else blind.shown_order(view, blind_for)
    if shown is not None:
        answers = blind.to_record(schema, answers, shown)
        candidates = [response_letter(i) for i in range(len(shown))]
    checked = validate_answers(schema, answers, texts=texts, candidates=candidates)
    return Checked(checked, shown)


def shown_answers(schema: Schema, checked: Checked) -> dict[str, Any]:
    """Checked answers as their annotator gave them (the blind letters shown), for replies."""
    if checked.shown is None:
        return checked.answers
    return blind.to_shown(schema, checked.answers, checked.shown)
