"""Agreement per answer shape: the statistics that fit each question type (pure, no I/O).

One function per shape takes a schema question (its ``model_dump()`` form), long ``(item,
annotator, value)`` rows (:func:`rating_rows`) and a :class:`Bootstrap`, checks every value
against the shape, and returns every statistic that applies (from :mod:`curata.stats.agreement`
and :mod:`curata.stats.typed`), each with a percentile bootstrap interval (items resampled) and
the number of pairable units it rests on. Each question type (:mod:`curata.questions`) calls the
one that fits it; :func:`curata.questions.agreement.question_agreement` dispatches by type and
finishes the result with :func:`agreement_result`:

=============  ===============================================================================
label          nominal Krippendorff's alpha, Fleiss, Gwet's AC1, Brennan-Prediger, percent
               agreement (+ Cohen, Scott for two annotators); ``multiple=True``: per label, a
               binary alpha (chosen or not) and, overall, the mean pairwise Jaccard of the sets
rating         alpha interval and ordinal on the declared scale ``1..points``; quadratic-weighted
               AC2, Fleiss, Brennan-Prediger; Cohen's kappa (quadratic) for two annotators
preference     see :func:`~curata.stats.typed.preference_values` (choice nominal + signed scale +
               decisive pairs)
ranking        Kendall's W (tie-corrected) and mean pairwise Kendall tau-b, per item, averaged
span           token-level F1 between annotators (:func:`~curata.stats.typed.span_agreement`)
response       mean pairwise cosine similarity of MiniLM embeddings
               (:func:`~curata.stats.typed.response_similarity`)
refusal        nominal statistics on ``should_refuse``; alpha on the policy category
text           none (a free comment has no agreement)
=============  ===============================================================================

Statistics averaged over items (W, tau-b, span F1, cosine) give each item with two or more
annotators equal weight; their interval resamples those items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curata.core.answers import PREFERENCE_CHOICES
from curata.stats.agreement import (
    AgreementError,
    Matrix,
    agreement_report,
    alpha_with_interval,
    bootstrap_interval,
    category_counts,
    krippendorff_alpha,
    percent_agreement,
    reliability_matrix,
)
from curata.stats.typed import (
    Encode,
    ItemMean,
    kendall_tau_b_mean,
    kendall_w_mean,
    preference_values,
    response_similarity,
    span_agreement,
)

Rows = list[tuple[str, str, Any]]
NO_STATISTIC = "free comments have no agreement statistic"
"""Why a free-text question's agreement lists no statistic."""


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn: ``samples`` percentile-bootstrap replicates over items."""

    confidence: float
    samples: int
    seed: int

    def interval(
        self, stat: Callable[[Matrix], float], n: int
    ) -> tuple[float | None, float | None]:
        return bootstrap_interval(
            stat, n, samples=self.samples, confidence=self.confidence, seed=self.seed
        )

    def mean(self, name: str, stat: ItemMean, **extra: Any) -> dict[str, Any]:
        values = stat.per_item[np.isfinite(stat.per_item)]
        low, high = self.interval(lambda idx: float(values[idx].mean()), len(values))
        return _stat(name, stat.value, low, high, stat.units, **extra)

    def ratio(self, name: str, num: Matrix, den: Matrix, units: int) -> dict[str, Any]:
        total = float(den.sum())
        value = float(num.sum()) / total if total else float("nan")

        def stat(idx: Matrix) -> float:
            d = float(den[idx].sum())
            return float(num[idx].sum()) / d if d else float("nan")

        low, high = self.interval(stat, len(num))
        return _stat(name, value, low, high, units)


def _stat(name: str, value: float, low: Any, high: Any, units: int, **extra: Any) -> dict[str, Any]:
    out = {"name": name, "value": value, "low": low, "high": high, "units": units, **extra}
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()
    }


def rating_rows(ratings: Sequence[Any]) -> Rows:
    """Long ``(item, annotator, value)`` ratings checked and as strings (``None`` values left
    out); an annotator rating an item twice is an :class:`AgreementError`."""
    rows: Rows = []
    seen: set[tuple[str, str]] = set()
    for n, rating in enumerate(ratings):
        if not isinstance(rating, (tuple, list)) or len(rating) != 3:
            raise AgreementError(
                f"rating {n}: expected (item, annotator, value), got {rating!r}", n
            )
        item, annotator, value = str(rating[0]), str(rating[1]), rating[2]
        if value is None:
            continue
        if (item, annotator) in seen:
            raise AgreementError(f"annotator {annotator!r} rated item {item!r} more than once", n)
        seen.add((item, annotator))
        rows.append((item, annotator, value))
    return rows


def bad_rating(item: str, annotator: str, message: str) -> AgreementError:
    """The error for a malformed value, naming its item and annotator."""
    return AgreementError(f"item {item!r}, annotator {annotator!r}: {message}")


def _grouped(rows: Rows) -> dict[str, list[tuple[str, Any]]]:
    out: dict[str, list[tuple[str, Any]]] = {}
    for item, annotator, value in rows:
        out.setdefault(item, []).append((annotator, value))
    return out


def _nominal(
    rows: Rows, categories: Sequence[Any], boot: Bootstrap, **tag: Any
) -> list[dict[str, Any]]:
    items, annotators, values = zip(*rows, strict=True) if rows else ((), (), ())
    rel = reliability_matrix(items, annotators, values, level="nominal", categories=categories)
    if not _pairable(rel.data):
        return []
    report = agreement_report(
        rel, "nominal", samples=boot.samples, confidence=boot.confidence, seed=boot.seed
    )
    return [{**c.to_dict(), **tag} for c in report]


def _alpha(rows: Rows, level: str, boot: Bootstrap, **tag: Any) -> list[dict[str, Any]]:
    items, annotators, values = zip(*rows, strict=True) if rows else ((), (), ())
    rel = reliability_matrix(items, annotators, values, level=level)
    if not _pairable(rel.data):
        return []
    coef = alpha_with_interval(
        rel.data, level, samples=boot.samples, confidence=boot.confidence, seed=boot.seed
    )
    return [{**coef.to_dict(), **tag}]


def _pairable(data: Matrix) -> bool:
    return bool(((~np.isnan(data)).sum(axis=1) >= 2).any())


def label_statistics(q: Mapping[str, Any], rows: Rows, boot: Bootstrap) -> dict[str, Any]:
    """A label question: nominal statistics; per label and mean pairwise Jaccard when
    ``multiple``."""
    observed = {str(x) for *_, v in rows for x in (v if isinstance(v, list) else [v])}
    labels = list(q.get("labels") or sorted(observed))
    if not q.get("multiple"):
        for item, annotator, value in rows:
            if not isinstance(value, str) or value not in labels:
                raise bad_rating(item, annotator, f"{value!r} is not one of {', '.join(labels)}")
        return {"statistics": _nominal(rows, labels, boot)}
    for item, annotator, value in rows:
        if not isinstance(value, list) or any(v not in labels for v in value):
            raise bad_rating(item, annotator, f"expected a list of labels from {', '.join(labels)}")
    per_label = {
        label: _nominal([(i, a, int(label in v)) for i, a, v in rows], [0, 1], boot)
        for label in labels
    }
    per_item = []
    for answers in _grouped(rows).values():
        sets = [set(v) for _, v in answers]
        pairs = [
            len(a & b) / len(a | b) if a | b else 1.0
            for k, a in enumerate(sets)
            for b in sets[k + 1 :]
        ]
        per_item.append(float(np.mean(pairs)) if pairs else float("nan"))
    jaccard = boot.mean("mean_pairwise_jaccard", ItemMean(np.asarray(per_item)))
    return {"statistics": [jaccard], "per_label": per_label}


def rating_statistics(q: Mapping[str, Any], rows: Rows, boot: Bootstrap) -> dict[str, Any]:
    """A rating question: interval alpha and the ordinal report on the scale ``1..points``."""
    points = q.get("points")
    for item, annotator, value in rows:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_rating(item, annotator, f"rating {value!r} is not a number")
        if points and (value != int(value) or not 1 <= value <= points):
            raise bad_rating(item, annotator, f"rating {value!r} is not on the scale 1..{points}")
    categories = list(range(1, int(points) + 1)) if points else None
    items, annotators, values = zip(*rows, strict=True) if rows else ((), (), ())
    rel = reliability_matrix(items, annotators, values, level="ordinal", categories=categories)
    if not _pairable(rel.data):
        return {"statistics": []}
    interval = _alpha(rows, "interval", boot)
    report = agreement_report(
        rel, "ordinal", samples=boot.samples, confidence=boot.confidence, seed=boot.seed
    )
    return {"statistics": interval + [c.to_dict() for c in report]}


def preference_statistics(q: Mapping[str, Any], rows: Rows, boot: Bootstrap) -> dict[str, Any]:
    """A preference question: its choice (nominal), signed scale and decisive pairs."""
    levels = int(q.get("strength_levels") or 0)
    choices: Rows = []
    signed: Rows = []
    for item, annotator, value in rows:
        try:
            choice, place = preference_values(value, levels=levels)
        except ValueError as exc:
            raise bad_rating(item, annotator, str(exc)) from None
        choices.append((item, annotator, choice))
        if place is not None:
            signed.append((item, annotator, place))
    stats = _nominal(choices, PREFERENCE_CHOICES, boot, scale="choice")
    stats += _alpha(signed, "interval", boot, scale="signed")
    stats += _alpha(signed, "ordinal", boot, scale="signed")
    decisive = [(i, a, c) for i, a, c in choices if c in ("A", "B")]
    if decisive:
        items, annotators, values = zip(*decisive, strict=True)
        rel = reliability_matrix(items, annotators, values, categories=["A", "B"])
        counts = category_counts(rel.data, 2)
        counts = counts[counts.sum(axis=1) >= 2]
        if len(counts):
            low, high = boot.interval(lambda idx: percent_agreement(counts[idx]), len(counts))
            stats.append(
                _stat(
                    "percent_agreement",
                    percent_agreement(counts),
                    low,
                    high,
                    len(counts),
                    scale="decisive",
                    level="nominal",
                )
            )
    both_bad = sum(c == "both_bad" for *_, c in choices)
    share = both_bad / len(choices) if choices else None
    return {"statistics": stats, "both_bad": {"ratings": both_bad, "share": share}}


def ranking_statistics(q: Mapping[str, Any], rows: Rows, boot: Bootstrap) -> dict[str, Any]:
    """A ranking question: Kendall's W and mean pairwise tau-b, averaged over items."""
    size = q.get("responses")
    for item, annotator, value in rows:
        ok = isinstance(value, list) and all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r)
            for r in value
        )
        if not ok or (size and len(value) != size) or len(value) < 2:
            want = f"{size} ranks" if size else "a list of ranks"
            raise bad_rating(item, annotator, f"expected {want} (1 = best), got {value!r}")
    matrices = []
    for item, answers in _grouped(rows).items():
        lengths = {len(v) for _, v in answers}
        if len(lengths) > 1:
            raise AgreementError(f"item {item!r}: annotators ranked different numbers of responses")
        matrices.append(np.asarray([v for _, v in answers], dtype=float))
    return {
        "statistics": [
            boot.mean("kendall_w", kendall_w_mean(matrices), weights="tie-corrected"),
            boot.mean("kendall_tau_b", kendall_tau_b_mean(matrices), weights="mean pairwise"),
        ]
    }


def span_statistics(
    q: Mapping[str, Any], rows: Rows, boot: Bootstrap, texts: Mapping[str, str] | None
) -> dict[str, Any]:
    """A span question: token-level F1 between annotators over each item's text."""
    if texts is None:
        raise AgreementError("span agreement needs the records' texts: pass texts={item: text}")
    labels = list(q.get("labels") or sorted(_span_labels(rows)))
    items = []
    for item, answers in _grouped(rows).items():
        if item not in texts:
            raise AgreementError(f"item {item!r}: no text given for its spans")
        text = texts[item]
        for annotator, spans in answers:
            _check_spans(item, annotator, spans, labels, len(text))
        items.append((text, [spans for _, spans in answers]))
    result = span_agreement(items, labels=labels)
    units = result.mean.units
    pairable = np.isfinite(result.per_item)
    matches, marks = result.matches[pairable], result.marks[pairable]
    return {
        "statistics": [
            boot.mean("token_f1", result.mean, weights="mean pairwise"),
            boot.ratio("token_f1_micro", matches, marks, units),
        ],
        "per_label": {
            label: [boot.ratio("token_f1", matches[:, k], marks[:, k], units)]
            for k, label in enumerate(labels)
        },
    }


def _span_labels(rows: Rows) -> set[str]:
    return {
        str(s["label"])
        for *_, spans in rows
        if isinstance(spans, list)
        for s in spans
        if isinstance(s, Mapping) and "label" in s
    }


def _check_spans(item: str, annotator: str, spans: Any, labels: list[str], limit: int) -> None:
    if not isinstance(spans, list):
        raise bad_rating(item, annotator, f"expected a list of spans, got {type(spans).__name__}")
    for k, span in enumerate(spans):
        if not isinstance(span, Mapping) or not {"start", "end", "label"} <= set(span):
            raise bad_rating(
                item, annotator, f"span {k}: expected {{start, end, label}}, got {span!r}"
            )
        start, end = span["start"], span["end"]
        if any(isinstance(x, bool) or not isinstance(x, int) for x in (start, end)):
            raise bad_rating(item, annotator, f"span {k}: start and end must be integers")
        if not 0 <= start < end <= limit:
            raise bad_rating(item, annotator, f"span {k}: [{start}, {end}) is not inside the text")
        if span["label"] not in labels:
            raise bad_rating(item, annotator, f"span {k}: label {span['label']!r} is not allowed")


def response_statistics(rows: Rows, boot: Bootstrap, encode: Encode | None) -> dict[str, Any]:
    """Written responses: mean pairwise cosine similarity of their embeddings."""
    grouped: dict[str, list[str]] = {}
    for item, annotator, value in rows:
        text = value.get("text") if isinstance(value, Mapping) else value
        if not isinstance(text, str):
            raise bad_rating(
                item, annotator, "expected the response text (a string or {'text': ...})"
            )
        grouped.setdefault(item, []).append(text)
    similarity = response_similarity(list(grouped.values()), encode=encode)
    return {"statistics": [boot.mean("embedding_cosine", similarity, weights="mean pairwise")]}


def refusal_statistics(q: Mapping[str, Any], rows: Rows, boot: Bootstrap) -> dict[str, Any]:
    """A refusal question: nominal on ``should_refuse``, alpha on the policy category."""
    categories = list(q.get("categories") or [])
    decisions: Rows = []
    policies: Rows = []
    for item, annotator, value in rows:
        should = value.get("should_refuse") if isinstance(value, Mapping) else None
        if not isinstance(should, bool):
            raise bad_rating(item, annotator, "expected {'should_refuse': true|false, ...}")
        category = value.get("category") if should else "(comply)"
        if should and categories and category not in categories:
            raise bad_rating(item, annotator, f"category {category!r} is not a policy category")
        decisions.append((item, annotator, should))
        policies.append((item, annotator, str(category)))
    stats = _nominal(decisions, [False, True], boot, scale="should_refuse")
    stats += _alpha(policies, "nominal", boot, scale="category")
    return {"statistics": stats}


def numeric_rows(rows: Rows) -> Rows:
    """``rows`` whose every value is a number (a rating); anything else is an
    :class:`AgreementError` naming the item and the annotator."""
    for item, annotator, value in rows:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_rating(item, annotator, f"rating {value!r} is not a number")
    return rows


def reliability_alpha(rows: Rows, level: str) -> float | None:
    """Krippendorff's alpha of ``rows`` at ``level``; ``None`` when no item has two answers."""
    if not rows:
        return None
    items, annotators, values = zip(*rows, strict=True)
    rel = reliability_matrix(items, annotators, values, level=level)
    if not _pairable(rel.data):
        return None
    return krippendorff_alpha(rel.data, level)


def agreement_result(
    question: Mapping[str, Any], rows: Rows, body: dict[str, Any]
) -> dict[str, Any]:
    """One question's agreement as reported: who and how many, then the statistics of
    ``body`` (a shape function's result) that rest on at least one pairable unit."""
    head: dict[str, Any] = {
        "question": question.get("name"),
        "type": question.get("type"),
        "ratings": len(rows),
        "items": len({item for item, _, _ in rows}),
    }
    body["statistics"] = [s for s in body["statistics"] if s["units"]]
    if "per_label" in body:
        body["per_label"] = {
            label: [s for s in stats if s["units"]] for label, stats in body["per_label"].items()
        }
    return {**head, **body}
