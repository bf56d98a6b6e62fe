"""Records: one unit of training data (text, chat messages, a prompt/response pair, or a
prompt with two or more candidate responses to compare)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from curata.core.ids import canonical_json, content_id

RecordKind = Literal["text", "chat", "pair", "pairwise"]
RECORD_KINDS: tuple[RecordKind, ...] = ("text", "chat", "pair", "pairwise")
MAX_RESPONSES = 26
"""Candidates of a pairwise record are lettered A..Z by position."""
CONTEXT_END_ROLES = frozenset({"user", "tool"})
"""A pairwise chat context ends with the turn its candidate responses answer."""
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

    A ``pairwise`` record holds a prompt (``prompt``, plain text, or ``messages``, a chat
    context) and ``responses``: two or more candidates, each ``{"id", "text", ...provenance}``
    (see :func:`check_responses`). In the record store its candidates are kept as JSON in the
    ``response`` column, so stores written before the kind existed need no migration.

    The canonical form, the metadata JSON and the id are computed once and cached (ingest
    needs all three for every record).
    """

    kind: RecordKind
    text: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    response: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    responses: list[dict[str, Any]] | None = None
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

    @classmethod
    def from_pairwise(
        cls,
        prompt: str | list[dict[str, Any]],
        responses: list[Any],
        metadata: dict[str, Any] | None = None,
    ) -> Record:
        """Build a pairwise record: a prompt (text, or a chat context as ``messages``) and
        two or more candidate responses (checked and lettered by :func:`check_responses`)."""
        candidates = check_responses(responses)
        if isinstance(prompt, str):
            return cls(
                kind="pairwise", prompt=prompt, responses=candidates, metadata=metadata or {}
            )
        check_messages(prompt)
        last = len(prompt) - 1
        if prompt[last]["role"] not in CONTEXT_END_ROLES:
            raise RecordShapeError(
                f"a chat context ends with the turn the responses answer (user or tool), "
                f"not {prompt[last]['role']!r}",
                f"messages[{last}].role",
            )
        return cls(kind="pairwise", messages=prompt, responses=candidates, metadata=metadata or {})

    def response_ids(self) -> list[str]:
        """The ids of a pairwise record's candidates, in order (empty for other kinds)."""
        return [r["id"] for r in self.responses or []]

    def content(self) -> dict[str, Any]:
        """Return the kind-specific content fields (without metadata)."""
        if self.kind == "text":
            return {"text": self.text}
        if self.kind == "chat":
            return {"messages": self.messages}
        if self.kind == "pairwise":
            context: dict[str, Any] = (
                {"prompt": self.prompt} if self.messages is None else {"messages": self.messages}
            )
            return {**context, "responses": self.responses}
        return {"prompt": self.prompt, "response": self.response}

    @property
    def metadata_json(self) -> str:
        """The metadata as canonical JSON."""
        cached = self._cache.get("metadata")
        if cached is None:
            meta = self.metadata
            cached = self._cache["metadata"] = canonical_json(meta) if meta else "{}"
        return cached

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields and its id when known (a worker process need not hash the
        record again); the generic pickling of a slots dataclass looks its fields up on
        every record, several times the cost when millions of records go to workers."""
        fields = (self.kind, self.text, self.messages, self.prompt, self.response,
                  self.metadata, self.responses)  # fmt: skip
        return _restore, (fields, self._cache.get("id"))

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
            elif self.kind == "pairwise":
                whole = {"kind": "pairwise", **self.content(), "metadata": self.metadata}
                body = canonical_json(whole)[1:-1]
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
            "response": self.response if self.responses is None else self._responses_json(),
            "metadata": self.metadata_json,
        }

    def _responses_json(self) -> str:
        cached = self._cache.get("responses")
        if cached is None:
            cached = self._cache["responses"] = canonical_json(self.responses)
        return cached

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Record:
        """Rebuild a record from a stored row (the inverse of :meth:`to_row`)."""
        messages = row.get("messages")
        pairwise = row["kind"] == "pairwise"
        return cls(
            kind=row["kind"],
            text=row.get("text"),
            messages=None if messages is None else json.loads(messages),
            prompt=row.get("prompt"),
            response=None if pairwise else row.get("response"),
            metadata=_metadata(row.get("metadata")),
            responses=json.loads(row["response"]) if pairwise else None,
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


RESPONSE_TEXT_FIELDS = ("text", "content", "response")
"""Where a candidate object may hold its text (stored as ``text``); its other fields
(``model``, ``temperature``, …) are its provenance and are kept."""


NOT_IDS = frozenset({"tie", "both_bad"})
"""Preference answers, which a candidate's id may not be."""


def response_letter(position: int) -> str:
    """The letter of the candidate at ``position`` (0 → ``A``)."""
    return chr(ord("A") + position)


def check_responses(responses: Any) -> list[dict[str, Any]]:
    """Check and normalise a pairwise record's candidates; raise :class:`RecordShapeError`
    naming the path (``responses[1].text``).

    A candidate is a string or an object with its text in ``text`` (or ``content`` or
    ``response``) and any provenance fields. Each gets an ``id``: its own (a non-empty string,
    distinct from the others) or its letter by position (``A``, ``B``, …).
    """
    if not isinstance(responses, list):
        raise RecordShapeError(
            f"expected a list of candidate responses, got {type(responses).__name__}",
            "responses",
        )
    if len(responses) < 2:
        raise RecordShapeError(
            f"a pairwise record needs at least two responses, got {len(responses)}", "responses"
        )
    if len(responses) > MAX_RESPONSES:
        raise RecordShapeError(
            f"at most {MAX_RESPONSES} responses, got {len(responses)}", "responses"
        )
    out: list[dict[str, Any]] = []
    for i, candidate in enumerate(responses):
        path = f"responses[{i}]"
        if isinstance(candidate, str):
            out.append({"id": response_letter(i), "text": candidate})
            continue
        if not isinstance(candidate, dict):
            raise RecordShapeError(
                f"expected a string or an object with 'text', got {type(candidate).__name__}",
                path,
            )
        held = [k for k in RESPONSE_TEXT_FIELDS if k in candidate]
        if len(held) != 1:
            problem = "missing 'text'" if not held else f"give only one of {', '.join(held)}"
            raise RecordShapeError(problem, f"{path}.text")
        text = candidate[held[0]]
        if not isinstance(text, str):
            raise RecordShapeError(
                f"expected a string, got {type(text).__name__}", f"{path}.{held[0]}"
            )
        own = candidate.get("id", response_letter(i))
        if not isinstance(own, str) or not own.strip():
            raise RecordShapeError("an id must be a non-empty string", f"{path}.id")
        if own in NOT_IDS:
            raise RecordShapeError(f"{own!r} is a preference answer, not an id", f"{path}.id")
        rest = {k: v for k, v in candidate.items() if k not in (held[0], "id")}
        out.append({**rest, "id": own, "text": text})
    ids = [c["id"] for c in out]
    for i, own in enumerate(ids):
        others = ids[:i] + [response_letter(j) for j in range(len(ids)) if j != i]
        if own in others:
            raise RecordShapeError(
                f"id {own!r} is another response's id or letter", f"responses[{i}].id"
            )
    return out


def flat_row(
    record_id: str, record: Record, columns: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The exported shape: content and metadata side by side, plus ``curata_id`` and the
    version's per-record columns (a release's labels) as ``curata_<column>``.

    It lives beside :class:`Record` because versioning streams it and export writes it, and
    versioning may not import a capability package. Re-ingesting an export of a plain
    version gives the same record ids (``curata_id`` is ignored on ingest).
    """
    extra = {f"curata_{k}": v for k, v in (columns or {}).items()}
    return {"curata_id": record_id, **record.to_flat(), **extra}


def _restore(fields: tuple[Any, ...], rid: str | None) -> Record:
    """Unpickle a record (:meth:`Record.__reduce__`)."""
    record = Record(*fields)
    if rid is not None:
        record._cache["id"] = rid
    return record


def _metadata(stored: str | None) -> dict[str, Any]:
    """A stored metadata column (most records have none: "{}")."""
    if not stored or stored == "{}":
        return {}
    loaded: dict[str, Any] = json.loads(stored)
    return loaded
