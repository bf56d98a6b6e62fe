"""Aggregating several annotators' answers into one label per question, with a confidence.

Pure functions over plain data. ``aggregate_items`` takes every item's answer sets that count
(``(annotator, answers)`` pairs, after review) and returns, per item, ``{question: {"value",
"confidence", "votes", "tied", "distribution"}}``. Methods: ``majority`` (per item, explicit tie
policy), ``dawid-skene`` (EM over the whole project, per question, from
:mod:`curata.stats.aggregation`, with gold items clamped to their known answers and
:meth:`~curata.stats.aggregation.DirichletPrior.default` pseudo-counts) and ``gold-weighted``
(votes weighted by each annotator's smoothed accuracy on the project's gold items). The two
statistical methods apply to categorical questions; free-text, span and multi-label questions
fall back to majority. An item with a known (gold) answer gets it, whatever the method.
What a vote is counted on, and what is released, is the question type's
(:mod:`curata.questions`): every method counts a preference on its choice (:func:`vote_key`,
released with the median strength of those who chose it,
:meth:`~curata.questions.PreferenceQuestion.released`) and orders a ranking by its candidates'
mean ranks (:func:`~curata.questions.ranking.mean_rank`, a Borda count).

A Dawid-Skene (or gold-weighted) label that none of the item's annotators chose is marked
``"outside_votes"`` (the label, its posterior, the answers given, the reason: which annotators'
confusion implies it, or whose below-chance gold accuracy counts against their answers, and
what the project's policy did with it: ``review``, ``forbid`` or ``allow``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, ClassVar

import numpy as np

from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.core.plugins import Plugin, Registry
from curata.questions import question_type
from curata.questions.base import soft_key as soft_key  # final and quality read it here
from curata.stats.aggregation import (
    TIE,
    DirichletPrior,
    Posteriors,
    dawid_skene,
    gold_weighted,
    majority_labels,
)

Aggregate = dict[str, dict[str, Any]]


def vote_key(kind: str | None, value: Any) -> Any:
    """What a vote on a question of type ``kind`` is counted on: a preference's choice (its
    strength and rationale are not voted on), any other answer as it is."""
    return question_type(kind).vote_key(value)


def majority(answer_sets: list[dict[str, Any]], types: dict[str, str] | None = None) -> Aggregate:
    """Per question, the most common answer and its share of the votes.

    Tie policy (explicit, the one rule of :func:`curata.stats.aggregation.majority_labels`):
    when two or more answers share the top count, the value is ``None`` and ``tied`` is true,
    so a tie is never silently resolved by order of arrival or of classes.

    ``types`` (question name -> type) picks what is voted on and what is released (the
    type's ``vote_key``, ``released`` and ``consensus``): a preference's choice, with the median
    strength of those who chose it; a ranking is not voted on as a whole but ordered by its
    candidates' mean ranks.
    """
    types = types or {}
    names = sorted({name for answers in answer_sets for name in answers})
    out: Aggregate = {}
    for name in names:
        given = [a[name] for a in answer_sets if name in a]
        kind = question_type(types.get(name))
        consensus = kind.consensus(given)
        if consensus is not None:
            out[name] = consensus
            continue
        votes = Counter(canonical_json(kind.vote_key(value)) for value in given)
        total = sum(votes.values())
        ranked = votes.most_common()
        top_count = ranked[0][1]
        [label] = majority_labels(np.array([[count for _, count in ranked]])).tolist()
        tied = label == TIE
        value = None if tied else json.loads(ranked[label][0])
        if value is not None:
            value = kind.released(value, given)
        out[name] = {
            "value": value,
            "confidence": top_count / total,
            "votes": total,
            "tied": tied,
            "distribution": {soft_key(value): count / total for value, count in ranked},
        }
    return out


class Aggregator(Plugin):
    """A way of combining annotators' answers into one label per question, registered under
    the entry-point group ``curata.aggregators``; :func:`aggregate_items` dispatches by name.

    Every method starts from :func:`majority` (which also handles free text, spans, multi-label
    answers, preferences and rankings); a ``statistical`` one then models each categorical
    question over the whole project with :meth:`fit`. Declared metadata says what a method
    needs: ``needs_gold_accuracy`` (each annotator's smoothed accuracy on gold items),
    ``uses_anchors`` (learns from answered gold items outside the released ones)."""

    abstract = True
    kind = "aggregator"
    statistical: ClassVar[bool] = True
    needs_gold_accuracy: ClassVar[bool] = False
    uses_anchors: ClassVar[bool] = False
    reference: ClassVar[str] = ""
    order: ClassVar[int] = 100
    """Where the method is listed (choices, messages): the built-ins first, in this order."""

    def fit(
        self,
        rows: np.ndarray,
        accuracy: np.ndarray,
        clamp: np.ndarray,
        *,
        n_items: int,
        n_workers: int,
        n_classes: int,
    ) -> Posteriors:
        """Posteriors (and confusion matrices, if the method has them) of one question from
        ``rows`` (item, annotator, class index); ``accuracy`` per annotator index, ``clamp``
        an item's known class or -1."""
        raise NotImplementedError


class Majority(Aggregator):
    """Majority vote per item (:func:`majority`): the explicit tie rule, no model."""

    name = "majority"
    summary = "Most common answer per item; a tie gives no value and is marked tied."
    statistical = False
    order = 0


class DawidSkene(Aggregator):
    """Dawid-Skene EM with gold items clamped and default Dirichlet pseudo-counts."""

    name = "dawid-skene"
    summary = "Dawid-Skene EM over the project: each annotator's confusion matrix, gold clamped."
    uses_anchors = True
    reference = (
        "Dawid & Skene (1979), Maximum likelihood estimation of observer error-rates using the "
        "EM algorithm, Applied Statistics 28(1)"
    )
    order = 1

    def fit(
        self, rows: np.ndarray, accuracy: np.ndarray, clamp: np.ndarray, *,
        n_items: int, n_workers: int, n_classes: int,
    ) -> Posteriors:  # fmt: skip
        return dawid_skene(
            rows[:, 0], rows[:, 1], rows[:, 2],
            n_items=n_items, n_workers=n_workers, n_classes=n_classes,
            prior=DirichletPrior.default(n_classes), known=clamp,
        )  # fmt: skip


class GoldWeighted(Aggregator):
    """Votes weighted by each annotator's smoothed accuracy on the project's gold items."""

    name = "gold-weighted"
    summary = "Votes weighted by each annotator's smoothed accuracy on gold items."
    needs_gold_accuracy = True
    order = 2

    def fit(
        self, rows: np.ndarray, accuracy: np.ndarray, clamp: np.ndarray, *,
        n_items: int, n_workers: int, n_classes: int,
    ) -> Posteriors:  # fmt: skip
        return gold_weighted(
            rows[:, 0], rows[:, 1], rows[:, 2], accuracy, n_items=n_items, n_classes=n_classes
        )


AGGREGATORS: Registry[type[Aggregator]] = Registry("curata.aggregators", Aggregator, "aggregator")


def aggregators() -> dict[str, type[Aggregator]]:
    """Every registered aggregator by name, in listing order (built-ins first)."""
    return dict(sorted(AGGREGATORS.load().items(), key=lambda kv: (kv[1].order, kv[0])))


METHODS = tuple(aggregators())
"""The registered aggregation methods' names (``majority``, ``dawid-skene``,
``gold-weighted``, then any plugin's)."""
OUTSIDE_VOTES = ("review", "forbid", "allow")
"""What a release does with a Dawid-Skene label that no annotator of the item chose: hold it
back and send the item to review (default), replace it by the most probable answer that was
given, or release it; it is marked with its reason in every case."""


def aggregation_policy(settings: dict[str, Any]) -> dict[str, Any]:
    """A project's aggregation policy (``settings["aggregation"]``) with its defaults filled in,
    validated: ``{"outside_votes": "review" | "forbid" | "allow"}``."""
    given = settings.get("aggregation") or {}
    if not isinstance(given, dict):
        raise ValidationError("aggregation: expected a mapping such as {outside_votes: review}")
    unknown = sorted(set(given) - {"outside_votes"})
    if unknown:
        raise ValidationError(f"aggregation: unknown setting {unknown[0]!r} (known: outside_votes)")
    policy = {"outside_votes": "review", **given}
    if policy["outside_votes"] not in OUTSIDE_VOTES:
        raise ValidationError(
            f"aggregation.outside_votes: {policy['outside_votes']!r} is not one of "
            f"{', '.join(OUTSIDE_VOTES)}"
        )
    return policy


ItemAnswers = list[tuple[int, dict[str, Any]]]
"""One item's answer sets that count, each with the id of the annotator who gave it."""


def aggregate_items(
    method: str,
    items: list[ItemAnswers],
    *,
    categorical: set[str],
    gold_accuracy: dict[tuple[int, str], float] | None = None,
    known: list[dict[str, Any] | None] | None = None,
    anchors: list[tuple[ItemAnswers, dict[str, Any]]] | None = None,
    names: dict[int, str] | None = None,
    outside_votes: str = "review",
    types: dict[str, str] | None = None,
) -> list[Aggregate]:
    """Aggregate every item's answers; ``categorical`` names the questions the statistical
    methods apply to; ``gold_accuracy`` maps (annotator, question) to a smoothed accuracy.

    ``known`` (parallel to ``items``) gives an item's known answers (a gold record): they are
    its label, with confidence 1 and ``"gold": True``, and Dawid-Skene clamps the item to them.
    ``anchors`` are further answered items with known answers (gold items outside ``items``)
    that Dawid-Skene learns the annotators' confusion from. ``names`` (annotator id -> name)
    is for the reasons; ``outside_votes`` is the policy for labels nobody chose
    (:data:`OUTSIDE_VOTES`). ``types`` (question name -> type): a preference is aggregated on
    its choice by every method, a ranking by its mean ranks (the statistical methods model
    only types whose ``modelled`` is set: not whole rankings)."""
    if outside_votes not in OUTSIDE_VOTES:
        raise ValidationError(f"outside_votes: {outside_votes!r} is not one of {OUTSIDE_VOTES}")
    known = known or [None] * len(items)
    types = types or {}
    aggregator = AGGREGATORS.get(method)()
    out = [majority([answers for _, answers in item], types) if item else {} for item in items]
    if aggregator.statistical:
        names_in = {n for item in items for _, answers in item for n in answers} & categorical
        for name in sorted(n for n in names_in if question_type(types.get(n)).modelled):
            _model_question(
                aggregator, name, items, out, gold_accuracy or {},
                known=known, anchors=anchors or [], names=names or {}, policy=outside_votes,
                kind=types.get(name),
            )  # fmt: skip
    for answers, combined in zip(known, out, strict=True):
        for name, value in (answers or {}).items():
            combined[name] = {
                "value": value,
                "confidence": 1.0,
                "votes": combined.get(name, {}).get("votes", 0),
                "tied": False,
                "gold": True,
                "distribution": {soft_key(canonical_json(vote_key(types.get(name), value))): 1.0},
            }
    return out


def _shown(value: str) -> str:
    """An answer (canonical JSON) as a reason quotes it: a plain label in quotes."""
    decoded = json.loads(value)
    return repr(decoded) if isinstance(decoded, str) else value


def outside_reason(
    label: int,
    answered: list[tuple[int, int]],
    confusion: Any,
    posterior: Any,
    *,
    classes: list[str],
    names: dict[int, str],
) -> str:
    """Why Dawid-Skene gives an item the class ``label`` that none of its annotators chose:
    each annotator's rate of giving their answer when the truth is ``label`` (their confusion
    matrix), likeliest first, and the posterior against the likeliest answer given.

    ``answered``: (annotator index, class index) per answer on the item; ``confusion``:
    annotators x true class x answer; ``classes``: each class as canonical JSON."""
    given = sorted({c for _, c in answered}, key=lambda c: -float(posterior[c]))
    rates = sorted(
        ((float(confusion[j, label, c]), names.get(j, str(j)), c) for j, c in answered),
        key=lambda r: (-r[0], r[1]),
    )
    said = ", ".join(
        f"{who} answers {_shown(classes[c])} for true {_shown(classes[label])} "
        f"{rate:.0%} of the time"
        for rate, who, c in rates
    )
    best = given[0]
    return (
        f"no annotator answered {_shown(classes[label])} (answers: "
        f"{', '.join(_shown(classes[c]) for c in given)}); Dawid-Skene infers it from their "
        f"confusion matrices: {said}; posterior {float(posterior[label]):.3f} against "
        f"{float(posterior[best]):.3f} for {_shown(classes[best])}, the likeliest answer given"
    )


def _below_chance_reason(
    label: int, answered: list[tuple[int, int]], accuracy: Any, classes: list[str],
    names: dict[int, str],
) -> str:  # fmt: skip
    """Why gold-weighted voting gives a class nobody chose: the annotators whose smoothed gold
    accuracy is below chance (1/K), whose votes therefore count against their answer."""
    chance = 1 / max(len(classes), 2)
    said = ", ".join(
        f"{names.get(j, str(j))} (gold accuracy {float(accuracy[j]):.0%}, chance {chance:.0%}) "
        f"answered {_shown(classes[c])}"
        for j, c in sorted(answered, key=lambda r: float(accuracy[r[0]]))
    )
    return (
        f"no annotator answered {_shown(classes[label])}; gold-weighted voting counts the "
        f"answers of annotators below chance on gold against those answers: {said}"
    )


def _model_question(
    model: Aggregator,
    name: str,
    items: list[ItemAnswers],
    out: list[Aggregate],
    gold_accuracy: dict[tuple[int, str], float],
    *,
    known: list[dict[str, Any] | None],
    anchors: list[tuple[ItemAnswers, dict[str, Any]]],
    names: dict[int, str],
    policy: str,
    kind: str | None = None,
) -> None:
    classes: dict[str, int] = {}
    workers: dict[int, int] = {}
    rows: list[tuple[int, int, int]] = []
    fitted = items + [item for item, _ in anchors] if model.uses_anchors else items
    for i, item in enumerate(fitted):
        for user, answers in item:
            if name in answers:
                value = canonical_json(vote_key(kind, answers[name]))
                rows.append(
                    (
                        i,
                        workers.setdefault(user, len(workers)),
                        classes.setdefault(value, len(classes)),
                    )
                )
    truths = [*known, *[answers for _, answers in anchors]][: len(fitted)]
    clamp = [
        classes.setdefault(canonical_json(vote_key(kind, t[name])), len(classes))
        if t and name in t
        else -1
        for t in truths
    ]
    if not rows or len(classes) < 2:
        return  # nothing to model: majority (or the known answer) already says it
    arr = np.asarray(rows, dtype=np.int64)
    accuracy = np.array([gold_accuracy.get((user, name), 0.5) for user in workers], dtype=float)
    result = model.fit(
        arr, accuracy, np.asarray(clamp, dtype=np.int64),
        n_items=len(fitted), n_workers=len(workers), n_classes=len(classes),
    )  # fmt: skip
    values = [json.loads(v) for v in classes]
    keys = list(classes)
    who = {j: names.get(user, str(user)) for user, j in workers.items()}
    mine = arr[arr[:, 0] < len(items)]
    votes = np.bincount(mine[:, 0], minlength=len(items))
    answered: dict[int, list[tuple[int, int]]] = {}
    for i, j, c in mine.tolist():
        answered.setdefault(i, []).append((j, c))
    for i in np.unique(mine[:, 0]).tolist():
        posterior = result.posteriors[i]
        ranked = np.sort(posterior)[::-1]
        tied = bool(ranked[0] - ranked[1] <= 1e-12)
        entry: dict[str, Any] = {
            "value": None if tied else values[int(posterior.argmax())],
            "confidence": float(ranked[0]),
            "votes": int(votes[i]),
            "tied": tied,
            "distribution": {
                soft_key(c): float(p) for c, p in zip(classes, posterior, strict=True) if p > 0
            },
        }
        label = int(posterior.argmax())
        given = {c for _, c in answered[i]}
        if not tied and clamp[i] < 0 and label not in given:
            if result.confusion is not None:
                reason = outside_reason(
                    label, answered[i], result.confusion, posterior, classes=keys, names=who
                )
            else:  # gold-weighted: votes of annotators below chance on gold count against
                reason = _below_chance_reason(label, answered[i], accuracy, keys, who)
            entry["outside_votes"] = {
                "label": values[label],
                "confidence": float(posterior[label]),
                "answers": [values[c] for c in sorted(given, key=lambda c: keys[c])],
                "reason": reason,
                "action": policy,
            }
            if policy == "review":  # held back: no label; the soft label is what was said
                held = out[i].get(name) or {}
                entry.update(
                    value=None,
                    confidence=held.get("confidence", 0.0),
                    distribution=held.get("distribution", {}),
                )
            elif policy == "forbid":  # the most probable answer that somebody gave
                best = max(given, key=lambda c: float(posterior[c]))
                entry.update(value=values[best], confidence=float(posterior[best]))
        if entry["value"] is not None:
            entry["value"] = question_type(kind).released(
                entry["value"], [answers[name] for _, answers in items[i] if name in answers]
            )
        out[i][name] = entry
