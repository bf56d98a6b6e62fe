"""``crescendo``: an attacker model escalates a conversation gradually, backtracking on refusals.

After Crescendo (Russinovich, Salem and Eldan 2024, "Great, Now Write an Article About That:
The Crescendo Multi-Turn LLM Jailbreak Attack"). The attacker model is told the goal
(``attack.goal``), the reply opening aimed for (``attack.target``, or "Sure, here is") and its
limits by its system prompt (:func:`.prompts.crescendo_system`), and asked, one turn at a time,
for the next question of a conversation that begins harmlessly and escalates towards the goal,
as ``{"question": ..., "rationale": ...}``. Each question goes through the converter chain and
is sent as the next user message of the target's conversation (the attack's system prompt, if
any, first; its documents with the first question), which grows turn by turn; the target's reply
and the verdict go back to the attacker.

**Backtracking.** When the target refuses a question (the judge's verdict is ``refused``), the
exchange is taken out of the target's conversation — the target never sees it again — and
kept in the attempt's turns with the note ``backtracked``; the attacker is told of the refusal
and asked for a different question for the same turn. After ``max_backtracks`` backtracks a
refused exchange stays in the conversation like an answered one. ``max_turns`` counts the
questions kept in the conversation, so the target gets at most ``max_turns + max_backtracks``
requests.

The attempt stops at the first breach, after ``max_turns`` kept questions, or when the target
gives no reply (``error``, ``timeout``, ``budget_exhausted``). A kept turn's ``note`` is the
attacker's rationale. A failed attacker request ends the attempt as in ``pair``
(:func:`.pair.attacker_failed`): the turns so far, or one ``error`` turn when there are none.

Crescendo's early questions are harmless and meant to be answered, so its verdicts are only as
good as the campaign's judge of the *goal*: a judge that calls every answer a breach (the
``refusal`` scorer alone) stops it at the first answered question. The paper and PyRIT judge
the objective with a model; give the campaign such a scorer.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from curata.redteam.strategies import prompts
from curata.redteam.strategies.base import Strategy, StrategyContext, StrategyParams, Turn
from curata.redteam.strategies.pair import (
    ANSWERED,
    attacker_failed,
    attacker_failure,
    require_attacker,
)
from curata.redteam.targets.base import Message

BACKTRACKED = "backtracked"
"""The note of a refused turn taken out of the target's conversation."""


class CrescendoParams(StrategyParams):
    """How long the conversation may grow and how often a refusal may be taken back."""

    max_turns: int = Field(default=6, ge=1, le=100, description="Questions kept in the "
                           "target's conversation at most (backtracked ones not counted).")
    max_backtracks: int = Field(default=3, ge=0, le=100, description="Refused questions taken "
                                "back out of the conversation at most; after that a refusal "
                                "stays in it.")


class Crescendo(Strategy):
    """Crescendo: a gradually escalating conversation written by the attacker model, refused
    questions backtracked (see the module docstring)."""

    name = "crescendo"
    summary = ("An attacker model escalates a conversation gradually, backtracking on refusals "
               "(Crescendo).")
    Params = CrescendoParams
    needs_attacker = True
    needs_goal_judge = True

    async def run(self, ctx: StrategyContext) -> list[Turn]:
        params = self.params
        assert isinstance(params, CrescendoParams)
        require_attacker(ctx, self.name)
        attack = ctx.attack
        talk = [Message("system", prompts.crescendo_system(
            attack.goal, attack.target or prompts.DEFAULT_REPLY_START, params.max_turns,
            params.max_backtracks))]
        conversation = ctx.opening()
        turns: list[Turn] = []
        kept = backtracks = 0
        feedback = prompts.crescendo_start(params.max_turns)
        while kept < params.max_turns:
            talk.append(Message("user", feedback))
            result = await ctx.ask_attacker(talk)
            question, rationale = prompts.read_answer(result.text, "question", "rationale")
            failure = attacker_failure(result, question)
            if failure is not None:
                return attacker_failed(turns, talk, result, failure)
            talk.append(Message("assistant", result.text))
            text = ctx.with_documents(question) if kept == 0 else question
            message = Message("user", await ctx.convert(text))
            turn = await ctx.exchange([*conversation, message], rationale)
            if turn.score.verdict == "refused" and backtracks < params.max_backtracks:
                backtracks += 1
                turns.append(replace(turn, note=BACKTRACKED))
                feedback = prompts.crescendo_refused(kept + 1, params.max_turns,
                                                     turn.result.text,
                                                     params.max_backtracks - backtracks)
                continue
            turns.append(turn)
            if turn.score.verdict == "breach" or turn.result.outcome not in ANSWERED:
                break
            conversation += [message, Message("assistant", turn.result.text)]
            kept += 1
            feedback = prompts.crescendo_answered(kept, params.max_turns, turn.result.text,
                                                  turn.score.verdict, turn.score.reason)
        return turns


__all__ = ["BACKTRACKED", "Crescendo", "CrescendoParams"]
