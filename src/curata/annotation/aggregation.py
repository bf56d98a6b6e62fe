"""Aggregating several annotators' answers into one label per question, with a confidence.

Pure functions over plain data. ``aggregate_items`` takes every item's answer sets that count
(``(annotator, answers)`` pairs, after review) and returns, per item, ``{question: {"value",
"confidence", "votes", "tied"}}``. Methods: ``majority`` (per item, explicit tie policy),
``dawid-skene`` (EM over the whole project, per question, from
:mod:`curata.quality.aggregation`) and ``gold-weighted`` (votes weighted by each annotator's
smoothed accuracy on the project's gold items). The two statistical methods apply to
categorical questions; free-text, span and multi-label questions fall back to majority.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from curata.core.ids import canonical_json

Aggregate = dict[str, dict[str, Any]]


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
            "distribution": {soft_key(value): count / total for value, count in ranked},
        }
    return out


def soft_key(value: str) -> str:
    """A soft label's key for an answer given as canonical JSON: a plain label as itself,
    anything else (a preference, a rating) as its canonical JSON."""
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else value


METHODS = ("majority", "dawid-skene", "gold-weighted")
ItemAnswers = list[tuple[int, dict[str, Any]]]
"""One item's answer sets that count, each with the id of the annotator who gave it."""


def aggregate_items(
    method: str,
    items: list[ItemAnswers],
    *,
    categorical: set[str],
    gold_accuracy: dict[tuple[int, str], float] | None = None,
) -> list[Aggregate]:
    """Aggregate every item's answers; ``categorical`` names the questions the statistical
    methods apply to; ``gold_accuracy`` maps (annotator, question) to a smoothed accuracy."""
    out = [majority([answers for _, answers in item]) if item else {} for item in items]
    if method == "majority":
        return out
    names = sorted({n for item in items for _, answers in item for n in answers} & categorical)
    for name in names:
        _model_question(method, name, items, out, gold_accuracy or {})
    return out


def _model_question(
    method: str,
    name: str,
    items: list[ItemAnswers],
    out: list[Aggregate],
    gold_accuracy: dict[tuple[int, str], float],
) -> None:
    import numpy as np

    from curata.quality.aggregation import dawid_skene, gold_weighted

    classes: dict[str, int] = {}
    workers: dict[int, int] = {}
    rows: list[tuple[int, int, int]] = []
    for i, item in enumerate(items):
        for user, answers in item:
            if name in answers:
                value = canonical_json(answers[name])
                rows.append(
                    (
                        i,
                        workers.setdefault(user, len(workers)),
                        classes.setdefault(value, len(classes)),
                    )
                )
    if not rows or len(classes) < 2:
        return  # nothing to model: majority already says it
    arr = np.asarray(rows, dtype=np.int64)
    if method == "dawid-skene":
        result = dawid_skene(
            arr[:, 0], arr[:, 1], arr[:, 2],
            n_items=len(items), n_workers=len(workers), n_classes=len(classes),
        )  # fmt: skip
    else:
        accuracy = np.array([gold_accuracy.get((user, name), 0.5) for user in workers], dtype=float)
        result = gold_weighted(
            arr[:, 0], arr[:, 1], arr[:, 2], accuracy, n_items=len(items), n_classes=len(classes)
        )
    values = [json.loads(v) for v in classes]
    votes = np.bincount(arr[:, 0], minlength=len(items))
    for i in np.unique(arr[:, 0]):
        posterior = result.posteriors[i]
        ranked = np.sort(posterior)[::-1]
        tied = bool(ranked[0] - ranked[1] <= 1e-12)
        out[i][name] = {
            "value": None if tied else values[int(posterior.argmax())],
            "confidence": float(ranked[0]),
            "votes": int(votes[i]),
            "tied": tied,
            "distribution": {
                soft_key(c): float(p) for c, p in zip(classes, posterior, strict=True) if p > 0
            },
        }
