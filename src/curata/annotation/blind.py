"""Blind judging: how an annotator sees a pairwise record's candidates, and how their answers
map back to the record.

An annotator sees each candidate as a letter and its text only: no id, no provenance (the
model that wrote it), and in an order drawn for the assignment, so neither a field nor a
position tells which model wrote which candidate. Answers name candidates by the letters shown;
:func:`to_record` rewrites them to the record's letters (which are what is stored, reviewed,
released and exported), and :func:`to_shown` rewrites a stored answer back for the annotator.

The order is a pure function of the record's content (provenance included, which the
annotator does not see) and the assignment id, so every server process draws the same order
for the same lease, and a resent or retried submission maps the same way.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any

from curata.annotation.schema import Schema
from curata.core.ids import canonical_json
from curata.core.records import response_letter


def shown_order(record: Mapping[str, Any], assignment_id: int) -> list[int] | None:
    """The record positions of the candidates in the order shown to the annotator of
    ``assignment_id`` (``order[k]`` is shown as letter k), or None for a record that is not
    pairwise. ``record`` is the record's full view (kind, content, metadata)."""
    responses = record.get("responses")
    if record.get("kind") != "pairwise" or not isinstance(responses, list):
        return None
    seed = hashlib.blake2b(
        f"{assignment_id}:{canonical_json(dict(record))}".encode("utf-8", "surrogatepass"),
        digest_size=16,
    ).digest()
    order = list(range(len(responses)))
    random.Random(int.from_bytes(seed, "little")).shuffle(order)
    return order


def blind_view(record: Mapping[str, Any], order: Sequence[int]) -> dict[str, Any]:
    """The record as its annotator sees it: candidates as ``{"letter", "text"}`` in ``order``."""
    responses = record["responses"]
    shown = [
        {"letter": response_letter(k), "text": responses[i]["text"]} for k, i in enumerate(order)
    ]
    return {**record, "responses": shown}


def to_record(schema: Schema, answers: Any, order: Sequence[int]) -> Any:
    """``answers`` as the annotator gave them (letters shown; a ranking's list in the order
    shown) with the candidates named by the record's letters and a ranking's list in record
    order. Anything else is left as it is, for the schema check to judge."""
    if not isinstance(answers, dict):
        return answers
    out = dict(answers)
    for q in schema.questions:
        value = out.get(q.name)
        if value is not None:
            out[q.name] = q.to_record(value, order)
    return out


def to_shown(schema: Schema, answers: dict[str, Any], order: Sequence[int]) -> dict[str, Any]:
    """Stored (checked) ``answers`` as their annotator gave them: the inverse of
    :func:`to_record` on normalised answers."""
    out = dict(answers)
    for q in schema.questions:
        value = out.get(q.name)
        if value is not None:
            out[q.name] = q.to_shown(value, order)
    return out
