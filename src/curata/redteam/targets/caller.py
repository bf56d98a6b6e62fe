"""Asking a model from inside a plugin: what the converters and scorers that ask a model share.

:class:`ModelCaller` holds the target a plugin asks (given as a target spec, checked by
:func:`check_target_spec`, or as a :class:`~curata.redteam.targets.base.Target`) and one
:class:`~curata.redteam.targets.runner.TargetRunner` per event loop; :class:`LRU` caches answers
so the samples of one attack ask once. Used by the ``translate`` converter and the ``llm_judge``
scorer.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from curata.core.errors import CurataError
from curata.redteam.targets.base import Message, Target
from curata.redteam.targets.runner import RunnerParams, TargetResult, TargetRunner

T = TypeVar("T")

DEFAULT_RUNNER = RunnerParams(concurrency=4, timeout_s=120.0, max_retries=3)
"""How a plugin that asks a model talks to it: few requests at once (a translator or judge is
usually a shared model), two minutes per request, three retries of transient failures."""

SPEC_EXAMPLE = "openai:base_url=http://127.0.0.1:8000/v1,model=m"


def check_target_spec(value: str) -> str:
    """A target spec as a plugin parameter: empty (none yet), or a spec that builds a target
    (:func:`~curata.redteam.targets.target_from_spec`) whose description holds no credential.
    Raises ValueError (pydantic turns it into the parameter's error)."""
    value = value.strip()
    if not value:
        return value
    from curata.redteam.targets import target_from_spec

    try:
        target = target_from_spec(value)
    except CurataError as exc:
        raise ValueError(exc.message) from exc
    if "[redacted]" in json.dumps(target.describe(), default=str):
        raise ValueError(
            "the target spec holds a credential, which would be recorded with the "
            "parameters: put the key in an environment variable and name it with api_key_env"
        )
    return value


class ModelCaller:
    """What a plugin that asks a model (``translate``, ``llm_judge``) shares: its target, built
    from the spec (or given in Python), and one :class:`TargetRunner` per event loop, created
    lazily in the loop that first asks (a runner's locks and HTTP session belong to one loop).

    ``owner`` names the plugin in errors; ``error`` makes the plugin's own error type from a
    message (a :class:`ConversionError` for a converter)."""

    def __init__(
        self,
        owner: str,
        spec: str,
        target: Target | None,
        runner: RunnerParams | None,
        error: Callable[[str], CurataError],
        awaited: str = "its async method",
    ) -> None:
        self.owner = owner
        self.awaited = awaited
        self.spec = spec
        self.given = target
        self.runner_params = runner or DEFAULT_RUNNER
        self.error = error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: TargetRunner | None = None

    def make_target(self) -> Target:
        """The target to ask: the one given in Python, or a fresh one from the spec."""
        if self.given is not None:
            return self.given
        if not self.spec:
            raise self.error(
                f"no target to ask: give target=<a target spec>, e.g. target=\"{SPEC_EXAMPLE}\" "
                "(quoted in a chain, since a spec holds ',' and ':')"
            )
        from curata.redteam.targets import target_from_spec

        return target_from_spec(self.spec)

    def describe(self) -> dict[str, Any]:
        """The target's recorded configuration (never a secret)."""
        return self.make_target().describe()

    def runner(self) -> TargetRunner:
        """This event loop's runner (a new one when the plugin is first used in a loop)."""
        loop = asyncio.get_running_loop()
        if self._runner is None or self._loop is not loop:
            self._runner = TargetRunner(self.make_target(), self.runner_params)
            self._loop = loop
        return self._runner

    async def ask(self, messages: Sequence[Message], runner: TargetRunner | None = None) -> str:
        """The model's reply text to ``messages``; a failed, timed-out or empty answer is the
        plugin's error, naming the target's own message."""
        result: TargetResult = await (runner or self.runner()).complete(list(messages))
        if result.outcome.value != "ok":
            why = result.error or "the reply is empty"
            raise self.error(f"the target {self.target_name()} gave {result.outcome.value}: {why}")
        return result.text

    def target_name(self) -> str:
        if self.given is not None:
            return repr(self.given.name)
        return repr(self.spec.split(":", 1)[0].strip())

    async def aclose(self) -> None:
        """Close this loop's runner (its HTTP session), if this loop made one."""
        runner, loop = self._runner, self._loop
        if runner is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._runner = self._loop = None
            await runner.aclose()

    def run_sync(self, work: Callable[[TargetRunner], Awaitable[T]]) -> T:
        """``work`` run to completion from synchronous code, with a runner of its own that is
        closed afterwards. Called inside a running event loop (where it would block the loop)
        it is the plugin's error: await the async method there."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise self.error(
                "called synchronously inside a running event loop, which it would block: "
                f"await {self.awaited} there"
            )

        async def go() -> T:
            async with TargetRunner(self.make_target(), self.runner_params) as runner:
                return await work(runner)

        return asyncio.run(go())


class LRU:
    """A bounded least-recently-used map from text to text."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
