"""Aggregating several annotators' answers into one label per question, with a confidence.

Pure functions over plain data. An aggregator takes, for one item, the answer sets that count
(one per annotator, after review) and returns ``{question: {"value", "confidence", "votes",
"tied"}}``. Majority vote is here; Dawid-Skene and gold-weighted voting, which need
per-annotator statistics across items, arrive with the quality layer (#4) through the same
registry.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from curata.core.ids import canonical_json

Aggregate = dict[str, dict[str, Any]]
Aggregator = Callable[[list[dict[str, Any]]], Aggregate]


def majority(answer_sets: list[dict[str, Any]]) -> Aggregate:
    """Per question, the most common answer and its share of the votes.

    Tie policy (explicit): when two or more answers share the top count, the value is ``None``
    and ``tied`` is true, so a tie is never silently resolved by order of arrival.
    """
    names = sorted({name for answers in answer_sets for name in answers})
    out: Aggregate = {}
    for name in names:
        votes = Counter(canonical_json(a[name]) for a in answer_sets if name in a)
        total = sum(votes.values())
        ranked = votes.most_common()
        top_count = ranked[0][1]
        leaders = [value for value, count in ranked if count == top_count]
        tied = len(leaders) > 1
        out[name] = {
            "value": None if tied else json.loads(leaders[0]),
            "confidence": top_count / total,
            "votes": total,
            "tied": tied,
        }
    return out


AGGREGATORS: dict[str, Aggregator] = {"majority": majority}
PLANNED = {"dawid-skene": "#4 (quality)", "gold-weighted": "#4 (quality)"}
