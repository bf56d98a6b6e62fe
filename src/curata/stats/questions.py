"""Agreement per question type: the statistic that fits each answer shape (pure, no I/O).

:func:`question_agreement` takes a schema question (its ``model_dump()`` form) and long
``(item, annotator, value)`` ratings, checks every value against the question's answer shape,
and returns every statistic that applies (from :mod:`curata.stats.agreement` and
:mod:`curata.stats.typed`), each with a percentile bootstrap interval (items resampled) and
the number of pairable units it rests on:

=============  ===============================================================================
label          nominal Krippendorff's alpha, Fleiss, Gwet's AC1, Brennan-Prediger, percent
               agreement (+ Cohen, Scott for two annotators); ``multiple=True``: per label, a
               binary alpha (chosen or not) and, overall, the mean pairwise Jaccard of the sets
rating         alpha interval and ordinal on the declared scale ``1..points``; quadratic-weighted
               AC2, Fleiss, Brennan-Prediger; Cohen's kappa (quadratic) for two annotators
preference     see :func:`preference_values` (choice nominal + signed scale + decisive pairs)
ranking        Kendall's W (tie-corrected) and mean pairwise Kendall tau-b, per item, averaged
span           token-level F1 between annotators (:func:`span_agreement`)
response       mean pairwise cosine similarity of MiniLM embeddings (:func:`response_similarity`)
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
from curata.core.ids import canonical_json
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


@dataclass(frozen=True)
class _Boot:
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


def _rows(ratings: Sequence[Any]) -> Rows:
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


def _bad(item: str, annotator: str, message: str) -> AgreementError:
    return AgreementError(f"item {item!r}, annotator {annotator!r}: {message}")


def _grouped(rows: Rows) -> dict[str, list[tuple[str, Any]]]:
    out: dict[str, list[tuple[str, Any]]] = {}
    for item, annotator, value in rows:
        out.setdefault(item, []).append((annotator, value))
    return out


def _nominal(
    rows: Rows, categories: Sequence[Any], boot: _Boot, **tag: Any
) -> list[dict[str, Any]]:
    items, annotators, values = zip(*rows, strict=True) if rows else ((), (), ())
    rel = reliability_matrix(items, annotators, values, level="nominal", categories=categories)
    if not _pairable(rel.data):
        return []
    report = agreement_report(
        rel, "nominal", samples=boot.samples, confidence=boot.confidence, seed=boot.seed
    )
    return [{**c.to_dict(), **tag} for c in report]


def _alpha(rows: Rows, level: str, boot: _Boot, **tag: Any) -> list[dict[str, Any]]:
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


def _label(q: Mapping[str, Any], rows: Rows, boot: _Boot) -> dict[str, Any]:
    observed = {str(x) for *_, v in rows for x in (v if isinstance(v, list) else [v])}
    labels = list(q.get("labels") or sorted(observed))
    if not q.get("multiple"):
        for item, annotator, value in rows:
            if not isinstance(value, str) or value not in labels:
                raise _bad(item, annotator, f"{value!r} is not one of {', '.join(labels)}")
        return {"statistics": _nominal(rows, labels, boot)}
    for item, annotator, value in rows:
        if not isinstance(value, list) or any(v not in labels for v in value):
            raise _bad(item, annotator, f"expected a list of labels from {', '.join(labels)}")
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


def _rating(q: Mapping[str, Any], rows: Rows, boot: _Boot) -> dict[str, Any]:
    points = q.get("points")
    for item, annotator, value in rows:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(item, annotator, f"rating {value!r} is not a number")
        if points and (value != int(value) or not 1 <= value <= points):
            raise _bad(item, annotator, f"rating {value!r} is not on the scale 1..{points}")
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


def _preference(q: Mapping[str, Any], rows: Rows, boot: _Boot) -> dict[str, Any]:
    levels = int(q.get("strength_levels") or 0)
    choices: Rows = []
    signed: Rows = []
    for item, annotator, value in rows:
        try:
            choice, place = preference_values(value, levels=levels)
        except ValueError as exc:
            raise _bad(item, annotator, str(exc)) from None
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


def _ranking(q: Mapping[str, Any], rows: Rows, boot: _Boot) -> dict[str, Any]:
    size = q.get("responses")
    for item, annotator, value in rows:
        ok = isinstance(value, list) and all(
            isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r)
            for r in value
        )
        if not ok or (size and len(value) != size) or len(value) < 2:
            want = f"{size} ranks" if size else "a list of ranks"
            raise _bad(item, annotator, f"expected {want} (1 = best), got {value!r}")
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


def _span(
    q: Mapping[str, Any], rows: Rows, boot: _Boot, texts: Mapping[str, str] | None
) -> dict[str, Any]:
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
        raise _bad(item, annotator, f"expected a list of spans, got {type(spans).__name__}")
    for k, span in enumerate(spans):
        if not isinstance(span, Mapping) or not {"start", "end", "label"} <= set(span):
            raise _bad(item, annotator, f"span {k}: expected {{start, end, label}}, got {span!r}")
        start, end = span["start"], span["end"]
        if any(isinstance(x, bool) or not isinstance(x, int) for x in (start, end)):
            raise _bad(item, annotator, f"span {k}: start and end must be integers")
        if not 0 <= start < end <= limit:
            raise _bad(item, annotator, f"span {k}: [{start}, {end}) is not inside the text")
        if span["label"] not in labels:
            raise _bad(item, annotator, f"span {k}: label {span['label']!r} is not allowed")


def _response(rows: Rows, boot: _Boot, encode: Encode | None) -> dict[str, Any]:
    grouped: dict[str, list[str]] = {}
    for item, annotator, value in rows:
        text = value.get("text") if isinstance(value, Mapping) else value
        if not isinstance(text, str):
            raise _bad(item, annotator, "expected the response text (a string or {'text': ...})")
        grouped.setdefault(item, []).append(text)
    similarity = response_similarity(list(grouped.values()), encode=encode)
    return {"statistics": [boot.mean("embedding_cosine", similarity, weights="mean pairwise")]}


def _refusal(q: Mapping[str, Any], rows: Rows, boot: _Boot) -> dict[str, Any]:
    categories = list(q.get("categories") or [])
    decisions: Rows = []
    policies: Rows = []
    for item, annotator, value in rows:
        should = value.get("should_refuse") if isinstance(value, Mapping) else None
        if not isinstance(should, bool):
            raise _bad(item, annotator, "expected {'should_refuse': true|false, ...}")
        category = value.get("category") if should else "(comply)"
        if should and categories and category not in categories:
            raise _bad(item, annotator, f"category {category!r} is not a policy category")
        decisions.append((item, annotator, should))
        policies.append((item, annotator, str(category)))
    stats = _nominal(decisions, [False, True], boot, scale="should_refuse")
    stats += _alpha(policies, "nominal", boot, scale="category")
    return {"statistics": stats}


def gate_alpha(question: Mapping[str, Any], ratings: Sequence[Any]) -> tuple[float | None, str]:
    """Krippendorff's alpha for a release gate on ``question`` and its level: the alpha that
    :func:`question_agreement` reports for the question's type (interval on a rating scale;
    nominal on a label, a preference's choice, a refusal's decision; nominal on whole answers
    for other types). ``None`` when no item has two answers."""
    kind = question.get("type")
    rows = _rows(ratings)
    level = "nominal"
    if kind == "rating":
        level = "interval"
        for item, annotator, value in rows:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _bad(item, annotator, f"rating {value!r} is not a number")
    elif kind == "preference":
        levels = int(question.get("strength_levels") or 0)
        try:
            rows = [(i, a, preference_values(v, levels=levels)[0]) for i, a, v in rows]
        except ValueError as exc:
            raise AgreementError(str(exc)) from None
    elif kind == "refusal":
        rows = [(i, a, v["should_refuse"]) for i, a, v in rows if isinstance(v, Mapping)]
    elif not (kind == "label" and not question.get("multiple")):
        rows = [(i, a, canonical_json(v)) for i, a, v in rows]
    if not rows:
        return None, level
    items, annotators, values = zip(*rows, strict=True)
    rel = reliability_matrix(items, annotators, values, level=level)
    if not _pairable(rel.data):
        return None, level
    return krippendorff_alpha(rel.data, level), level


def question_agreement(
    question: Mapping[str, Any],
    ratings: Sequence[Any],
    *,
    texts: Mapping[Any, str] | None = None,
    encode: Encode | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every agreement statistic that fits ``question``'s type, as a JSON-able dict.

    ``ratings`` are ``(item, annotator, value)`` with values shaped as the question's answers
    (``None`` = no answer); ``texts`` maps each item to the text its spans point into (span
    questions); ``encode`` replaces MiniLM for written responses. Each statistic has ``value``,
    ``low``/``high`` (percentile bootstrap over items, ``n_boot`` replicates) and ``units``
    (the pairable units it rests on); nothing pairable gives an empty list. A malformed value
    is an :class:`AgreementError` naming the item and the annotator.
    """
    kind = question.get("type")
    rows = _rows(ratings)
    boot = _Boot(confidence, n_boot, seed)
    head: dict[str, Any] = {
        "question": question.get("name"),
        "type": kind,
        "ratings": len(rows),
        "items": len({item for item, _, _ in rows}),
    }
    if kind == "label":
        body = _label(question, rows, boot)
    elif kind == "rating":
        body = _rating(question, rows, boot)
    elif kind == "preference":
        body = _preference(question, rows, boot)
    elif kind == "ranking":
        body = _ranking(question, rows, boot)
    elif kind == "span":
        by_item = None if texts is None else {str(k): v for k, v in texts.items()}
        body = _span(question, rows, boot, by_item)
    elif kind == "response":
        body = _response(rows, boot, encode)
    elif kind == "refusal":
        body = _refusal(question, rows, boot)
    elif kind == "text":
        body = {"statistics": [], "skipped": "free comments have no agreement statistic"}
    else:
        raise AgreementError(f"question type {kind!r} has no agreement statistic")
    body["statistics"] = [s for s in body["statistics"] if s["units"]]
    if "per_label" in body:
        body["per_label"] = {
            label: [s for s in stats if s["units"]] for label, stats in body["per_label"].items()
        }
    return {**head, **body}
