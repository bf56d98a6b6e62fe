"""The target interface: what every model endpoint (built-in or third-party) implements.

A target is a small class with declared metadata (``name``, ``summary``, a pydantic ``Params``
model whose fields carry defaults and descriptions) and one method, :meth:`Target.complete`,
that sends one conversation to the model once and returns its :class:`Reply`. Everything around
that call is the runner's (:class:`curata.redteam.targets.runner.TargetRunner`): concurrency,
rate limit, timeout, retries with backoff, the budget, outcomes and statistics. So a target only
says how to talk to its model, and signals what went wrong by raising:

- :class:`TransientError` for what may pass (HTTP 429 and 5xx, a refused or dropped
  connection); its ``retry_after`` (seconds) is the server's ``Retry-After``, when it sent one;
- :class:`TargetError` for what will not (a 4xx, an answer that is not a chat completion).

:meth:`Target.describe` is the configuration recorded on every attempt (model, endpoint,
sampling settings), so a campaign says exactly what it measured. It never holds a secret: an API
key is read from an environment variable whose *name* is a parameter, never the key itself.

Targets register under the entry-point group ``curata.targets`` (``name = "module:Class"``),
the same way a third-party package would add its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from curata.core.errors import CurataError, InputError
from curata.core.plugins import Plugin, PluginParams

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: who speaks (``role``) and what they say (``content``).
    A ``tool`` message is a tool's output or a retrieved document handed to the model."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)


Conversation = Sequence[Message]
"""What a target is sent: the messages so far, oldest first."""


def conversation(value: str | Sequence[Message | Mapping[str, Any]]) -> list[Message]:
    """A conversation from what a caller holds: a string (one user message), or a sequence of
    :class:`Message` or ``{"role", "content"}`` mappings. Bad input is an :class:`InputError`
    naming the message (``conversation[2].role``) and what is allowed."""
    if isinstance(value, str):
        return [Message("user", value)]
    if not isinstance(value, Sequence) or not value:
        raise InputError("a conversation is a non-empty list of messages", where="conversation")
    out: list[Message] = []
    for i, item in enumerate(value):
        where = f"conversation[{i}]"
        role: Any
        content: Any
        if isinstance(item, Message):
            role, content = item.role, item.content
        elif isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
        else:
            raise InputError(f"a message is a Message or a mapping, got {type(item).__name__}",
                             where=where)
        if role not in ROLES:
            raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}",
                             where=f"{where}.role")
        if not isinstance(content, str):
            raise InputError(f"content must be text, got {type(content).__name__}",
                             where=f"{where}.content")
        out.append(item if isinstance(item, Message) else Message(role, content))
    return out


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one exchange cost, as the model reported them (``None``: not reported)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def estimated_tokens(conversation: Conversation, text: str) -> int:
    """What an exchange whose model reported no usage is counted as against a token budget:
    one token per four characters of the messages and the reply (rounded up), the usual
    rule of thumb for English BPE vocabularies."""
    chars = sum(len(m.content) for m in conversation) + len(text)
    return math.ceil(chars / 4)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the model answered: its text, why it stopped (``stop``, ``length``, …, as the
    model says), the tokens it reported, and the model name it gave (which may be more
    precise than the one asked for)."""

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "model": self.model,
        }


class TargetError(CurataError):
    """A target failed in a way retrying will not fix (a 4xx, a garbled answer)."""

    status_code = 502


class TransientError(TargetError):
    """A target failed in a way that may pass: HTTP 429 or 5xx, a refused, dropped or reset
    connection. ``retry_after``: seconds the server asked to wait (its ``Retry-After``)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TargetParams(PluginParams):
    """Base of every target's parameters: unknown parameters are errors, values are checked
    strictly (:meth:`~curata.core.plugins.PluginParams.parse`: ``"0.7"`` is no float)."""


SENSITIVE = ("authorization", "key", "token", "secret", "cookie", "password")
"""Header names (substrings, lower case) whose values :func:`redacted` hides."""


def redacted(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Headers (or body fields) as a description may show them: a value whose name looks like
    a credential (``Authorization``, ``X-Api-Key``, ``Cookie``, …) is replaced by
    ``[redacted]``."""
    return {
        name: "[redacted]" if any(word in name.lower() for word in SENSITIVE) else value
        for name, value in fields.items()
    }


class Target(Plugin):
    """Base class of targets (see the module docstring). A subclass's metadata is checked
    when it is defined (:class:`~curata.core.plugins.Plugin`): a target without a valid
    ``name``, a ``summary`` or a pydantic ``Params`` fails at import, naming itself.

    Built with its parameters (``OpenAITarget(OpenAITarget.Params(...))``) or their values
    (``OpenAITarget(base_url=..., model=...)``). :meth:`open` and :meth:`close` hold what a
    target shares between requests (an HTTP session); the runner calls them, and a target
    used alone opens itself on first use."""

    abstract = True
    kind = "target"
    has_params = True
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[TargetParams]] = TargetParams
    version: ClassVar[str] = "1"

    def __init__(self, params: TargetParams | None = None, /, **values: Any) -> None:
        if params is not None and values:
            raise TypeError("give the parameters or their values, not both")
        self.params = params if params is not None else self.Params(**values)
        if not isinstance(self.params, self.Params):
            raise TypeError(f"{self.name} takes {self.Params.__name__}, "
                            f"got {type(self.params).__name__}")

    async def complete(self, conversation: Conversation) -> Reply:
        """Send ``conversation`` to the model once and return its reply. Raise
        :class:`TransientError` for a failure worth retrying and :class:`TargetError` for
        one that is not; the runner applies the timeout, retries and budget."""
        raise NotImplementedError

    async def open(self) -> None:
        """Acquire what requests share (a connection pool); called once before the first."""

    async def close(self) -> None:
        """Release what :meth:`open` acquired."""

    def describe(self) -> dict[str, Any]:
        """The configuration recorded on every attempt: the target's name and version and
        its parameters, as JSON values. Never a secret."""
        return {"target": self.name, "version": self.version,
                **self.params.model_dump(mode="json")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"
