"""The ``ranking`` question: order N responses from best (1) to worst, ties allowed."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from curata.core.ids import canonical_json
from curata.core.records import response_letter
from curata.questions.base import BadAnswer, QuestionType, Texts, soft_key
from curata.questions.preference import letters_of
from curata.stats.questions import ranking_statistics


class RankingQuestion(QuestionType):
    """Order ``responses`` responses from best (1) to worst; ties allowed."""

    summary = "One rank per response, 1 best; equal ranks are ties."
    statistics = staticmethod(ranking_statistics)
    order = 3
    example: ClassVar[dict[str, Any]] = {"responses": 3}
    categorical = True
    record_bound = True
    binds_candidates = True
    modelled = False

    type: Literal["ranking"] = "ranking"
    responses: int = Field(ge=2, le=20, description="How many responses are ranked (2-20).")

    def bind(self, value: Any, candidates: Sequence[str]) -> Any:
        letters, by_name, named = letters_of(candidates)
        if len(candidates) != self.responses:
            raise BadAnswer(
                f"this record has {len(candidates)} responses; the question ranks {self.responses}"
            )
        if not isinstance(value, dict):
            return value
        ranks: dict[str, Any] = {}
        for key, rank in value.items():
            if key not in by_name:
                raise BadAnswer(f"{key!r} is not a response of this record", named)
            if by_name[key] in ranks:
                raise BadAnswer(f"response {by_name[key]} is ranked twice")
            ranks[by_name[key]] = rank
        missing = [x for x in letters if x not in ranks]
        if missing:
            raise BadAnswer(f"no rank for response(s) {', '.join(missing)}", named)
        return [ranks[x] for x in letters]

    def check(self, value: Any, texts: Texts) -> list[int]:
        allowed = f"{self.responses} integers from 1 (best); equal numbers are ties"
        if not isinstance(value, list) or len(value) != self.responses:
            raise BadAnswer(f"expected {self.responses} ranks, got {value!r}", allowed)
        if any(isinstance(r, bool) or not isinstance(r, int) for r in value):
            raise BadAnswer("ranks must be integers", allowed)
        ranks = sorted(set(value))
        if ranks != list(range(1, len(ranks) + 1)):
            raise BadAnswer(f"ranks {value} skip a place (use 1..k with no gaps)", allowed)
        return list(value)

    def draw(self, rng: random.Random, texts: Texts | None = None) -> Any:
        order = list(range(1, self.responses + 1))
        rng.shuffle(order)
        return order

    def mistake(self, truth: Any, rng: random.Random, texts: Texts | None = None) -> Any:
        pairs = [
            (i, j)
            for i in range(len(truth))
            for j in range(i + 1, len(truth))
            if truth[i] != truth[j]
        ]
        if not pairs:
            return truth
        i, j = rng.choice(pairs)
        out = list(truth)
        out[i], out[j] = out[j], out[i]
        return out

    def to_record(self, value: Any, order: Sequence[int]) -> Any:
        if isinstance(value, list) and len(value) == len(order):
            ranks: list[Any] = [None] * len(order)
            for k, i in enumerate(order):
                ranks[i] = value[k]
            return ranks
        if isinstance(value, dict):
            shown = {response_letter(k): response_letter(i) for k, i in enumerate(order)}
            return {shown.get(key, key): v for key, v in value.items()}
        return value

    def to_shown(self, value: Any, order: Sequence[int]) -> Any:
        if isinstance(value, list) and len(value) == len(order):
            return [value[i] for i in order]
        return value

    @classmethod
    def consensus(cls, given: list[Any]) -> dict[str, Any] | None:
        """Candidates ordered by their mean rank over the answers (a Borda count), equal means
        sharing a rank (``[1, 1, 2]``), so annotators who differ anywhere still give an order.
        Confidence: the share of the annotators' judgements of each pair of candidates (better,
        worse or equal) that the consensus makes too. The soft label is the share of each
        ranking as given. ``None`` unless every answer ranks the same number of candidates."""
        rankings = (
            bool(given)
            and all(isinstance(r, list) and r for r in given)
            and len({len(r) for r in given}) == 1
        )
        return mean_rank(given) if rankings else None


def mean_rank(given: list[list[int]]) -> dict[str, Any]:
    """A ranking question's consensus (:meth:`RankingQuestion.consensus`) of rankings of the
    same candidates."""
    n = len(given[0])
    means = [sum(r[c] for r in given) / len(given) for c in range(n)]
    levels = sorted({round(m, 9) for m in means})
    value = [levels.index(round(m, 9)) + 1 for m in means]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]

    def order(ranks: list[int], i: int, j: int) -> int:
        return (ranks[i] > ranks[j]) - (ranks[i] < ranks[j])

    agreed = sum(order(r, i, j) == order(value, i, j) for r in given for i, j in pairs)
    shares = Counter(canonical_json(r) for r in given).most_common()
    return {
        "value": value,
        "confidence": agreed / (len(given) * len(pairs)) if pairs else 1.0,
        "votes": len(given),
        "tied": False,
        "distribution": {soft_key(r): count / len(given) for r, count in shares},
    }
