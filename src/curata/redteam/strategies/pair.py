"""``pair``: an attacker model refines a single-turn prompt from the target's replies.

After PAIR, *Prompt Automatic Iterative Refinement* (Chao, Robey, Dobriban, Hassani, Pappas and
Wong 2023, "Jailbreaking Black Box Large Language Models in Twenty Queries"). The attacker
model is told the goal (``attack.goal``) and the reply opening aimed for (``attack.target``, or
"Sure, here is") by its system prompt (:func:`.prompts.pair_system`). Each iteration sends one
prompt to the target in a fresh single-turn conversation (the attack's system prompt, if any,
then the prompt with the attack's documents, through the converter chain) and judges the reply;
the reply and the verdict go back to the attacker, whose conversation grows, and it answers
with ``{"improvement": ..., "prompt": ...}``: the next prompt and why. The first iteration sends
the attack's own prompt, so an attack that needs no refinement costs no attacker request.

The attempt stops at the first breach, after ``iterations`` prompts, or when the target gives
no reply (``error``, ``timeout``, ``budget_exhausted``: the runner has already retried what could
pass). Each turn's ``note`` is the attacker's "improvement" (None for the first). A failed
attacker request — an error, a timeout, an empty answer or no prompt in it — ends the attempt:
its turns so far are returned, the last one's note saying that the attacker failed; with no
turn yet, the attempt is one turn holding the attacker's request and result, judged ``error``
(scorer ``attacker``), never a breach.

The paper runs many attacker streams in parallel; here one attempt is one stream, and the
samples a campaign draws of each attack give more.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from curata.redteam.scorers.base import Score
from curata.redteam.strategies import prompts
from curata.redteam.strategies.base import (
    Strategy,
    StrategyContext,
    StrategyError,
    StrategyParams,
    Turn,
)
from curata.redteam.targets.base import Message
from curata.redteam.targets.runner import Outcome, TargetResult

ANSWERED = (Outcome.OK, Outcome.EMPTY)
"""Target outcomes after which an attacker loop goes on (the others: no reply to learn from)."""


class PairParams(StrategyParams):
    """How long the attacker refines."""

    iterations: int = Field(default=5, ge=1, le=100, description="Prompts sent to the target "
                            "at most (the first is the attack's own; each further one is the "
                            "attacker's refinement): the paper's depth.")


class Pair(Strategy):
    """PAIR: the attack's prompt, then the attacker model's refinements of it, each sent alone
    (see the module docstring)."""

    name = "pair"
    summary = "An attacker model refines a single-turn prompt from the target's replies (PAIR)."
    Params = PairParams
    needs_attacker = True

    async def run(self, ctx: StrategyContext) -> list[Turn]:
        params = self.params
        assert isinstance(params, PairParams)
        require_attacker(ctx, self.name)
        attack = ctx.attack
        talk = [Message("system", prompts.pair_system(
            attack.goal, attack.target or prompts.DEFAULT_REPLY_START))]
        prompt, improvement = attack.prompt, None
        turns: list[Turn] = []
        for iteration in range(1, params.iterations + 1):
            if iteration > 1:
                last = turns[-1]
                talk.append(Message("user", prompts.pair_feedback(
                    iteration - 1, params.iterations, prompt if iteration == 2 else None,
                    last.result.text, last.score.verdict, last.score.reason)))
                result = await ctx.ask_attacker(talk)
                prompt, improvement = prompts.read_answer(result.text, "prompt", "improvement")
                failure = attacker_failure(result, prompt)
                if failure is not None:
                    return attacker_failed(turns, talk, result, failure)
                talk.append(Message("assistant", result.text))
            text = await ctx.convert(ctx.with_documents(prompt))
            turn = await ctx.exchange([*ctx.opening(), Message("user", text)], improvement)
            turns.append(turn)
            if turn.score.verdict == "breach" or turn.result.outcome not in ANSWERED:
                break
        return turns


def require_attacker(ctx: StrategyContext, strategy: str) -> None:
    """StrategyError before anything is sent when the campaign has no attacker target."""
    if ctx.attacker is None:
        raise StrategyError(f"strategy {strategy!r} needs an attacker target (--attacker)")


def attacker_failure(result: TargetResult, text: str) -> str | None:
    """Why an attacker request gave nothing to send (its outcome and error, or an answer with
    nothing in it), or None when ``text`` is what to send."""
    if result.outcome is not Outcome.OK:
        return result.outcome.value + (f": {result.error}" if result.error else "")
    if not text.strip():
        return "its answer held no prompt"
    return None


def attacker_failed(
    turns: list[Turn], talk: list[Message], result: TargetResult, why: str
) -> list[Turn]:
    """The turns of an attempt whose attacker failed: those so far, the last one's note
    saying so; with none, one turn holding the attacker's request and result, judged
    ``error`` by the ``attacker`` (so the attempt is an error, never a breach)."""
    said = f"attacker failed: {why} (attempt ended)"
    if turns:
        last = turns[-1]
        turns[-1] = replace(last, note=f"{last.note}\n{said}" if last.note else said)
        return turns
    score = Score("error", 1.0, f"the attacker model failed: {why}", scorer="attacker")
    return [Turn(tuple(talk), result, score, said)]


__all__ = ["Pair", "PairParams", "attacker_failed", "attacker_failure", "require_attacker"]
