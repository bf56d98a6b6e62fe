"""Turning raw objects into Records: which fields hold the content, the rest is metadata."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from dataclasses import dataclass
from typing import Any

from curata.core.errors import InputError
from curata.core.records import (
    RESERVED_FIELDS,
    Record,
    RecordShapeError,
    check_messages,
    check_responses,
)
from curata.sourcing.readers.base import RawItem, too_long


@dataclass(frozen=True)
class FieldMap:
    """Which fields of an input object hold the record's content.

    Give one of ``text``, ``messages``, ``prompt``+``response``, or ``responses`` with
    ``prompt`` or ``messages``; with none, the kind is detected from each object's fields
    (``responses`` with ``prompt`` or ``messages`` → pairwise, ``messages`` → chat, ``prompt``
    with ``response`` or ``completion`` → pair, ``text`` → text).
    """

    text: str | None = None
    messages: str | None = None
    prompt: str | None = None
    response: str | None = None
    responses: str | None = None

    def validate(self) -> None:
        if self.responses:
            if self.text or self.response or bool(self.prompt) == bool(self.messages):
                raise InputError(
                    "candidate responses go with one prompt field: a prompt or a messages field"
                )
            return
        given = [n for n in ("text", "messages", "prompt", "response") if getattr(self, n)]
        if (self.text and len(given) > 1) or (self.messages and len(given) > 1):
            raise InputError(
                "give only one of --text-field, --messages-field or --prompt-field/--response-field"
            )
        if bool(self.prompt) != bool(self.response):
            raise InputError("--prompt-field and --response-field go together")

    @property
    def kind(self) -> str | None:
        if self.responses:
            return "pairwise"
        if self.text:
            return "text"
        if self.messages:
            return "chat"
        if self.prompt:
            return "pair"
        return None

    def detect(self, item: RawItem, previous: FieldMap | None = None) -> FieldMap:
        """Resolve an automatic map from an object's own fields (files may mix kinds).

        ``previous`` is the map of the file's earlier records: when an object has none of the
        known fields, the error names the field those records had.
        """
        if self.kind is not None:
            return self
        keys = item.value.keys()
        if "responses" in keys and "text" not in keys:
            if "messages" in keys and "prompt" not in keys:
                return FieldMap(messages="messages", responses="responses")
            return FieldMap(prompt="prompt", responses="responses")
        if previous is not None and previous.kind == "pairwise":
            raise InputError(
                "missing (the file's earlier records are pairwise: a prompt and its candidate "
                "responses)",
                field=previous.responses,
                where=item.where,
            )
        if "messages" in keys:
            return FieldMap(messages="messages")
        if "prompt" in keys:
            for response in ("response", "completion"):
                if response in keys:
                    return FieldMap(prompt="prompt", response=response)
        if "text" in keys:
            return FieldMap(text="text")
        fields = ", ".join(sorted(keys)[:20]) or "none"
        if previous is not None:
            expected = previous.content_fields()
            raise InputError(
                f"missing (every record needs it, or 'messages' / 'prompt'+'response'); "
                f"this record has: {fields}",
                field=expected[0],
                where=item.where,
            )
        raise InputError(
            "cannot tell the record kind: no 'text', 'messages' or 'prompt'+'response' field "
            f"(fields: {fields}); name one with --text-field, --messages-field or "
            "--prompt-field/--response-field",
            where=item.where,
        )

    def content_fields(self) -> tuple[str, ...]:
        fields = (self.text, self.messages, self.prompt, self.response, self.responses)
        return tuple(f for f in fields if f)

    def to_record(self, item: RawItem, *, max_record_bytes: int) -> Record:
        """Build the record for one object, or raise an error naming the place and field."""
        value = item.value
        content_fields = self.content_fields()
        try:
            metadata = {
                k: jsonable(v, k)
                for k, v in value.items()
                if k not in content_fields and k not in RESERVED_FIELDS
            }
            if self.kind == "text":
                record = Record.from_text(_string(value, self.text), metadata)
            elif self.kind == "pairwise":
                context: str | list[dict[str, Any]] = (
                    _string(value, self.prompt) if self.prompt else _messages(value, self.messages)
                )
                record = Record.from_pairwise(context, _responses(value, self.responses), metadata)
            elif self.kind == "pair":
                record = Record.from_pair(
                    _string(value, self.prompt), _string(value, self.response), metadata
                )
            else:
                record = Record.from_messages(_messages(value, self.messages), metadata)
            canonical = record.canonical()
        except RecordShapeError as exc:
            raise InputError(exc.problem, field=exc.field_path, where=item.where) from None
        except _FieldProblem as exc:
            raise InputError(exc.problem, field=exc.field, where=item.where) from None
        except ValueError as exc:  # NaN / infinity: no canonical JSON form
            raise InputError(f"{exc}", where=item.where) from None
        size = len(canonical.encode("utf-8"))
        if size > max_record_bytes:
            raise too_long(size, max_record_bytes, item.where)
        return record


class _FieldProblem(Exception):
    def __init__(self, problem: str, field: str) -> None:
        self.problem, self.field = problem, field


def _string(value: dict[str, Any], name: str | None) -> str:
    assert name is not None
    if name not in value or value[name] is None:
        raise _FieldProblem("missing (every record needs it)", name)
    text = value[name]
    if not isinstance(text, str):
        raise _FieldProblem(f"expected a string, got {type(text).__name__}", name)
    return text


def _messages(value: dict[str, Any], name: str | None) -> list[dict[str, Any]]:
    assert name is not None
    if name not in value or value[name] is None:
        raise _FieldProblem("missing (every record needs it)", name)
    messages = value[name]
    if isinstance(messages, str):  # CSV cells carry the list as JSON text
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError as exc:
            raise _FieldProblem(f"not a JSON list of messages: {exc.msg}", name) from None
    try:
        check_messages(messages)
    except RecordShapeError as exc:
        path = exc.field_path.replace("messages", name, 1)
        raise _FieldProblem(exc.problem, path) from None
    return [{k: jsonable(v, f"{name}.{k}") for k, v in m.items()} for m in messages]


def _responses(value: dict[str, Any], name: str | None) -> list[Any]:
    assert name is not None
    if name not in value or value[name] is None:
        raise _FieldProblem("missing (every record needs it)", name)
    responses = value[name]
    if isinstance(responses, str):  # CSV cells carry the list as JSON text
        try:
            responses = json.loads(responses)
        except json.JSONDecodeError as exc:
            raise _FieldProblem(f"not a JSON list of responses: {exc.msg}", name) from None
    try:
        checked = check_responses(responses)
    except RecordShapeError as exc:
        raise _FieldProblem(exc.problem, exc.field_path.replace("responses", name, 1)) from None
    return [jsonable(r, f"{name}[{i}]") for i, r in enumerate(checked)]


def jsonable(value: Any, path: str) -> Any:
    """Turn a value read from a file into plain JSON (dates → ISO text, bytes → base64)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _FieldProblem(f"{value} has no JSON form", path)
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise _FieldProblem(f"unsupported value of type {type(value).__name__}", path)
