"""The curation step interface: what every step (built-in or third-party) implements.

A step is a small class with declared metadata (``name``, ``summary``, a pydantic ``Params``
model whose fields carry defaults and descriptions) and one method, :meth:`Step.apply`, that
decides about a batch of records: keep, drop (with a reason, and optionally the record it
duplicates and a score), change (with the new record and a reason) or report (keep it as it
is, with a reason and details recorded as an event: a detection-only mode). The executor owns the
loop (batching, passes, progress, persistence); steps are pure and see only records.

Steps that must see every record before deciding anything (deduplication) set ``needs_all``:
the executor first calls :meth:`Step.summarize` on every batch, feeds the partial summaries to
:meth:`Step.prepare` (once, as an iterator, so a step may keep only what it needs), then calls
:meth:`Step.apply` on every batch in the same order. ``summarize`` is pure and its results
combine in :meth:`Step.prepare`, so a distributed executor can run it on workers.

``apply`` must be a pure function of the batch (and of what ``prepare`` computed), and decide
each record on its own: the local executor's worker processes trace earlier steps again on
each later pass, the in-process run keeps a step's decision about a record from one pass to
the next, and a distributed executor may apply a batch on any worker, so a step must not count
positions across calls. Record ids are unique within a run (the executor drops a change whose
result is a record already present), so decisions may be keyed by id.

Steps register under the entry-point group ``curata.steps`` (``name = "module:Class"``), the
same way a third-party package would add its own.

Which text a step reads is the ``fields`` parameter (see :class:`TextParams`): ``auto`` reads a
text record's ``text``, a pair's ``prompt`` and ``response``, and every chat message's
``content``; a list names them (``text``, ``prompt``, ``response``, ``messages``, or
``messages.user`` for the messages of one role). A pairwise record's prompt is ``prompt`` (plain)
or ``messages`` (a chat context), and ``response`` selects every candidate's text; a changed
pairwise record keeps its candidates' ids and provenance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from curata.core.plugins import Plugin, PluginParams
from curata.core.records import Record

Item = tuple[str, Record]
"""(record id, record): what a step sees."""

FIELDS = ("text", "prompt", "response", "messages")
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class StepParams(PluginParams):
    """Base of every step's parameters: unknown parameters are errors, values are checked
    strictly (:meth:`~curata.core.plugins.PluginParams.parse`)."""


class TextParams(StepParams):
    """Parameters of a step that reads text."""

    fields: Literal["auto"] | tuple[str, ...] = Field(
        default="auto",
        description="Which text to read: auto (text; prompt and response; every message), "
        "or a list of text, prompt, response, messages, messages.ROLE.",
    )

    def model_post_init(self, _context: Any) -> None:
        if self.fields != "auto":
            for name in self.fields:
                head, _, role = name.partition(".")
                if head not in FIELDS or (role and (head != "messages" or role not in ROLES)):
                    raise ValueError(
                        f"unknown field {name!r} (use text, prompt, response, messages or "
                        f"messages.ROLE with ROLE one of {', '.join(ROLES)})"
                    )


@dataclass(frozen=True)
class Decision:
    """What a step decided about one record."""

    action: Literal["keep", "drop", "change", "report"] = "keep"
    reason: str = ""
    record: Record | None = None  # the changed record (action "change")
    related: str | None = None  # e.g. the kept twin of a dropped duplicate
    score: float | None = None  # e.g. the estimated Jaccard similarity to it
    details: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def keep() -> Decision:
        return KEEP

    @staticmethod
    def drop(
        reason: str,
        *,
        related: str | None = None,
        score: float | None = None,
        **details: Any,
    ) -> Decision:
        return Decision("drop", reason, None, related, score, details)

    @staticmethod
    def change(record: Record, reason: str, **details: Any) -> Decision:
        return Decision("change", reason, record, None, None, details)

    @staticmethod
    def report(reason: str, **details: Any) -> Decision:
        """Keep the record unchanged, but record what was found in it (a detection-only mode:
        the executor records it as an event of action ``report``)."""
        return Decision("report", reason, None, None, None, details)


KEEP = Decision()


class Step(Plugin):
    """Base class of curation steps (see the module docstring). A subclass's metadata is
    checked when it is defined (:class:`~curata.core.plugins.Plugin`): a step without a valid
    ``name``, a ``summary`` or a pydantic ``Params`` fails at import, naming itself."""

    abstract = True
    kind = "step"
    has_params = True
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[StepParams]] = StepParams
    version: ClassVar[str] = "1"
    needs_all: ClassVar[bool] = False
    scratch: Path | None = None
    """A directory of its own in the run's scratch area, set by the executor before
    :meth:`prepare` (None when the executor has none): where a ``needs_all`` step keeps state
    that grows with the corpus (digests, signatures, the ids it drops) instead of memory. It is
    removed with the run's scratch area; :mod:`curata.curation.diskmap` keeps lookups by id."""

    def __init__(self, params: StepParams) -> None:
        self.params = params

    def summarize(self, batch: Sequence[Item]) -> Any:
        """A partial summary of a batch (``needs_all`` steps only)."""
        raise NotImplementedError

    def prepare(self, summaries: Iterator[Any]) -> None:
        """Combine every batch's summary, in order, before the first :meth:`apply`."""
        raise NotImplementedError

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """One decision per record of the batch, in order."""
        raise NotImplementedError


# -- reading and replacing the text a step works on ------------------------------------------


def text_fields(record: Record, fields: Literal["auto"] | Iterable[str]) -> list[tuple[str, str]]:
    """(field path, text) for every text the parameters select, in a stable order; paths are
    ``text``, ``prompt``, ``response``, ``messages[i].content`` or, for a pairwise record's
    candidates (what ``response`` selects there), ``responses[i].text``."""
    wanted = set(FIELDS) if fields == "auto" else set(fields)
    out: list[tuple[str, str]] = []
    if record.kind == "text" and "text" in wanted and record.text is not None:
        out.append(("text", record.text))
    elif record.kind == "pair":
        if "prompt" in wanted and record.prompt is not None:
            out.append(("prompt", record.prompt))
        if "response" in wanted and record.response is not None:
            out.append(("response", record.response))
    elif record.kind == "chat":
        _message_fields(record.messages or [], wanted, out)
    elif record.kind == "pairwise":
        if record.messages is not None:
            _message_fields(record.messages, wanted, out)
        elif "prompt" in wanted and record.prompt is not None:
            out.append(("prompt", record.prompt))
        if "response" in wanted:
            for i, candidate in enumerate(record.responses or []):
                out.append((f"responses[{i}].text", candidate["text"]))
    return out


def _message_fields(
    messages: list[dict[str, Any]], wanted: set[str], out: list[tuple[str, str]]
) -> None:
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, str):
            continue
        if "messages" in wanted or f"messages.{message.get('role')}" in wanted:
            out.append((f"messages[{i}].content", content))


def joined_text(record: Record, fields: Literal["auto"] | Iterable[str]) -> str:
    """The selected texts joined by a blank line (what a whole-record filter measures)."""
    if record.kind == "text" and (fields == "auto" or "text" in fields):
        return record.text or ""  # the common case, without building the field list
    return "\n\n".join(text for _, text in text_fields(record, fields))


def replace_texts(record: Record, new: dict[str, str]) -> Record:
    """A copy of ``record`` with the texts at the given field paths replaced."""
    if not new:
        return record
    if record.kind == "text":
        return Record(kind="text", text=new.get("text", record.text), metadata=record.metadata)
    if record.kind == "pair":
        return Record(
            kind="pair",
            prompt=new.get("prompt", record.prompt),
            response=new.get("response", record.response),
            metadata=record.metadata,
        )
    messages = None if record.messages is None else _replace_messages(record.messages, new)
    if record.kind == "pairwise":
        responses = [
            {**r, "text": new[f"responses[{i}].text"]} if f"responses[{i}].text" in new else r
            for i, r in enumerate(record.responses or [])
        ]
        return Record(
            kind="pairwise",
            prompt=new.get("prompt", record.prompt),
            messages=messages,
            responses=responses,
            metadata=record.metadata,
        )
    return Record(kind="chat", messages=messages, metadata=record.metadata)


def _replace_messages(messages: list[dict[str, Any]], new: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {**m, "content": new[f"messages[{i}].content"]} if f"messages[{i}].content" in new else m
        for i, m in enumerate(messages)
    ]
