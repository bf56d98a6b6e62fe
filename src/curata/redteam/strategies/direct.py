"""``direct``: the attack as written — its prompt, then its scripted follow-up turns."""

from __future__ import annotations

from pydantic import Field

from curata.redteam.strategies.base import Strategy, StrategyContext, StrategyParams, Turn
from curata.redteam.targets.base import Message


class DirectParams(StrategyParams):
    """When a scripted escalation stops."""

    stop_on_breach: bool = Field(default=True, description="Stop a multi-turn attack at the "
                                 "first breached turn (the later turns add nothing to it).")
    stop_on_failure: bool = Field(default=True, description="Stop a multi-turn attack when a "
                                  "turn gets no reply (error, timeout, empty): the next turn "
                                  "would answer a reply that does not exist.")


class Direct(Strategy):
    """The attack's prompt (with its documents and system prompt), then each scripted
    follow-up turn after the model's reply to the one before; every prompt goes through the
    converter chain."""

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
            if turn.score.verdict == "breach" and params.stop_on_breach:
                break
            if turn.result.outcome.value != "ok" and params.stop_on_failure:
                break
            messages.append(Message("assistant", turn.result.text))
        return turns
