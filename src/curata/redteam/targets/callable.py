"""The ``callable`` target: any Python function, for tests and notebooks.

Configured in Python, not from a command line: ``CallableTarget.of(fn)``. ``fn`` takes the last
user message's text (``input="text"``) or the whole conversation as ``{"role", "content"}``
dictionaries (``input="messages"``) and returns the reply as a string (or a
:class:`~curata.redteam.targets.base.Reply`). An ``async def`` is awaited on the runner's loop;
a plain function runs in a worker thread, so a slow one neither blocks the loop nor escapes the
runner's timeout (the thread itself finishes in the background; the default thread pool holds
``min(32, CPUs + 4)`` of them). To signal a failure, raise
:class:`~curata.redteam.targets.base.TransientError` (retried) or
:class:`~curata.redteam.targets.base.TargetError`; any other exception is the attempt's error.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from curata.redteam.targets.base import Conversation, Reply, Target, TargetError, TargetParams


class CallableParams(TargetParams):
    """The function and what it is given."""

    fn: Callable[..., Any] = Field(description="The function: text or messages in, reply "
                                   "text out (sync or async).")
    input: Literal["text", "messages"] = Field(default="text", description="What fn is given: "
                                               "the last user message's text, or every "
                                               "message as {role, content} dictionaries.")
    label: str | None = Field(default=None, description="How the description names fn "
                              "(default: its module and qualified name).")


class CallableTarget(Target):
    """A Python function as a target (see the module docstring)."""

    name = "callable"
    summary = "Any Python function (sync or async) from text or messages to a reply."
    Params = CallableParams
    params: CallableParams

    @classmethod
    def of(
        cls, fn: Callable[..., Any], *, input: Literal["text", "messages"] = "text",
        label: str | None = None,
    ) -> CallableTarget:
        """A target calling ``fn``."""
        return cls(CallableParams(fn=fn, input=input, label=label))

    def describe(self) -> dict[str, Any]:
        fn = self.params.fn
        shown = self.params.label or (
            f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"
        )
        return {"target": self.name, "version": self.version, "fn": shown,
                "input": self.params.input}

    async def complete(self, conversation: Conversation) -> Reply:
        fn = self.params.fn
        if self.params.input == "text":
            users = [m.content for m in conversation if m.role == "user"]
            argument: Any = users[-1] if users else ""
        else:
            argument = [m.to_dict() for m in conversation]
        if inspect.iscoroutinefunction(fn):
            answer = await fn(argument)
        else:
            answer = await asyncio.to_thread(fn, argument)
            if inspect.isawaitable(answer):
                answer = await answer
        if isinstance(answer, Reply):
            return answer
        if not isinstance(answer, str):
            raise TargetError(f"callable {self.describe()['fn']}: returned "
                              f"{type(answer).__name__}, not text")
        return Reply(answer, finish_reason="stop")
