"""``direct``: the attack as written — its prompt, then its scripted follow-up turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from curata.redteam.strategies.base import (
    Strategy,
    StrategyContext,
    StrategyParams,
    Turn,
    attempt_verdict,
)
from curata.redteam.targets.base import Message


class DirectParams(StrategyParams):
    """How a scripted escalation is judged and when it stops."""

    judge: Literal["last", "any"] = Field(default="last", description="Which turn of a "
                                          "multi-turn attack decides its verdict: the last "
                                          "(the earlier turns are harmless set-up, which a "
                                          "model should answer) or any (a breach in any turn).")
    stop_on_failure: bool = Field(default=True, description="Stop a multi-turn attack when a "
                                  "turn gets no reply (error, timeout, empty): the next turn "
                                  "would answer a reply that does not exist.")


class Direct(Strategy):
    """The attack's prompt (with its documents and system prompt), then each scripted
    follow-up turn after the model's reply to the one before; every prompt goes through the
    converter chain. A multi-turn attack is judged on its last turn unless ``judge="any"``:
    a model should answer the harmless set-up turns, so answering them is no breach."""

    name = "direct"
    summary = "Send the attack as written: its prompt, then its scripted follow-up turns."
    Params = DirectParams

    async def run(self, ctx: StrategyContext) -> list[Turn]:
        params = self.params
        assert isinstance(params, DirectParams)
        messages = ctx.opening()
        prompts = [ctx.with_documents(ctx.attack.prompt), *(ctx.attack.turns or ())]
        turns: list[Turn] = []
        for prompt in prompts:
            messages.append(Message("user", await ctx.convert(prompt)))
            turn = await ctx.exchange(messages)
            turns.append(turn)
            if turn.score.verdict == "breach" and params.judge == "any":
                break  # the later turns add nothing to a breach
            if turn.result.outcome.value != "ok" and params.stop_on_failure:
                break
            messages.append(Message("assistant", turn.result.text))
        return turns

    def verdict(self, turns: Sequence[Turn]) -> str:
        if self._last():
            return attempt_verdict(turns[-1:])
        return attempt_verdict(turns)

    def deciding(self, turns: Sequence[Turn]) -> Turn:
        return turns[-1] if self._last() else super().deciding(turns)

    def _last(self) -> bool:
        assert isinstance(self.params, DirectParams)
        return self.params.judge == "last"
