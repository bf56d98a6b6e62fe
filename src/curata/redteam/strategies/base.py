"""The strategy interface: how one attempt talks to the target (one turn, a scripted
escalation, an attacker model refining or escalating its prompts).

A campaign turns every (attack, converter chain, sample) into one *attempt* and hands it to
its strategy with a :class:`StrategyContext`: the attack, the converter chain (which the
strategy applies to every user prompt it writes, through :meth:`StrategyContext.convert`),
:meth:`StrategyContext.send` (one request to the target, through the campaign's runner:
concurrency, rate limit, timeout, retries and budget apply), :meth:`StrategyContext.judge`
(the campaign's scorers on one reply) and, for strategies that need one,
:meth:`StrategyContext.ask_attacker` (one request to the *attacker* target: any target can act
as the attacker model). The strategy returns the :class:`Turn` list of the attempt; the
attempt's verdict is :meth:`Strategy.verdict` of those turns (by default
:func:`attempt_verdict`: a breach in any turn is a breach).

A strategy never raises for what the target does: a failed request is a turn whose result is
an ``error``/``timeout`` outcome (judged ``error``), and the strategy decides whether to go on.
It raises :class:`StrategyError` only for its own misuse (an attacker loop without an attacker).

Strategies register under the entry-point group ``curata.strategies`` (``name =
"module:Class"``), the same way a third-party package would add its own; garak's probes and
PyRIT's orchestrators are the models.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Self

from curata.core.errors import CurataError
from curata.core.plugins import Plugin, PluginParams, parse_params
from curata.redteam.attacks import Attack
from curata.redteam.converters.chain import Chain
from curata.redteam.scorers.base import Score
from curata.redteam.targets.base import Message
from curata.redteam.targets.runner import TargetResult

Send = Callable[[Sequence[Message]], Awaitable[TargetResult]]
"""One request with a conversation; the result's outcome says how it went."""

Judge = Callable[[Sequence[Message], TargetResult], Awaitable[Score]]
"""The campaign's verdict on one reply: the conversation sent and the target's result."""


class StrategyError(CurataError):
    """A strategy cannot run as configured (an attacker loop with no attacker target)."""

    status_code = 422


@dataclass(frozen=True, slots=True)
class Turn:
    """One request of an attempt: the messages sent (the whole conversation so far, the new
    user prompt last), the target's result and its score. ``note``: what the strategy wants
    kept about this turn (the attacker model's reasoning, a backtrack), or None."""

    sent: tuple[Message, ...]
    result: TargetResult
    score: Score
    note: str | None = None

    @property
    def prompt(self) -> str:
        """The last user prompt of the turn (what this turn asked)."""
        return next((m.content for m in reversed(self.sent) if m.role == "user"), "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": [m.to_dict() for m in self.sent],
            "outcome": self.result.outcome.value,
            "reply": self.result.text,
            "error": self.result.error,
            "latency_s": self.result.latency_s,
            "tries": self.result.tries,
            "score": self.score.to_dict(),
            "note": self.note,
        }


def attempt_verdict(turns: Sequence[Turn]) -> str:
    """An attempt's verdict from its turns: ``breach`` when any turn breached; else the last
    judged verdict (``refused``/``safe``) of any turn that got one; else the last turn's
    (``error``/``empty``); ``error`` for an attempt with no turn."""
    if any(t.score.verdict == "breach" for t in turns):
        return "breach"
    judged = [t.score.verdict for t in turns if t.score.verdict in ("refused", "safe")]
    if judged:
        return "refused" if "refused" in judged else judged[-1]
    return turns[-1].score.verdict if turns else "error"


@dataclass
class StrategyContext:
    """What a strategy gets for one attempt (see the module docstring)."""

    attack: Attack
    chain: Chain
    send: Send
    judge: Judge
    attacker: Send | None = None
    seed: int | None = None
    """The seed of :attr:`rng` (a campaign derives it from its seed and the unit: attack,
    variant, sample); none: fresh randomness."""

    @cached_property
    def rng(self) -> random.Random:
        """This attempt's random generator, made when a strategy first asks for it (most
        never do, and seeding one costs more than the rest of the context)."""
        return random.Random(self.seed)

    async def convert(self, text: str) -> str:
        """``text`` through the campaign's converter chain (the chain is recorded on the
        attempt; an empty chain leaves the text as is)."""
        return await self.chain.aconvert(text)

    def opening(self) -> list[Message]:
        """The messages every attempt at this attack starts with: its system prompt, if it
        has one (a target without its own uses the server's)."""
        return [Message("system", self.attack.system)] if self.attack.system else []

    def with_documents(self, prompt: str) -> str:
        """A user prompt with the attack's documents appended as ``<document>`` blocks: how
        retrieved context or tool output reaches any OpenAI-compatible server (a ``tool``
        message needs a tool call before it, which a plain chat has not)."""
        docs = self.attack.documents or ()
        return prompt + "".join(f"\n\n<document>\n{d}\n</document>" for d in docs)

    async def exchange(self, messages: Sequence[Message], note: str | None = None) -> Turn:
        """Send ``messages`` to the target and judge the reply: one :class:`Turn`."""
        sent = tuple(messages)
        result = await self.send(sent)
        return Turn(sent, result, await self.judge(sent, result), note)

    async def ask_attacker(self, messages: Sequence[Message]) -> TargetResult:
        """One request to the attacker target; StrategyError when the campaign has none."""
        if self.attacker is None:
            raise StrategyError("this strategy needs an attacker target (--attacker)")
        return await self.attacker(tuple(messages))


class StrategyParams(PluginParams):
    """Base of every strategy's parameters: unknown parameters are errors, values checked
    strictly."""


class Strategy(Plugin):
    """Base class of strategies (see the module docstring): declared ``name``, ``summary``,
    ``Params``; ``needs_attacker`` when the strategy asks an attacker model; one method,
    :meth:`run`."""

    abstract = True
    kind = "strategy"
    has_params = True
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    version: ClassVar[str] = "1"
    needs_attacker: ClassVar[bool] = False
    needs_goal_judge: ClassVar[bool] = False
    """Whether the strategy sends harmless turns on the way to its goal, so that a campaign
    must judge it with a goal-aware scorer (``goal``, ``llm_judge``): a refusal detector
    would count the answer to a harmless turn as a breach."""

    def __init__(self, params: StrategyParams | None = None) -> None:
        self.params = params if params is not None else self.Params()

    @classmethod
    def create(cls, params: Mapping[str, Any] | None = None) -> Self:
        return cls(parse_params(cls, dict(params or {})))

    def record(self) -> dict[str, Any]:
        """The strategy as a campaign records it: name and every parameter."""
        return {"name": self.name, "params": self.params.model_dump(mode="json")}

    async def run(self, ctx: StrategyContext) -> list[Turn]:
        """The turns of one attempt at ``ctx.attack`` (see the module docstring)."""
        raise NotImplementedError

    def verdict(self, turns: Sequence[Turn]) -> str:
        """The attempt's verdict from its turns: :func:`attempt_verdict` (a breach in any turn
        is a breach) unless the strategy knows better (a scripted escalation is judged on its
        last turn: the earlier ones are harmless set-up)."""
        return attempt_verdict(turns)

    def deciding(self, turns: Sequence[Turn]) -> Turn:
        """The turn the verdict rests on (the first breach, else the last turn), whose prompt
        and reply the campaign records as the attempt's."""
        return next((t for t in turns if t.score.verdict == "breach"), turns[-1])
