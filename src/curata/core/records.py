"""Records: one unit of training data (text, chat messages, or a prompt/response pair)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from curata.core.ids import canonical_json, content_id

RecordKind = Literal["text", "chat", "pair"]
RECORD_KINDS: tuple[RecordKind, ...] = ("text", "chat", "pair")
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
RESERVED_FIELDS = frozenset({"curata_id"})
"""Written into exports and ignored on ingest, so an export re-ingests to the same ids."""


class RecordShapeError(ValueError):
    """A record's content does not have the shape its kind requires (message names the field)."""

    def __init__(self, problem: str, field_path: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.field_path = field_path


@dataclass(frozen=True, slots=True)
class Record:
    """One unit of data; its id is the hash of its canonical content and metadata.

    The canonical form, the metadata JSON and the id are computed once and cached (ingest
    needs all three for every record).
    """

    kind: RecordKind
    text: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    response: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_text(cls, text: str, metadata: dict[str, Any] | None = None) -> Record:
        """Build a text record."""
        return cls(kind="text", text=text, metadata=metadata or {})

    @classmethod
    def from_messages(
        cls, messages: list[dict[str, Any]], metadata: dict[str, Any] | None = None
    ) -> Record:
        """Build a chat record from OpenAI-style ``messages`` (role/content, multi-turn)."""
        check_messages(messages)
        return cls(kind="chat", messages=messages, metadata=metadata or {})

    @classmethod
    def from_pair(
        cls, prompt: str, response: str, metadata: dict[str, Any] | None = None
    ) -> Record:
        """Build a prompt/response record."""
        return cls(kind="pair", prompt=prompt, response=response, metadata=metadata or {})

    def content(self) -> dict[str, Any]:
        """Return the kind-specific content fields (without metadata)."""
        if self.kind == "text":
            return {"text": self.text}
        if self.kind == "chat":
            return {"messages": self.messages}
        return {"prompt": self.prompt, "response": self.response}

    @property
    def metadata_json(self) -> str:
        """The metadata as canonical JSON."""
        cached = self._cache.get("metadata")
        if cached is None:
            cached = self._cache["metadata"] = canonical_json(self.metadata)
        return cached

    def _messages_json(self) -> str | None:
        if self.messages is None:
            return None
        cached = self._cache.get("messages")
        if cached is None:
            cached = self._cache["messages"] = canonical_json(self.messages)
        return cached

    def canonical(self) -> str:
        """Return the canonical JSON whose hash is the record id."""
        cached = self._cache.get("canonical")
        if cached is None:
            # Equal to canonical_json({"kind": …, **content, "metadata": …}): the top-level
            # keys are written in sorted order from their already canonical values.
            meta = self.metadata_json
            if self.kind == "text":
                body = f'"kind":"text","metadata":{meta},"text":{canonical_json(self.text)}'
            elif self.kind == "chat":
                body = f'"kind":"chat","messages":{self._messages_json()},"metadata":{meta}'
            else:
                prompt, response = canonical_json(self.prompt), canonical_json(self.response)
                body = f'"kind":"pair","metadata":{meta},"prompt":{prompt},"response":{response}'
            cached = self._cache["canonical"] = "{" + body + "}"
        return cached

    @property
    def id(self) -> str:
        """The stable content id (see :func:`curata.core.ids.content_id`)."""
        cached = self._cache.get("id")
        if cached is None:
            cached = self._cache["id"] = content_id(self.canonical())
        return cached

    def to_row(self) -> dict[str, Any]:
        """Return the columnar row stored in the record store."""
        return {
            "kind": self.kind,
            "text": self.text,
            "messages": self._messages_json(),
            "prompt": self.prompt,
            "response": self.response,
            "metadata": self.metadata_json,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Record:
        """Rebuild a record from a stored row (the inverse of :meth:`to_row`)."""
        messages = row.get("messages")
        return cls(
            kind=row["kind"],
            text=row.get("text"),
            messages=None if messages is None else json.loads(messages),
            prompt=row.get("prompt"),
            response=row.get("response"),
            metadata=json.loads(row.get("metadata") or "{}"),
        )

    def to_flat(self) -> dict[str, Any]:
        """Return content and metadata side by side, the shape users ingest and export."""
        return {**self.metadata, **self.content()}

    def size(self) -> int:
        """Payload size in bytes (UTF-8 length of the canonical form)."""
        return len(self.canonical().encode("utf-8"))


def check_messages(messages: Any) -> None:
    """Check the OpenAI ``messages`` shape; raise :class:`RecordShapeError` naming the path."""
    if not isinstance(messages, list):
        raise RecordShapeError(
            f"expected a list of messages, got {type(messages).__name__}", "messages"
        )
    if not messages:
        raise RecordShapeError("a chat record needs at least one message", "messages")
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RecordShapeError(
                f"expected an object with role and content, got {type(message).__name__}", path
            )
        role = message.get("role")
        if not isinstance(role, str):
            raise RecordShapeError("missing or non-string 'role'", f"{path}.role")
        if role not in CHAT_ROLES:
            allowed = ", ".join(sorted(CHAT_ROLES))
            raise RecordShapeError(f"unknown role {role!r} (allowed: {allowed})", f"{path}.role")
        if "content" not in message:
            raise RecordShapeError("missing 'content'", f"{path}.content")
        content = message["content"]
        if content is not None and not isinstance(content, str | list):
            raise RecordShapeError(
                f"content must be a string or a list of parts, got {type(content).__name__}",
                f"{path}.content",
            )
