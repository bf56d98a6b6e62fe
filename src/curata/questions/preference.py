"""The ``preference`` question: which of two responses is better (tie and both-bad allowed)."""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from curata.core.answers import PREFERENCE_CHOICES
from curata.core.records import response_letter
from curata.questions.base import BadAnswer, QuestionType, Texts, policed_text, type_name
from curata.stats.agreement import AgreementError
from curata.stats.questions import Rows, preference_statistics, reliability_alpha
from curata.stats.typed import preference_values


def letters_of(candidates: Sequence[str]) -> tuple[list[str], dict[str, str], str]:
    """A pairwise record's candidate letters, a map from each id or letter to its letter, and
    how a message lists what may be named."""
    letters = [response_letter(i) for i in range(len(candidates))]
    by_name = {**dict(zip(candidates, letters, strict=True)), **{x: x for x in letters}}
    return letters, by_name, ", ".join(dict.fromkeys([*letters, *candidates]))


def map_choice(value: Any, letters: Mapping[str, str]) -> Any:
    """A preference answer (a choice, or an object with one) with its choice renamed."""
    if isinstance(value, str):
        return letters.get(value, value)
    if isinstance(value, dict) and isinstance(value.get("choice"), str):
        return {**value, "choice": letters.get(value["choice"], value["choice"])}
    return value


class PreferenceQuestion(QuestionType):
    """Pairwise preference between responses A and B (tie and both-bad allowed)."""

    summary = "A choice between responses A and B (tie, both_bad), with strength and rationale."
    statistics = staticmethod(preference_statistics)
    order = 2
    categorical = True
    record_bound = True
    binds_candidates = True

    type: Literal["preference"] = "preference"
    strength_levels: int = Field(
        default=0, ge=0, le=5, description="0: no strength asked; else the strength is 1..n."
    )
    rationale: Literal["none", "optional", "required"] = Field(
        "optional", description="Whether a written rationale is refused, optional or required."
    )

    def bind(self, value: Any, candidates: Sequence[str]) -> Any:
        if len(candidates) != 2:
            raise BadAnswer(
                f"a preference compares two responses; this record has {len(candidates)} "
                "(use a ranking question)"
            )
        _, by_name, named = letters_of(candidates)
        answer = {"choice": value} if isinstance(value, str) else value
        if not isinstance(answer, dict):
            return value
        choice = answer.get("choice")
        if choice in PREFERENCE_CHOICES[2:]:
            return answer
        if not isinstance(choice, str) or choice not in by_name:
            raise BadAnswer(
                f"choice {choice!r} is not a response of this record",
                f"{named}, {', '.join(PREFERENCE_CHOICES[2:])}",
            )
        return {**answer, "choice": by_name[choice]}

    def check(self, value: Any, texts: Texts) -> dict[str, Any]:
        if isinstance(value, str):
            value = {"choice": value}
        if not isinstance(value, dict):
            raise BadAnswer(f"expected an object with 'choice', got {type_name(value)}")
        extra = set(value) - {"choice", "strength", "rationale"}
        if extra:
            raise BadAnswer(f"unknown fields {sorted(extra)}", "choice, strength, rationale")
        choice = value.get("choice")
        if choice not in PREFERENCE_CHOICES:
            raise BadAnswer(f"choice {choice!r} is not allowed", ", ".join(PREFERENCE_CHOICES))
        out: dict[str, Any] = {"choice": choice}
        strength = value.get("strength")
        levels = self.strength_levels
        if levels:
            if choice in ("A", "B"):
                if isinstance(strength, bool) or not isinstance(strength, int):
                    raise BadAnswer("a strength is required", f"integers 1..{levels}")
                if not 1 <= strength <= levels:
                    raise BadAnswer(f"strength {strength} is out of range", f"1..{levels}")
                out["strength"] = strength
            elif strength is not None:
                raise BadAnswer(f"no strength with choice {choice!r}")
        elif strength is not None:
            raise BadAnswer("this question asks no strength")
        rationale = policed_text(
            value.get("rationale"), self.rationale, field="rationale", noun="rationale"
        )
        if rationale:
            out["rationale"] = rationale
        return out

    def classes(self) -> list[Any] | None:
        return list(PREFERENCE_CHOICES)

    def _answer(self, choice: str, rng: random.Random) -> dict[str, Any]:
        out: dict[str, Any] = {"choice": choice}
        if self.strength_levels and choice in ("A", "B"):
            out["strength"] = rng.randint(1, self.strength_levels)
        if self.rationale == "required":
            out["rationale"] = f"simulated: {choice}"
        return out

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        return self._answer(rng.choice(PREFERENCE_CHOICES), rng)

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        said = self.vote_key(truth)
        return self._answer(rng.choice([c for c in PREFERENCE_CHOICES if c != said]), rng)

    def to_record(self, value: Any, order: Sequence[int]) -> Any:
        return map_choice(
            value, {response_letter(k): response_letter(i) for k, i in enumerate(order)}
        )

    def to_shown(self, value: Any, order: Sequence[int]) -> Any:
        return map_choice(
            value, {response_letter(i): response_letter(k) for k, i in enumerate(order)}
        )

    @classmethod
    def vote_key(cls, value: Any) -> Any:
        return value.get("choice") if isinstance(value, dict) else value

    @classmethod
    def released(cls, value: Any, given: list[Any]) -> Any:
        """The choice, with the median strength of the answers that chose it (when they gave
        one; ``1.5`` between 1 and 2). Rationales are free text, not voted on: they stay with
        each annotation."""
        strengths = [
            a["strength"]
            for a in given
            if isinstance(a, dict) and a.get("choice") == value and a.get("strength") is not None
        ]
        if not strengths:
            return {"choice": value}
        middle = statistics.median(strengths)
        return {"choice": value, "strength": int(middle) if middle == int(middle) else middle}

    @classmethod
    def gate_alpha(cls, question: Mapping[str, Any], rows: Rows) -> tuple[float | None, str]:
        levels = int(question.get("strength_levels") or 0)
        try:
            choices = [(i, a, preference_values(v, levels=levels)[0]) for i, a, v in rows]
        except ValueError as exc:
            raise AgreementError(str(exc)) from None
        return reliability_alpha(choices, "nominal"), "nominal"
